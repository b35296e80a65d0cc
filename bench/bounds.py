"""What small hostile inputs cost: each case runs in a fresh process and reports its peak RSS and wall time.

    .venv/bin/python bench/bounds.py [--json]

Cases (issue "Bounded by design"): a 336-byte YAML alias bomb as a document and in a Markdown front matter, a
967 KB JSON file of one record, and a question whose history item is 1 MB. Target: each <= 600 MB and <= 5 s,
reported with a reason, leaving the index or the server answering.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from langchain_core.embeddings import Embeddings
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_MB = 600
TARGET_SECONDS = 5.0
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 9)}]\n" for n in range(8)
)
POLICY = "# Rent subsidy\n\nA doctor receives RMB 2,500 a month for at most 24 months.\n"


def _ingest_one(embeddings: Embeddings, name: str, body: str) -> str:
    """Ingest a folder of one ordinary policy and one hostile file; what happened to the hostile file."""
    from knowledge.indexing import Ingest
    from knowledge.settings import Settings
    from knowledge.store import make_store

    with tempfile.TemporaryDirectory() as tmp:
        kb = Path(tmp) / "kb"
        kb.mkdir()
        (kb / "rent.md").write_text(POLICY, encoding="utf-8")
        (kb / name).write_text(body, encoding="utf-8")
        store = make_store(Settings(data_dir=Path(tmp) / "data", _env_file=None))  # type: ignore[call-arg]
        report = Ingest(store, embeddings).run([kb])
        failed = {f.path: f.reason for f in report.failed}
        outcome = f"refused: {failed[name][:70]}" if name in failed else f"ingested as {report.chunks - 1} chunks"
        return f"{outcome}; rent.md published: {report.published and 'rent.md' in report.added}"


def _long_history(embeddings: Embeddings) -> str:
    from bot.core.assistant import Assistant
    from knowledge.indexing import Ingest
    from knowledge.retrieve import HybridSearcher
    from knowledge.settings import Settings
    from knowledge.store import make_store

    with tempfile.TemporaryDirectory() as tmp:
        kb = Path(tmp) / "kb"
        kb.mkdir()
        (kb / "rent.md").write_text(POLICY, encoding="utf-8")
        store = make_store(Settings(data_dir=Path(tmp) / "data", _env_file=None))  # type: ignore[call-arg]
        Ingest(store, embeddings).run([kb])
        assistant = Assistant(HybridSearcher(store, embeddings))
        answer = asyncio.run(assistant.answer("and how much is it?", ["rent subsidy for doctors " * 40_000]))
        return f"answered={answer.answered}, from {answer.sources[0].path if answer.sources else 'nothing'}"


FRONT_MATTER_BOMB = f"---\ntopics:\n{textwrap.indent(BOMB, '  ')}---\n# x\n"
HUGE_RECORD = json.dumps([{"title": "Fees", "body": "RMB 40"}, {"title": "Annual report", "body": "word " * 198_000}])
CASES: dict[str, Callable[[Embeddings], str]] = {
    "YAML alias bomb (336 B)": lambda e: _ingest_one(e, "bomb.yaml", BOMB),
    "alias bomb in front matter": lambda e: _ingest_one(e, "bomb.md", FRONT_MATTER_BOMB),
    "one 967 KB JSON record": lambda e: _ingest_one(e, "report.json", HUGE_RECORD),
    "1 MB history item": _long_history,
}


def _run(case: str) -> tuple[str, float, float]:
    from knowledge.embeddings import LocalEmbeddings

    embeddings = LocalEmbeddings()
    embeddings.embed_query("warm up")  # the model loads before the clock starts
    started = time.perf_counter()
    outcome = CASES[case](embeddings)
    return outcome, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    """Run every case in a process of its own and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    for case in CASES:
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            outcome, seconds, peak = pool.submit(_run, case).result()
        met = peak <= TARGET_MB and seconds <= TARGET_SECONDS
        results[case] = {"outcome": outcome, "seconds": round(seconds, 2), "peak_mb": round(peak), "met": met}
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    table = Table(title=f"Hostile inputs (target <= {TARGET_MB} MB and <= {TARGET_SECONDS:g} s each, model loaded)")
    for column in ("case", "outcome", "seconds", "peak RSS (MB)", "target"):
        table.add_column(column)
    for case, r in results.items():
        table.add_row(case, r["outcome"], str(r["seconds"]), str(r["peak_mb"]), "met" if r["met"] else "MISSED")
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
