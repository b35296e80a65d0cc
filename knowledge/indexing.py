"""Ingest: staff folders in, a new published index generation out (or nothing changed)."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chromadb.api.models.Collection import Collection
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, Field

from knowledge.embeddings import model_id
from knowledge.loaders import SUPPORTED_SUFFIXES, LoadError, load_file
from knowledge.programme import PROGRAMME_FILE, programme_problem
from knowledge.rules import is_rule_file, rule_documents
from knowledge.settings import CURATED_FILE, MAX_SHRINK
from knowledge.split import content_hash, embedding_views, split_document
from knowledge.store import IndexInfo, KnowledgeStore, flat_metadata, new_generation_name, utc_now
from knowledge.suspicious import addressed_to_assistant
from knowledge.vocabulary import VOCABULARY_FILE, vocabulary_problem

log = logging.getLogger(__name__)


Progress = Callable[[str, int, int], None]
EMBED_BATCH = 256
# Bumped whenever loaders or splitting change what a file becomes (2: chapter headings of PDFs and plain text; 3: long
# records split, embedded texts capped). An index read the old way is rebuilt: reusing its chunks for unchanged files
# would mix two ways of reading.
READING = 3
COPY_BATCH = 1000


class FileFailure(BaseModel):
    """A file that could not be ingested, and why."""

    path: str
    reason: str


class Skipped(BaseModel):
    """A file ingest leaves alone on purpose, and why."""

    path: str
    reason: str


class IngestReport(BaseModel):
    """What an ingest did, file by file."""

    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    failed: list[FileFailure] = Field(default_factory=list)
    ignored: list[Skipped] = Field(
        default_factory=list, description="Hidden files, Office lock files, links read once; curated answers."
    )
    chunks: int = 0
    embedded: int = 0
    generation: str | None = None
    published: bool = False
    suspicious: list[Skipped] = Field(
        default_factory=list, description="Chunks that speak to an AI assistant (never quoted as an answer)."
    )
    refused: str | None = Field(None, description="Why changes found were not published (--strict, a shrink).")
    pending: dict[str, list[str]] = Field(
        default_factory=dict, description="When refused: the files that would have been added, updated, removed."
    )
    dry_run: bool = False
    embedding_model: str = ""
    sources: list[str] = Field(default_factory=list, description="The ingested folders, resolved.")
    curated_digest: str = Field("", description="Digest of the curated answer files, which the bot reads itself.")
    seconds: float = 0.0


@dataclass(frozen=True)
class SourceFile:
    """A file found under one of the sources, keyed by its path relative to that source."""

    path: Path
    root: Path
    rel: str
    digest: str


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


LINK_OUTSIDE = "links outside the knowledge folder are not followed"


def _ignore_reason(rel: Path) -> str | None:
    """Why a file is never staff content: hidden files and folders (.git, .DS_Store), Office lock files (~$x.xlsx)."""
    for part in rel.parts:
        if part.startswith("~$"):
            return "Office lock file"
        if part.startswith("."):
            return "hidden file or folder"
    return None


def _walk(source: Path) -> Iterator[tuple[Path, Path]]:
    """(path, root) of every file and every link under a source, in a stable order; links are not descended."""
    if not source.is_dir():
        yield source, source.parent
        return
    for folder, subfolders, names in os.walk(source):
        subfolders.sort()
        for name in sorted(names + [d for d in subfolders if (Path(folder) / d).is_symlink()]):
            yield Path(folder) / name, source


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def discover(sources: Iterable[Path], report: IngestReport) -> list[SourceFile]:
    """Every file under the sources, with a content digest; odd ones go to the report.

    A link is followed only when its target lies inside the folder being ingested, and a target that is read
    anyway is read once: a link to a synced drive or to the bot's own `.env` must not publish what it points at."""
    found: dict[str, SourceFile] = {}
    curated: list[str] = []
    links: list[tuple[Path, Path, str]] = []
    for source in sources:
        for path, root in _walk(source):
            rel = path.relative_to(root).as_posix()
            if (reason := _ignore_reason(Path(rel))) is not None:
                report.ignored.append(Skipped(path=rel, reason=reason))
            elif path.is_symlink():
                links.append((path, root, rel))
            elif rel == CURATED_FILE:
                curated.append(_digest(path))
                report.ignored.append(Skipped(path=rel, reason="curated answers: the bot reads them itself"))
            elif rel == PROGRAMME_FILE:  # its digest too: an edit must publish a generation the bot notices
                curated.append(_digest(path))
                report.ignored.append(Skipped(path=rel, reason="the programme's identity: the bot reads it itself"))
                if problem := programme_problem(path):
                    report.failed.append(FileFailure(path=rel, reason=problem))
            elif rel == VOCABULARY_FILE:  # read by the bot too: a change must publish a generation it notices
                curated.append(_digest(path))
                report.ignored.append(Skipped(path=rel, reason="the programme's vocabulary: the bot reads it itself"))
                if problem := vocabulary_problem(path):
                    report.failed.append(FileFailure(path=rel, reason=problem))
            elif path.is_file():
                _add(found, SourceFile(path=path, root=root, rel=rel, digest=_digest(path)), report)
    read = {file.path.resolve(): file.rel for file in found.values()}
    for path, root, rel in links:
        target = path.resolve()
        if not _inside(path, root):
            report.failed.append(FileFailure(path=rel, reason=LINK_OUTSIDE))
        elif target in read:
            report.ignored.append(Skipped(path=rel, reason=f"link to {read[target]}, which is read once"))
        elif target.is_dir():
            report.ignored.append(Skipped(path=rel, reason="link to a folder already in the knowledge folder"))
        elif target.is_file():
            read[target] = rel
            _add(found, SourceFile(path=path, root=root, rel=rel, digest=_digest(target)), report)
        else:
            report.failed.append(FileFailure(path=rel, reason="broken link: its target does not exist"))
    report.curated_digest = ",".join(curated)
    return list(found.values())


