"""History bounds benchmark: what a 1 MB history item costs, through `POST /ask` and through the core.

    .venv/bin/python bench/history.py [--corpus DIR] [--megabytes 1]

Ingests the corpus (the shipped sample by default) into a fresh data folder, serves `POST /ask` on a free port of
127.0.0.1 in this process, warms it with one question, then sends the oversized history: once over HTTP (refused
with a 400 and its reason) and once straight to the assistant (each turn cut to its limit, the way the console and
Telegram pass theirs). Prints the peak RSS of this process and the seconds each took, beside the issue's baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.channels.http import make_app
from bot.core.components import build_assistant
from bot.ops.site import ASSISTANT, new_metrics
from knowledge.embeddings import make_embeddings
from knowledge.indexing import Ingest
from knowledge.settings import Settings
from knowledge.store import make_store

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "before the limits (issue 18): 380 MB -> 4.4 GB peak, 11.6 s for a 1 MB history item"
TARGET_MB, TARGET_SECONDS = 600, 5.0
FOLLOW_UP = "and how much is it?"


def peak_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _line(label: str, seconds: float, outcome: str, judged: bool = True) -> None:
    verdict = "ok" if seconds <= TARGET_SECONDS and peak_mb() <= TARGET_MB else "OVER TARGET"
    print(f"{label:<28} {seconds:6.2f} s  peak {peak_mb():6.0f} MB  {outcome}  {verdict if judged else ''}", flush=True)


async def run(settings: Settings, history_item: str) -> None:
    runner = web.AppRunner(make_app(settings, new_metrics(settings, "http"), build_assistant))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:
            started = time.perf_counter()
            async with client.post("/ask", json={"question": "What is the voucher cap?"}) as warm:
                await warm.read()
            _line("warm-up (models load)", time.perf_counter() - started, f"HTTP {warm.status}", judged=False)
            started = time.perf_counter()
            body = {"question": FOLLOW_UP, "history": [history_item]}
            async with client.post("/ask", data=json.dumps(body)) as refused:
                reason = (await refused.json()).get("error", "")
            _line("HTTP /ask, 1 item", time.perf_counter() - started, f"HTTP {refused.status}: {reason[:60]}")
        assistant = runner.app[ASSISTANT]
        started = time.perf_counter()
        answer = await assistant.answer(FOLLOW_UP, [history_item] * 20)
        _line("core, 20 such items", time.perf_counter() - started, f"answered={answer.answered}")
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "knowledge" / "sample")
    parser.add_argument("--megabytes", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(_env_file=None, data_dir=Path(data_dir), knowledge_sources=[args.corpus])  # type: ignore[call-arg]
        Ingest(make_store(settings), make_embeddings(settings)).run([args.corpus])
        print(f"after ingest of {args.corpus.name}: peak {peak_mb():.0f} MB")
        item = ("voucher rules " * int(args.megabytes * 1_000_000 / 14))[: int(args.megabytes * 1_000_000)]
        asyncio.run(run(settings, item))
    print(f"target: <= {TARGET_MB} MB, <= {TARGET_SECONDS:.0f} s; {BASELINE}")


if __name__ == "__main__":
    main()
