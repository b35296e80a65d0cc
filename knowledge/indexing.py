"""Ingest: staff folders in, a new published index generation out (or nothing changed)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from chromadb.api.models.Collection import Collection
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from knowledge.checks import ChecksReport, Scorer, compare, load_checks
from knowledge.discovery import FileFailure, IngestReport, Skipped, SourceFile, discover
from knowledge.embeddings import model_id
from knowledge.fill import FileProgress, Filled, Progress, fill
from knowledge.golden import EvalQuestion
from knowledge.groups import GROUP_ROWS
from knowledge.loaders import SUPPORTED_SUFFIXES, iter_file, unsupported
from knowledge.manifest import (
    COPY_SOURCES,
    IndexedFile,
    copy_sources,
    files_filled,
    indexed_files,
    load_manifest,
    save_manifest,
)
from knowledge.reading import LoadError
from knowledge.rules import is_rule_file, rule_documents
from knowledge.settings import GROUP_LISTING_BYTES, LEAN_LISTING_BYTES, MAX_SHRINK
from knowledge.split import split_document
from knowledge.store import IndexInfo, KnowledgeStore, new_generation_name, utc_now
from knowledge.suspicious import addressed_to_assistant
from knowledge.tabular import estimate_rows

log = logging.getLogger(__name__)


# Bumped whenever loaders or splitting change what a file becomes (2: chapter headings of PDFs and plain text; 3: long
# records split, embedded texts capped; 4: numbered titles, FAQ questions, articles and running heads of unmarked
# text; 5: PDF lines unwrapped; 6: a title typed above a table is not its header, front matter left open fails).
# An index read the old way is rebuilt: reusing its chunks for unchanged files would mix two ways of reading.
READING = 6
# Tables whose rows get one embedding view each when the file is big (see `LEAN_LISTING_BYTES`).
FILES_STAGE = "files"  # the progress line counting files; the other names the file being read
LISTING_SUFFIXES = frozenset({".csv", ".xlsx", ".json", ".yaml", ".yml"})


def _chunks_of(file: SourceFile) -> Iterator[Document]:
    """The file's chunks as they are read; `LoadError` (possibly after some chunks) when it cannot be."""
    if file.path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise LoadError(file.path, unsupported(file.path))
    load = rule_documents if is_rule_file(file.path, file.root) else iter_file  # programmes/*.yaml: validated rules
    found = False
    for document in load(file.path, file.root):
        for chunk in split_document(document):
            chunk.metadata["file_hash"] = file.digest
            found = True
            yield chunk
    if not found:
        raise LoadError(file.path, "no text found")


def _noop(stage: str, done: int, total: int) -> None:  # noqa: ARG001 - Progress signature
    return None


Refusal = tuple[Literal["strict", "shrink", "checks"], str]


@dataclass(frozen=True)
class Guards:
    """What keeps a built generation from being published: a failed file (strict), a shrink, fewer checks passed;
    `allow_shrink` and `force` lift the last two."""

    strict: bool = False
    allow_shrink: bool = False
    force: bool = False


