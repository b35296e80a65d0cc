"""What ingest finds in the knowledge folders (files, digests, what it leaves alone and why), and its report."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from knowledge.checks import CHECKS_FILE, ChecksReport, checks_problem
from knowledge.glossary import GLOSSARY_FILE, GlossaryError, read_glossary
from knowledge.programme import PROGRAMME_FILE, programme_problem
from knowledge.reading import LoadError
from knowledge.rules import read_scheme, rule_files
from knowledge.settings import CURATED_FILE
from knowledge.vocabulary import VOCABULARY_FILE, vocabulary_problem


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
    refused_by: Literal["strict", "shrink", "checks"] | None = None
    checks: ChecksReport | None = Field(
        None, description="The golden questions of checks.yaml on the new generation, beside the served one."
    )
    pending: dict[str, list[str]] = Field(
        default_factory=dict, description="When refused: the files that would have been added, updated, removed."
    )
    dry_run: bool = False
    rebuilt: str | None = Field(
        None, description="Why every file was read again (another embedding model, files read differently), if so."
    )
    embedding_model: str = ""
    sources: list[str] = Field(default_factory=list, description="The ingested folders, resolved.")
    curated_digest: str = Field("", description="Digest of the curated answer files, which the bot reads itself.")
    glossary: list[list[str]] | None = Field(
        default_factory=list, description="The glossary's groups of equivalent names; None when its file is invalid."
    )
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
    """Why a file is never staff content: hidden files and folders (.git, .DS_Store), Office lock files (~$x.xlsx),
    and notes for staff (README.md, _drafts/): what a folder says about itself is not an answer to a founder."""
    for part in rel.parts:
        if part.startswith("~$"):
            return "Office lock file"
        if part.startswith("."):
            return "hidden file or folder"
        if part.startswith("_"):
            return "notes for staff (a name starting with _): not indexed"
    if rel.stem.lower() == "readme":
        return "notes for staff (README): not indexed"
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


def discover(
    sources: Iterable[Path], report: IngestReport, curated_problem: Callable[[Path], str | None] | None = None
) -> list[SourceFile]:
    """Every file under the sources, with a content digest; odd ones go to the report.

    A link is followed only when its target lies inside the folder being ingested, and a target that is read
    anyway is read once: a link to a synced drive or to the bot's own `.env` must not publish what it points at.
    `curated_problem` validates curated.yaml, whose format the bot defines (knowledge does not import bot)."""
    found: dict[str, SourceFile] = {}
    read: dict[Path, str] = {}  # each file's real path -> the name it is read under
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
                if curated_problem is not None and (problem := curated_problem(path)):
                    report.failed.append(FileFailure(path=rel, reason=problem))
            elif rel == CHECKS_FILE:
                report.ignored.append(Skipped(path=rel, reason="golden questions: scored, not indexed"))
                if problem := checks_problem(path):
                    report.failed.append(FileFailure(path=rel, reason=problem))
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
            elif rel == GLOSSARY_FILE:
                curated.append(_digest(path))
                report.ignored.append(Skipped(path=rel, reason="the glossary: published with the index"))
                _read_glossary(path, rel, report)
            elif path.is_file():
                _add(found, read, SourceFile(path=path, root=root, rel=rel, digest=_digest(path)), report)
    for path, root, rel in links:
        target = path.resolve()
        if not _inside(path, root):
            report.failed.append(FileFailure(path=rel, reason=LINK_OUTSIDE))
        elif target in read:
            report.ignored.append(Skipped(path=rel, reason=f"link to {read[target]}, which is read once"))
        elif target.is_dir():
            report.ignored.append(Skipped(path=rel, reason="link to a folder already in the knowledge folder"))
        elif target.is_file():
            _add(found, read, SourceFile(path=path, root=root, rel=rel, digest=_digest(target)), report)
        else:
            report.failed.append(FileFailure(path=rel, reason="broken link: its target does not exist"))
    report.curated_digest = ",".join(curated)
    _one_scheme_each(sources, found, report)
    return list(found.values())


def _one_scheme_each(sources: Iterable[Path], found: dict[str, SourceFile], report: IngestReport) -> None:
    """Rule files naming the same scheme (one copied as a template, its `scheme:` left as it was): the bot reads the
    first and skips the others, so each other one is this run's failure, naming the first."""
    rels = {file.path: rel for rel, file in found.items()}
    first: dict[str, str] = {}
    for path, root in rule_files(sources):  # the bot's order
        if (rel := rels.get(path)) is None:
            continue
        try:
            scheme = read_scheme(path, root).scheme
        except LoadError:
            continue  # its mistake is reported when it is read
        if scheme in first:
            reason = f"scheme '{scheme}' is already defined by {first[scheme]}: give each rule file its own scheme:"
            report.failed.append(FileFailure(path=rel, reason=reason))
            del found[rel]
        else:
            first[scheme] = rel


def _read_glossary(path: Path, rel: str, report: IngestReport) -> None:
    try:
        report.glossary = read_glossary(path)
    except (GlossaryError, UnicodeDecodeError) as exc:
        report.glossary = None
        report.failed.append(FileFailure(path=rel, reason=f"{exc}; the glossary served now is kept"))


def _add(found: dict[str, SourceFile], read: dict[Path, str], file: SourceFile, report: IngestReport) -> None:
    """One more file to ingest, unless it was already found: read twice, its passages would crowd the answers."""
    target = file.path.resolve()
    if target in read:
        reason = f"already read as {read[target]} (a folder given twice, or inside another folder given)"
        report.ignored.append(Skipped(path=file.rel, reason=reason))
    elif file.rel in found:
        report.failed.append(FileFailure(path=file.rel, reason=f"same relative path also in {found[file.rel].root}"))
    else:
        found[file.rel] = file
        read[target] = file.rel
