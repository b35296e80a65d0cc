"""What scoring the golden questions (checks.yaml) adds to an ingest of the sample knowledge base.

    .venv/bin/python bench/checks.py

Ingests of a copy of the sample: the first (one generation scored); one after editing a document (the new and the
served generation scored), as `python ingest.py` does; the same edit with no scorer, as ingest ran before checks
existed; and the same edit scored from the running bot's searcher, as /reload does (the served generation is
already loaded there).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from bot.staff.checks import check_scorer
from knowledge.discovery import IngestReport
from knowledge.embeddings import LocalEmbeddings
from knowledge.indexing import Ingest
from knowledge.retrieve import HybridSearcher
from knowledge.settings import SAMPLE_KNOWLEDGE, Settings
from knowledge.store import make_store

EDITED = Path("policies") / "faq.txt"


def _ingest(kb: Path, data_dir: Path, embeddings: LocalEmbeddings, scored: str) -> tuple[IngestReport, float]:
    """The report and the CPU seconds of the ingest (every thread's: on a busy machine, steadier than wall time)."""
    settings = Settings(_env_file=None, data_dir=data_dir, knowledge_sources=[kb])  # type: ignore[call-arg]
    serving = None
    if scored == "bot":  # the bot's searcher, already answering from the served generation
        serving = HybridSearcher(make_store(settings), embeddings)
        serving.search("warm up")
    scorer = check_scorer(settings, embeddings, serving) if scored else None
    started = time.process_time()
    report = Ingest(make_store(settings), embeddings, scorer=scorer).run([kb])
    return report, time.process_time() - started


def _edit(kb: Path, n: int) -> None:
    with (kb / EDITED).open("a", encoding="utf-8") as handle:
        handle.write(f"\nQ{90 + n}. Is this an edit for the benchmark?\nYes, edit number {n}.\n")


def main() -> None:
    """Print the seconds of each ingest and of its scoring (wall time only: the scorer runs inside the ingest)."""
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    embeddings = LocalEmbeddings()
    embeddings.embed_query("warm up")  # the model loads once, as in ingest.py; not counted below
    table = Table(title="Golden questions (checks.yaml) on the sample knowledge base")
    for column in ("ingest", "CPU s", "wall s", "checks wall s", "checks", "served", "published"):
        table.add_column(column, justify="right" if column != "ingest" else "left")
    with tempfile.TemporaryDirectory() as tmp:
        kb, data = Path(tmp) / "kb", Path(tmp) / "data"
        shutil.copytree(SAMPLE_KNOWLEDGE, kb)
        runs = [
            ("first, scored", "cli"),
            ("one file edited, scored (ingest.py)", "cli"),
            ("one file edited, no checks", ""),
            ("one file edited, scored (/reload)", "bot"),
        ]
        for n, (name, scored) in enumerate(runs):
            if n:
                _edit(kb, n)
            report, seconds = _ingest(kb, data, embeddings, scored)
            checks = report.checks
            table.add_row(
                name,
                f"{seconds:.2f}",
                f"{report.seconds:.2f}",
                f"{checks.seconds:.2f}" if checks else "-",
                f"{checks.passed}/{checks.total}" if checks else "-",
                str(checks.served) if checks and checks.served is not None else "-",
                str(report.published),
            )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