def _add(found: dict[str, SourceFile], file: SourceFile, report: IngestReport) -> None:
    if file.rel in found:
        report.failed.append(FileFailure(path=file.rel, reason=f"same relative path also in {found[file.rel].root}"))
    else:
        found[file.rel] = file


def _chunks_of(file: SourceFile) -> list[Document]:
    if file.path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise LoadError(file.path, f"unsupported file type '{file.path.suffix or '(none)'}'")
    load = rule_documents if is_rule_file(file.path, file.root) else load_file  # programmes/*.yaml: validated rules
    chunks = [chunk for doc in load(file.path, file.root) for chunk in split_document(doc)]
    if not chunks:
        raise LoadError(file.path, "no text found")
    for chunk in chunks:
        chunk.metadata["file_hash"] = file.digest
    return chunks


def chunk_id(metadata: dict[str, Any]) -> str:
    """Deterministic id: re-ingesting the same file never adds a duplicate."""
    key = f"{metadata['source']}\0{metadata.get('sheet') or ''}\0{metadata.get('row') or 0}"
    return f"{content_hash(key)}-{metadata['chunk']}"


def _indexed_files(collection: Collection) -> dict[str, tuple[str, list[str]]]:
    """source -> (file hash, chunk ids) of what a generation holds."""
    got = collection.get(include=["metadatas"])
    files: dict[str, tuple[str, list[str]]] = {}
    for chunk, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
        files.setdefault(str(meta["source"]), (str(meta["file_hash"]), []))[1].append(chunk)
    return files


