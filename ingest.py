"""Refresh the knowledge base in one command.

    python ingest.py [PATH ...] [--data-dir DIR] [--rebuild] [--dry-run] [--strict] [--allow-shrink] [--force] [--json]

Exit code 0 when every file ingested, 1 when some failed (or --strict aborted), 2 on bad usage, 3 when the new
index answers fewer of the golden questions in the folder's checks.yaml than the served one and nothing was
published (a dry run: would not be): see the broken checks, or pass --force; 4 when the new index would drop more
than INGEST_MAX_SHRINK of the served chunks (an empty or unmounted folder), or a first ingest finds no document, and
nothing was published: check the folder, or pass --allow-shrink; 130 when interrupted (Ctrl-C): it says whether
anything was published. With --json a run that ends before its summary prints {"error": ..., "exit_code": ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the heavy modules are imported where used, so `--help` answers at once
    from rich.console import Console
    from rich.progress import Progress, TaskID
    from rich.table import Table

    from knowledge.checks import ChecksReport
    from knowledge.discovery import IngestReport
    from knowledge.ingest_runs import Outcome
    from knowledge.settings import Settings
    from knowledge.store import KnowledgeStore

CHECKS_WORSE = 3
SHRINK_REFUSED = 4
INTERRUPTED = 130  # what a shell reports for Ctrl-C


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingest.py",
        description="Refresh the assistant's knowledge base.",
        epilog="Exit codes: 0 every file ingested; 1 some failed; 2 bad usage; "
        "3 not published, fewer checks.yaml questions answered (see --force); "
        "4 not published, the index would shrink too much or no document was found (see --allow-shrink); "
        "130 interrupted (it says whether anything was published).",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="folders or files (default: KNOWLEDGE_SOURCES)")
    parser.add_argument("--data-dir", type=Path, help="where the index lives (default: DATA_DIR)")
    parser.add_argument("--rebuild", action="store_true", help="re-embed everything instead of reusing")
    parser.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    parser.add_argument("--strict", action="store_true", help="change nothing if any file fails")
    parser.add_argument(
        "--allow-shrink",
        action="store_true",
        help="publish even when the new index drops more than INGEST_MAX_SHRINK of the served chunks (else exit 4)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="publish even when the new index answers fewer checks.yaml questions than the served one (else exit 3)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    return parser


@contextmanager
def _progress_bar(console: Console) -> Iterator[Progress | None]:
    if not console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        yield bar


def _progress_to(bar: Progress | None) -> Callable[[str, int, int], None]:
    """Two lines: files done of those to read, and rows done in the current file (with its ETA when known)."""
    from knowledge.indexing import FILES_STAGE

    tasks: dict[str, TaskID] = {}

    def progress(name: str, done: int, total: int) -> None:
        if bar is None:
            return
        line = "files" if name == FILES_STAGE else "file"
        if line not in tasks:
            tasks[line] = bar.add_task(name, total=total or None)
        bar.update(tasks[line], description=name, completed=done, total=total or None)

    return progress


def _summary_table(report: IngestReport) -> Table:
    from rich.table import Table

    table = Table(title="Ingest summary" + (" (dry run: nothing written)" if report.dry_run else ""))
    table.add_column("result")
    table.add_column("files", justify="right")
    table.add_column("details")
    for name in ("added", "updated", "unchanged", "removed"):
        items: list[str] = getattr(report, name)
        table.add_row(name, str(len(items)), ", ".join(items[:5]) + (" ..." if len(items) > 5 else ""))
    table.add_row("ignored", str(len(report.ignored)), "")
    for skipped in report.ignored:
        table.add_row("", "", f"{skipped.path}: {skipped.reason}")
    table.add_row("suspicious", str(len(report.suspicious)), "")
    for flagged in report.suspicious:
        table.add_row("", "", f"[yellow]{flagged.path}[/yellow]: {flagged.reason}")
    table.add_row("failed", str(len(report.failed)), "")
    for failure in report.failed:
        table.add_row("", "", f"[red]{failure.path}[/red]: {failure.reason}")
    if report.checks is not None:
        _checks_rows(table, report.checks)
    state = f"published {report.generation}" if report.published else "index unchanged"
    if report.refused:
        table.add_row("not published", str(sum(map(len, report.pending.values()))), f"[red]{report.refused}[/red]")
    rebuilt = f"; {report.rebuilt}" if report.rebuilt else ""
    table.caption = f"{report.chunks} chunks, {report.embedded} embedded, {state}, {report.seconds:.2f} s{rebuilt}"
    return table


def _checks_rows(table: Table, checks: ChecksReport) -> None:
    """The golden questions' score beside the served one's, and each failing check with why."""
    served = "nothing served to compare" if checks.served is None else f"served index: {checks.served}"
    fixed = f", fixed: {', '.join(checks.fixed)}" if checks.fixed else ""
    table.add_row("checks", f"{checks.passed}/{checks.total}", f"{served}{fixed} ({checks.seconds:.1f} s)")
    broken = {result.id for result in checks.broken}
    for result in checks.failing:
        label = "[red]broke[/red]" if result.id in broken else "fails"
        table.add_row("", "", f'{label} {result.id} "{result.question}": {result.why}')


def _exit_code(report: IngestReport, force: bool) -> int:
    """A refusal by the checks (or one a dry run foresees) says so whatever else failed; see the module's doc."""
    if report.refused_by == "checks" or (report.dry_run and report.checks and report.checks.worse and not force):
        return CHECKS_WORSE
    if report.refused and not report.failed:
        return SHRINK_REFUSED
    return 1 if report.failed else 0


