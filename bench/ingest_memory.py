"""Where an ingest's memory goes: one long listing, each stage in a process of its own, with its peak RSS.

    .venv/bin/python bench/ingest_memory.py [--rows 50000]

Stages: Python with the libraries imported; plus the embedding model encoding every row (nothing stored); the
whole ingest with one vector per row; the whole ingest with rows grouped (knowledge.groups). The differences between
stages attribute the memory (tracemalloc is left off: its own bookkeeping would add to the RSS measured).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from itertools import islice
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
STAGES = {
    "imports": "Python + chromadb, langchain, numpy imported",
    "model": "+ embedding model, every row encoded, nothing stored",
    "rows": "whole ingest, one vector a row",
    "grouped": "whole ingest, rows grouped",
}


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def _encode_only(listing: Path) -> None:
    from knowledge.embeddings import LocalEmbeddings
    from knowledge.fill import EMBED_BATCH
    from knowledge.tabular import csv_records

    embeddings, rows = LocalEmbeddings(), iter(csv_records(listing, listing.parent))
    while batch := list(islice(rows, EMBED_BATCH)):
        embeddings.embed_documents([row.page_content for row in batch])


def _ingest(listing: Path, data: Path, grouped: bool) -> int:
    from knowledge.embeddings import LocalEmbeddings
    from knowledge.indexing import Ingest
    from knowledge.settings import Settings
    from knowledge.store import make_store

    store = make_store(Settings(data_dir=data, _env_file=None))  # type: ignore[call-arg]
    limit = 0 if grouped else 2**62
    report = Ingest(store, LocalEmbeddings(), lean_listing_bytes=0, group_listing_bytes=limit).run([listing.parent])
    return store.open(report.generation or "").count()


def stage(name: str, listing: Path, data: Path) -> dict[str, float]:
    """Run one stage in this process and measure it (the parent runs each in a fresh one)."""
    peak = [0.0]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    import chromadb  # noqa: F401 - the libraries every stage holds
    import langchain_core.documents  # noqa: F401

    started = time.perf_counter()
    vectors = 0
    if name == "model":
        _encode_only(listing)
    elif name in ("rows", "grouped"):
        vectors = _ingest(listing, data, grouped=name == "grouped")
    peak[0] = max(peak[0], _rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"peak": peak[0], "vectors": vectors, "seconds": time.perf_counter() - started}


def _cells(name: str, run: dict[str, float], runs: dict[str, dict[str, float]]) -> list[str]:
    """Peak, growth over the stage it builds on, vectors, KB a vector, seconds."""
    ingest = name in ("rows", "grouped")
    grown = run["peak"] - runs["model" if ingest else "imports"]["peak"]
    vectors = int(run["vectors"])
    per = f"{grown * 1024 / vectors:.2f}" if ingest and vectors else ""
    return [f"{run['peak']:.0f}", f"{grown:+.0f}", str(vectors or ""), per, f"{run['seconds']:.0f}"]


def main(argv: list[str] | None = None) -> int:
    """Run every stage in a child process and print the breakdown."""
    parser = argparse.ArgumentParser(prog="bench/ingest_memory.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the generated listing")
    parser.add_argument("--stage", choices=list(STAGES), help=argparse.SUPPRESS)  # a child's one stage
    parser.add_argument("--listing", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        print(json.dumps(stage(args.stage, args.listing, args.data)))
        return 0
    table = Table(title=f"Ingest memory, a {args.rows:,}-row listing (id, name, fee); 2 cores shared, load varies")
    for column in ("stage", "peak RSS MB", "+ over previous", "vectors", "KB a vector", "s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        folder = Path(tmp) / "listing"
        folder.mkdir()
        lines = "".join(f"EQ-{n},Lathe {n},RMB {n % 97 + 3} per hour\n" for n in range(1, args.rows + 1))
        (folder / "equipment.csv").write_text("id,name,fee\n" + lines, encoding="utf-8")
        runs: dict[str, dict[str, float]] = {}
        for name in STAGES:
            command = [sys.executable, __file__, "--stage", name, "--listing", str(folder / "equipment.csv")]
            out = subprocess.run(
                [*command, "--data", str(Path(tmp) / name)], capture_output=True, check=True, text=True
            )
            runs[name] = json.loads(out.stdout.splitlines()[-1])
    for name, run in runs.items():
        table.add_row(f"{name}: {STAGES[name]}", *_cells(name, run, runs))
    table.caption = (
        "+ over previous: over the imports (model), over the model stage (ingests); KB a vector = that / vectors"
    )
    Console(width=140).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