def _copy(old: Collection, new: Collection, ids: list[str]) -> None:
    for start in range(0, len(ids), COPY_BATCH):
        got = old.get(ids=ids[start : start + COPY_BATCH], include=["embeddings", "documents", "metadatas"])
        new.add(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"], metadatas=got["metadatas"])


def is_view(entry_id: str) -> bool:
    """True for the extra embedding views of a chunk (see `embedding_views`)."""
    return "~" in entry_id


def _entries(chunks: list[Document]) -> list[tuple[str, str, Document]]:
    """(id, text to embed, chunk) for every view of every chunk; view 0 is the chunk itself."""
    entries = []
    for chunk in chunks:
        base = chunk_id(chunk.metadata)
        for view, text in enumerate(embedding_views(chunk)):
            entries.append((base if view == 0 else f"{base}~{view}", text, chunk))
    return entries


def _embed_into(collection: Collection, chunks: list[Document], embeddings: Embeddings, progress: Progress) -> int:
    entries = _entries(chunks)
    for start in range(0, len(entries), EMBED_BATCH):
        batch = entries[start : start + EMBED_BATCH]
        vectors = embeddings.embed_documents([text for _, text, _ in batch])
        collection.add(
            ids=[entry_id for entry_id, _, _ in batch],
            embeddings=vectors,  # type: ignore[arg-type]
            documents=[chunk.page_content for _, _, chunk in batch],
            metadatas=[
                flat_metadata({**c.metadata, "view": entry_id != chunk_id(c.metadata)}) for entry_id, _, c in batch
            ],  # type: ignore[misc]
        )
        progress("embedding", min(start + EMBED_BATCH, len(entries)), len(entries))
    return len(entries)


def _noop(stage: str, done: int, total: int) -> None:  # noqa: ARG001 - Progress signature
    return None


def _refuse(report: IngestReport, reason: str) -> None:
    """Record that the changes found were not published: the lists of what changed move to `pending`."""
    report.refused = reason
    report.pending = {"added": report.added, "updated": report.updated, "removed": report.removed}
    report.added, report.updated, report.removed = [], [], []


class Ingest:
    """One ingest run against a store with an embedding model."""

    def __init__(
        self,
        store: KnowledgeStore,
        embeddings: Embeddings,
        progress: Progress = _noop,
        max_shrink: float = MAX_SHRINK,
        index_suspicious: bool = True,
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.progress = progress
        self.max_shrink = max_shrink
        self.index_suspicious = index_suspicious

    def run(
        self,
        sources: list[Path],
        *,
        rebuild: bool = False,
        dry_run: bool = False,
        strict: bool = False,
        allow_shrink: bool = False,
    ) -> IngestReport:
        """Bring the published index in line with `sources`; publish only a complete generation, and not one that
        would drop most of what is served (an empty or unmounted folder) unless `allow_shrink`."""
        started = time.perf_counter()
        report = IngestReport(
            dry_run=dry_run, embedding_model=model_id(self.embeddings), sources=[str(s.resolve()) for s in sources]
        )
        with self.store.writer_lock():
            if not dry_run:
                self.store.discard_unfinished()
            self._run(sources, report, rebuild=rebuild, dry_run=dry_run, strict=strict, allow_shrink=allow_shrink)
        report.seconds = round(time.perf_counter() - started, 3)
        log.info(
            "ingest done added=%d updated=%d unchanged=%d removed=%d failed=%d chunks=%d published=%s",
            len(report.added),
            len(report.updated),
            len(report.unchanged),
            len(report.removed),
            len(report.failed),
            report.chunks,
            report.published,
        )
        return report

    def _previous(self, rebuild: bool) -> tuple[Collection | None, dict[str, tuple[str, list[str]]]]:
        info = self.store.current()
        if info is None or rebuild:
            return None, {}
        if info.embedding_model != model_id(self.embeddings):
            log.warning("embedding model changed from %s: full rebuild", info.embedding_model)
            return None, {}
        if info.reading != READING:
            log.warning(
                "files are read differently since this index was built (%d, now %d): full rebuild",
                info.reading,
                READING,
            )
            return None, {}
        collection = self.store.open(info.generation)
        return collection, _indexed_files(collection)

    def _run(
        self,
        sources: list[Path],
        report: IngestReport,
        *,
        rebuild: bool,
        dry_run: bool,
        strict: bool,
        allow_shrink: bool,
    ) -> None:
        files = discover(sources, report)
        old, indexed = self._previous(rebuild)
        fresh: list[Document] = []
        keep_ids: list[str] = []
        for done, file in enumerate(files, 1):
            self.progress("reading", done, len(files))
            previous = indexed.get(file.rel)
            if previous and previous[0] == file.digest:
                report.unchanged.append(file.rel)
                keep_ids.extend(previous[1])
                continue
            try:
                fresh.extend(self._screened(_chunks_of(file), file.rel, report))
            except LoadError as exc:
                report.failed.append(FileFailure(path=file.rel, reason=exc.reason))
                continue
            except MemoryError:  # numpy's allocation errors too: one file's problem, never the whole run's
                report.failed.append(FileFailure(path=file.rel, reason="too large to read in memory"))
                continue
            (report.updated if previous else report.added).append(file.rel)
        present = {f.rel for f in files}
        report.removed = sorted(rel for rel in indexed if rel not in present)
        report.chunks = sum(not is_view(i) for i in keep_ids) + len(fresh)
        current = self.store.current()
        # The bot rereads rule files and curated answers, from the folders the index was built from, when a
        # generation is published: a moved folder or an edited curated file alone publishes one.
        staff_files = (report.sources, report.curated_digest)
        moved = current is not None and (current.sources, current.curated_digest) != staff_files
        changed = report.added or report.updated or report.removed or moved
        if dry_run or not changed:
            return
        if strict and report.failed:
            _refuse(report, f"--strict: {len(report.failed)} file(s) failed, so nothing was published")
        elif not allow_shrink and (shrink := self._shrinks(current, report.chunks)):
            _refuse(report, shrink)
        else:
            self._publish(old, keep_ids, fresh, report, files=len(present) - len(report.failed))

    def _screened(self, chunks: list[Document], rel: str, report: IngestReport) -> list[Document]:
        """The chunks to index; those that speak to an AI assistant are listed for staff (and left out when
        INDEX_SUSPICIOUS is off). Answers never quote them either way."""
        kept = []
        for chunk in chunks:
            if phrase := addressed_to_assistant(chunk.page_content):
                where = f"{rel}#{chunk.metadata['row']}" if chunk.metadata.get("row") else rel
                report.suspicious.append(Skipped(path=where, reason=f'speaks to an AI assistant: "{phrase}"'))
                if not self.index_suspicious:
                    continue
            kept.append(chunk)
        if not kept:
            raise LoadError(Path(rel), "every chunk speaks to an AI assistant")
        return kept

    def _shrinks(self, current: IndexInfo | None, chunks: int) -> str | None:
        """Why publishing `chunks` would wipe what is served: a sync that failed or a mount that was not there."""
        if current is None or current.chunks == 0 or chunks >= current.chunks * (1 - self.max_shrink):
            return None
        return (
            f"the new index would hold {chunks} of the {current.chunks} chunks served now "
            f"(more than {self.max_shrink:.0%} fewer): nothing was published; check the folder, "
            "or pass --allow-shrink if the documents were really removed"
        )

    def _publish(
        self, old: Collection | None, keep_ids: list[str], fresh: list[Document], report: IngestReport, files: int
    ) -> None:
        generation = new_generation_name()
        try:
            new = self.store.create(generation)
            if old is not None and keep_ids:
                _copy(old, new, keep_ids)
            expected = len(keep_ids) + _embed_into(new, fresh, self.embeddings, self.progress)
            if new.count() != expected:
                raise RuntimeError(f"index has {new.count()} entries, expected {expected}")
        except BaseException:
            self.store.discard(generation)
            raise
        info = IndexInfo(
            generation=generation,
            embedding_model=report.embedding_model,
            chunks=report.chunks,
            files=files,
            created=utc_now(),
            sources=report.sources,
            curated_digest=report.curated_digest,
            reading=READING,
        )
        self.store.publish(info)
        report.generation, report.published, report.embedded = generation, True, len(fresh)