def _outcome(report: IngestReport) -> Outcome:
    """ok: every file ingested; partial: some failed, the rest is served; failed: nothing was published."""
    if report.refused:
        return "failed"
    return "partial" if report.failed else "ok"


def _fail(message: str, code: int, as_json: bool) -> int:
    """A run that ended before its summary: one line on stderr, and with --json still one JSON object on stdout."""
    print(f"ingest.py: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message, "exit_code": code}, ensure_ascii=False))
    return code


def _served(store: KnowledgeStore) -> str:
    info = store.current()
    return info.generation if info else ""


def _left(why: str, store: KnowledgeStore, before: str | None) -> str:
    """What a run that stopped (Ctrl-C, a disk error) left: the served generation is the one before the run unless it
    got as far as publishing (`before` None: it stopped before that was read)."""
    try:
        now = _served(store)
    except (OSError, RuntimeError):
        return f"{why}; the index served could not be read to say whether it changed"
    if before is not None and now != before:
        return f"{why}, after publishing {now}"
    served = f"the bot still serves {now}" if now else "nothing is served yet"
    return f"{why}: nothing was published, {served}; the next ingest removes the unfinished generation"


def _ingest(
    args: argparse.Namespace, settings: Settings, store: KnowledgeStore, sources: list[Path], console: Console
) -> IngestReport:
    from bot.conversation.saved_answers import stored_answers
    from bot.core.curated import curated_problem
    from bot.staff.checks import check_scorer, saved_checks
    from knowledge.embeddings import make_embeddings
    from knowledge.indexing import Ingest

    with _progress_bar(console) as bar:
        embeddings = make_embeddings(settings)
        saved = stored_answers(settings)  # the bot's saved answers are checks too
        ingest = Ingest(
            store,
            embeddings,
            _progress_to(bar),
            max_shrink=settings.ingest_max_shrink,
            index_suspicious=settings.index_suspicious,
            lean_listing_bytes=settings.ingest_lean_listing_bytes,
            group_listing_bytes=settings.ingest_group_listing_bytes,
            scorer=check_scorer(settings, embeddings, saved=saved),
            more_checks=saved_checks(saved) if saved else [],
            curated_problem=curated_problem,
        )
        return ingest.run(
            sources,
            rebuild=args.rebuild,
            dry_run=args.dry_run,
            strict=args.strict,
            allow_shrink=args.allow_shrink,
            force=args.force,
        )


def main(argv: list[str] | None = None) -> int:
    """Run one ingest and print its summary; returns the exit code."""
    args = _parser().parse_args(argv)
    from rich.console import Console
    from sqlalchemy.exc import SQLAlchemyError

    from knowledge.ingest_runs import record_run
    from knowledge.logs import setup_logging
    from knowledge.settings import SettingsError, get_settings
    from knowledge.store import make_store

    try:
        settings = get_settings()
    except SettingsError as exc:
        return _fail(f"invalid settings (environment or .env):\n{exc}", 2, args.json)
    if args.data_dir:
        settings = settings.model_copy(update={"data_dir": args.data_dir})
    sources = args.paths or settings.knowledge_sources
    missing = [str(p) for p in sources if not p.exists()]
    if missing:
        given = "" if args.paths else " (from KNOWLEDGE_SOURCES: set it, or give the folder)"
        return _fail(f"no such file or folder: {', '.join(missing)}{given}", 2, args.json)
    if settings.data_dir.exists() and not settings.data_dir.is_dir():
        return _fail(
            f"the data folder {settings.data_dir} is a file; give a folder (--data-dir or DATA_DIR)", 2, args.json
        )
    setup_logging(settings)
    console = Console(stderr=args.json)
    store, before = make_store(settings), None
    try:
        before = _served(store)
        report = _ingest(args, settings, store, sources, console)
    except (RuntimeError, SQLAlchemyError) as exc:
        record_run(settings.data_dir, "failed")
        return _fail(str(exc), 1, args.json)
    except OSError as exc:  # the data folder or a file went away, filled the disk: not recorded there either
        return _fail(_left(f"{exc.strerror or exc}: {exc.filename}", store, before), 1, args.json)
    except KeyboardInterrupt:
        record_run(settings.data_dir, "failed")
        return _fail(_left("interrupted", store, before), INTERRUPTED, args.json)
    if not args.dry_run:
        record_run(settings.data_dir, _outcome(report))
    if args.json:
        print(json.dumps(report.model_dump(), ensure_ascii=False))
    else:
        console.print(_summary_table(report))
    return _exit_code(report, args.force)


if __name__ == "__main__":
    sys.exit(main())
