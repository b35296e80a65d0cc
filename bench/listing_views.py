"""What one embedding view per listing row (instead of three), or one vector per group of rows, costs on the listing
questions of every eval set.

    .venv/bin/python bench/listing_views.py [EVAL_DIR ...]

Big listings get one view per row (INGEST_LEAN_LISTING_BYTES) so 200,000 rows ingest in minutes, not most of an
hour; very big ones get one vector per group of rows (GROUP_LISTING_BYTES) so that their index fits in the
ingest's memory. This scores the questions whose gold source is a listing row with every listing embedded each way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.core.components import build_assistant
from bot.staff.evaluation import run_eval
from knowledge.embeddings import LocalEmbeddings
from knowledge.golden import EvalQuestion, load_questions
from knowledge.indexing import Ingest
from knowledge.settings import GROUP_LISTING_BYTES, LEAN_LISTING_BYTES, Settings
from knowledge.store import make_store

ROOT = Path(__file__).resolve().parents[1]
EVAL = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared")) / "eval"
LISTINGS = ("resources/",)  # where the eval sets keep their tables


def _listing_questions(path: Path) -> list[EvalQuestion]:
    return [q for q in load_questions(path) if any(s.startswith(LISTINGS) for s in q.sources)]


def _share(hits: list[bool]) -> float:
    return round(sum(hits) / len(hits), 3) if hits else 0.0


# (name, lean listing bytes, grouped listing bytes): every listing read the default way, lean, lean and grouped.
WAYS = (("three", LEAN_LISTING_BYTES, GROUP_LISTING_BYTES), ("one", 0, GROUP_LISTING_BYTES), ("grouped", 0, 0))


def score(eval_dir: Path, way: tuple[str, int, int], work: Path, embeddings: LocalEmbeddings) -> dict[str, float]:
    """Ingest the set's corpus with listings embedded `way`, then ask its listing questions."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=work, knowledge_sources=[eval_dir / "corpus"], embedding_provider="local"
    )
    started = time.perf_counter()
    _, lean, group = way
    ingest = Ingest(make_store(settings), embeddings, lean_listing_bytes=lean, group_listing_bytes=group)
    report = ingest.run(settings.knowledge_sources)
    seconds = time.perf_counter() - started
    vectors = make_store(settings).open(report.generation or "").count()
    questions = _listing_questions(eval_dir / "questions.yaml")
    outcomes = asyncio.run(run_eval(questions, build_assistant(settings).answer))
    return {
        "questions": len(outcomes),
        "recall@1": _share([o.rank == 1 for o in outcomes]),
        "recall@3": _share([o.rank is not None and o.rank <= 3 for o in outcomes]),
        "facts": _share([bool(o.facts) for o in outcomes]),
        "vectors": vectors,
        "ingest s": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Score every set both ways and print one table."""
    parser = argparse.ArgumentParser(prog="bench/listing_views.py", description=__doc__.splitlines()[0])
    parser.add_argument("eval_dirs", nargs="*", type=Path, default=sorted(p for p in EVAL.iterdir() if p.is_dir()))
    args = parser.parse_args(argv)
    embeddings = LocalEmbeddings()
    table = Table(title="Listing questions: three embedding views a row, one, one per group (machine shared)")
    for column in ("set", "views", "questions", "recall@1", "recall@3", "facts", "vectors", "ingest s"):
        table.add_column(column, justify="left" if column in ("set", "views") else "right")
    with tempfile.TemporaryDirectory(prefix="bench-views-") as work:
        for eval_dir in args.eval_dirs:
            for way in WAYS:
                figures = score(eval_dir, way, Path(work) / f"{eval_dir.name}-{way[0]}", embeddings)
                table.add_row(eval_dir.name, way[0], *(str(value) for value in figures.values()))
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