def _refuse(report: IngestReport, refusal: Refusal) -> None:
    """Record that the changes found were not published: the lists of what changed move to `pending`."""
    report.refused_by, report.refused = refusal
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
        lean_listing_bytes: int = LEAN_LISTING_BYTES,
        group_listing_bytes: int = GROUP_LISTING_BYTES,
        index_suspicious: bool = True,
        scorer: Scorer | None = None,
        more_checks: list[EvalQuestion] | None = None,
        curated_problem: Callable[[Path], str | None] | None = None,
    ) -> None:
        self.store = store
        self.curated_problem = curated_problem  # the bot's check of curated.yaml: a mistake is that file's failure
        self.scorer = scorer
        self.more_checks = more_checks or []  # golden questions kept outside the folders: the bot's saved answers
        self.embeddings = embeddings
        self.progress = progress
        self.max_shrink = max_shrink
        self.lean_listing_bytes = lean_listing_bytes
        self.group_listing_bytes = group_listing_bytes
        self.index_suspicious = index_suspicious

    def run(
        self,
        sources: list[Path],
        *,
        rebuild: bool = False,
        dry_run: bool = False,
        strict: bool = False,
        allow_shrink: bool = False,
        force: bool = False,
    ) -> IngestReport:
        """Bring the published index in line with `sources`; publish only a complete generation, and not one that
        would drop most of what is served (an empty or unmounted folder) unless `allow_shrink`, nor one that answers
        fewer golden questions (checks.yaml, with a scorer) than the served one unless `force`."""
        started = time.perf_counter()
        report = IngestReport(
            dry_run=dry_run, embedding_model=model_id(self.embeddings), sources=[str(s.resolve()) for s in sources]
        )
        with self.store.writer_lock():
            if not dry_run:
                self.store.discard_unfinished()
            guards = Guards(strict=strict, allow_shrink=allow_shrink, force=force)
            self._run(sources, report, rebuild=rebuild, dry_run=dry_run, guards=guards)
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

    def _previous(self, rebuild: bool, report: IngestReport) -> tuple[str | None, dict[str, IndexedFile]]:
        """The published generation to build on, and what it holds of each file (its manifest, else listed); the
        report says why when it cannot be built on, since every file then shows as added."""
        info = self.store.current()
        if info is None or rebuild:
            return None, {}
        if info.embedding_model != model_id(self.embeddings):
            report.rebuilt = f"the embedding model changed from {info.embedding_model}: every file is read again"
        elif info.reading != READING:
            report.rebuilt = (
                f"this version reads files differently ({info.reading}, now {READING}): every file is read again"
            )
        if report.rebuilt:
            log.warning("full rebuild: %s", report.rebuilt)
            return None, {}
        indexed = load_manifest(self.store, info.generation)
        return info.generation, indexed if indexed is not None else indexed_files(self.store.open(info.generation))

    def _run(
        self,
        sources: list[Path],
        report: IngestReport,
        *,
        rebuild: bool,
        dry_run: bool,
        guards: Guards,
    ) -> None:
        files = discover(sources, report, self.curated_problem)
        old, indexed = self._previous(rebuild, report)
        todo = [file for file in files if (found := indexed.get(file.rel)) is None or found.digest != file.digest]
        keep = {file.rel: indexed[file.rel] for file in files if file not in todo}
        report.unchanged = list(keep)
        present = {f.rel for f in files}
        report.removed = sorted(rel for rel in indexed if rel not in present)
        current = self.store.current()
        if report.glossary is None:  # an invalid glossary.yaml: the one served stays
            report.glossary = current.glossary if current else []
        # The bot rereads rule files and curated answers, from the folders the index was built from, when a
        # generation is published: a moved folder or an edited curated file alone publishes one.
        moved = current is not None and (current.sources, current.curated_digest) != (
            report.sources,
            report.curated_digest,
        )
        if not files and current is None and not guards.allow_shrink:  # say why nothing happens, not "0 chunks"
            found = "no documents to ingest in " + ", ".join(report.sources)
            _refuse(report, ("shrink", f"{found} (an empty or unmounted folder?): nothing was published"))
            return
        kept = sum(f.chunks for f in keep.values())
        questions = self._questions(sources)
        if not (todo or report.removed or moved) or (dry_run and not questions):
            report.chunks = kept + sum(
                self._read(file, indexed, report, None, (n, len(todo))).chunks for n, file in enumerate(todo, 1)
            )
            return
        generation = new_generation_name()
        try:
            new = self._begin(old, generation, indexed, keep)
            filled = [self._read(file, indexed, report, new, (n, len(todo))) for n, file in enumerate(todo, 1)]
            report.chunks = kept + sum(f.chunks for f in filled)
            expected = sum(f.entries for f in keep.values()) + sum(f.entries for f in filled)
            if new.count() != expected:
                raise RuntimeError(f"index has {new.count()} entries, expected {expected}")
            info = self._info(generation, report, files=len(present) - len(report.failed))
            if questions and self.scorer is not None:  # a dry run builds the generation only to score it
                report.checks = self._score(self.scorer, current, info, questions)
            refused = None if dry_run else self._refusal(current, report, guards)
            if dry_run or refused or not (report.added or report.updated or report.removed or moved):
                if refused:
                    _refuse(report, refused)
                self.store.discard(generation)
                return
            save_manifest(self.store, generation, keep | files_filled(todo, filled))
        except BaseException:
            self.store.discard(generation)
            raise
        self.store.publish(info)
        report.generation, report.published = generation, True
        report.embedded = sum(f.chunks for f in filled)

    def _begin(
        self, old: str | None, generation: str, indexed: dict[str, IndexedFile], keep: dict[str, IndexedFile]
    ) -> Collection:
        """The new generation, holding the unchanged files' entries already. When most of the published one is kept it
        is copied whole, files and index, and the rest deleted from the copy: nothing is read back or re-indexed."""
        if old is not None and 2 * sum(f.entries for f in keep.values()) >= sum(f.entries for f in indexed.values()):
            new = self.store.clone(old, generation)
            if new is not None:
                stale = sorted(set(indexed) - set(keep))
                for start in range(0, len(stale), COPY_SOURCES):
                    new.delete(where={"source": {"$in": stale[start : start + COPY_SOURCES]}})
                return new
        new = self.store.create(generation)
        if old is not None and keep:
            copy_sources(self.store.open(old), new, list(keep))
        return new

    def _read(
        self,
        file: SourceFile,
        indexed: dict[str, IndexedFile],
        report: IngestReport,
        into: Collection | None,
        position: tuple[int, int],
    ) -> Filled:
        """Stream one changed file into the new generation (into nothing on a dry run); a failure is that file's."""
        self.progress(FILES_STAGE, position[0] - 1, position[1])
        progress = FileProgress(file.rel, estimate_rows(file.path), self.progress)
        size = file.path.stat().st_size if file.path.suffix.lower() in LISTING_SUFFIXES else -1
        group = GROUP_ROWS if size > self.group_listing_bytes else 1
        try:
            chunks = self._screened(_chunks_of(file), file.rel, report)
            filled = fill(into, chunks, self.embeddings, progress, lean=size > self.lean_listing_bytes, group=group)
        except (LoadError, MemoryError) as exc:  # numpy's allocation errors too: never the whole run's
            reason = exc.reason if isinstance(exc, LoadError) else "too large to read in memory"
            report.failed.append(FileFailure(path=file.rel, reason=reason))
            if into is not None:
                into.delete(where={"source": file.rel})  # the rows read before the bad one
            return Filled()
        (report.updated if file.rel in indexed else report.added).append(file.rel)
        return filled

    def _questions(self, sources: list[Path]) -> list[EvalQuestion]:
        """The golden questions to score: none without a scorer; an invalid checks.yaml's left out (reported)."""
        if self.scorer is None:
            return []
        return load_checks(sources) + self.more_checks

    def _score(
        self, scorer: Scorer, current: IndexInfo | None, new: IndexInfo, questions: list[EvalQuestion]
    ) -> ChecksReport:
        """The golden questions on the new generation, beside the served one when it was built by the same model."""
        started = time.perf_counter()
        comparable = current is not None and current.embedding_model == new.embedding_model
        generations = [current, new] if current is not None and comparable else [new]
        results = scorer(self.store, generations, questions)
        checks = compare(results[-1], results[0] if comparable else None)
        checks.seconds = round(time.perf_counter() - started, 3)
        log.info(
            "checks scored passed=%d total=%d served=%s broken=%d seconds=%.2f",
            checks.passed,
            checks.total,
            checks.served,
            len(checks.broken),
            checks.seconds,
        )
        return checks

    def _refusal(self, current: IndexInfo | None, report: IngestReport, guards: Guards) -> Refusal | None:
        """Why the generation just built must not be published, if it must not."""
        if guards.strict and report.failed:
            return "strict", f"--strict: {len(report.failed)} file(s) failed, so nothing was published"
        if not guards.allow_shrink and (shrinks := self._shrinks(current, report)):
            return "shrink", shrinks
        checks = report.checks
        if checks is None or guards.force or not checks.worse:
            return None
        lost = sorted({result.id for result in checks.broken if result.must_pass})
        return "checks", (
            f"the new index answers {checks.passed} of the {checks.total} checks, the served one {checks.served}"
            + (f", and no longer serves the saved answers {', '.join(lost)}" if lost else "")
            + ": nothing was published; see the broken checks, or pass --force if that is intended"
        )

    def _screened(self, chunks: Iterable[Document], rel: str, report: IngestReport) -> Iterator[Document]:
        """The chunks to index, as they are read; those that speak to an AI assistant are listed for staff (and left
        out when INDEX_SUSPICIOUS is off). Answers never quote them either way."""
        kept = 0
        for chunk in chunks:
            if phrase := addressed_to_assistant(chunk.page_content):
                where = f"{rel}#{chunk.metadata['row']}" if chunk.metadata.get("row") else rel
                report.suspicious.append(Skipped(path=where, reason=f'speaks to an AI assistant: "{phrase}"'))
                if not self.index_suspicious:
                    continue
            kept += 1
            yield chunk
        if not kept:
            raise LoadError(Path(rel), "every chunk speaks to an AI assistant")

    def _shrinks(self, current: IndexInfo | None, report: IngestReport) -> str | None:
        """Why publishing the report's chunks would wipe what is served: a sync that failed, a mount that was not
        there, or one file or sub-folder given where the whole knowledge folder was meant."""
        chunks = report.chunks
        if current is None or current.chunks == 0 or chunks >= current.chunks * (1 - self.max_shrink):
            return None
        elsewhere = (
            f" (the index served was built from {', '.join(current.sources)}; each run indexes exactly the paths "
            f"given, here {', '.join(report.sources)})"
            if current.sources and current.sources != report.sources
            else ""
        )
        return (
            f"the new index would hold {chunks} of the {current.chunks} chunks served now "
            f"(more than {self.max_shrink:.0%} fewer): nothing was published; check the folder{elsewhere}, "
            "or pass --allow-shrink if the documents were really removed"
        )

    def _info(self, generation: str, report: IngestReport, files: int) -> IndexInfo:
        """What the pointer will say about the generation once published."""
        return IndexInfo(
            generation=generation,
            embedding_model=report.embedding_model,
            chunks=report.chunks,
            files=files,
            created=utc_now(),
            sources=report.sources,
            curated_digest=report.curated_digest,
            reading=READING,
            glossary=report.glossary or [],
        )
