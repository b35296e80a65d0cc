"""Conference load benchmark, WeCom: a crowd asks the WeCom bot within a minute, through the fake WeCom platform.

    .venv/bin/python bench/burst.py --channel wecom [--users 1000] [--window 60] [--retry-share 0.1]

The real bot (`python -m bot wecom`, callback mode) runs in its own process over an index of the dev corpus built
once; tests/fakes/wecom.py plays WeCom: it signs and encrypts every callback, checks and decrypts every reply, and
polls unfinished streams with refresh callbacks as WeCom does (once a second here). Each simulated user asks 1-3
dev questions at times spread over the window, waiting for each answer before the next; a share of the deliveries
is retried at once with the same msgid, as WeCom retries a callback it got no answer to. Printed: questions asked
and answered, lost (neither a finished stream nor a response_url post) and duplicated (a retried delivery answered
again), latency from the first delivery to the answer, the bot's peak RSS and CPU, and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# bench/ is the script's folder: the Telegram burst's index, process helpers and figures.
import burst  # noqa: E402
import burst_figures  # noqa: E402

from bot.core.texts import text  # noqa: E402
from tests.fakes.wecom import AES_KEY, TOKEN, FakeWeCom  # noqa: E402

T = TypeVar("T")
REFRESH_EVERY = 1.0  # seconds between the crowd's refresh polls of an unfinished stream
LATE_NOTICES = {text(language, "wecom_answer_below") for language in ("en", "zh")}


@contextlib.asynccontextmanager
async def wecom_process(data_dir: Path) -> AsyncIterator[tuple[int, str]]:
    """`python -m bot wecom` (callback mode) on `data_dir`; yields its pid and callback URL once it listens."""
    port = burst._free_port()
    env = {k: v for k, v in burst._clean_env().items() if not k.startswith(("WECOM_", "DATABASE_URL"))} | {
        "WECOM_TOKEN": TOKEN,
        "WECOM_AES_KEY": AES_KEY,
        "WECOM_LISTEN": "127.0.0.1",
        "WECOM_PORT": str(port),
        "DATA_DIR": str(data_dir),
        "KNOWLEDGE_SOURCES": str(burst.DEV_CORPUS),
    }
    log = (data_dir / "bot.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "wecom", cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield process.pid, f"http://127.0.0.1:{port}/wecom"
    finally:
        await burst.stop(process)
        log.close()


async def ready(fake: FakeWeCom, session: aiohttp.ClientSession) -> float:
    """Wait until the bot passes WeCom's URL check, then ask one question (the model loads); its seconds."""
    deadline = time.monotonic() + burst.READY_TIMEOUT
    while True:
        try:
            await fake.verify_url(session)
            break
        except (aiohttp.ClientError, AssertionError):
            if time.monotonic() > deadline:
                raise RuntimeError("the WeCom bot did not start; see bot.log") from None
            await asyncio.sleep(0.5)
    started = time.monotonic()
    first = await fake.send(session, fake.message("staff-warmup", "What is the GOI programme?"))
    await fake.until_finished(session, "staff-warmup", first)
    return time.monotonic() - started


@dataclass
class WeComCrowd:
    """Users arriving over `window` seconds, each asking in their own chat; retried deliveries among them."""

    fake: FakeWeCom
    session: aiohttp.ClientSession
    questions: list[str]
    users: int
    window: float
    retry_share: float
    patience: float
    seed: int = 7
    asked: int = 0
    answered: int = 0
    late: int = 0
    duplicated: int = 0
    retried: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def run(self) -> None:
        """Every user's visit, concurrently."""
        rng = random.Random(self.seed)
        began = time.monotonic()
        visits = []
        for index in range(self.users):
            times = sorted(began + rng.uniform(0, self.window) for _ in range(rng.randint(1, 3)))
            asks = [(at, rng.choice(self.questions), rng.random() < self.retry_share) for at in times]
            visits.append(self._visit(f"founder{index}", asks))
        await asyncio.gather(*visits)

    async def _visit(self, user: str, asks: list[tuple[float, str, bool]]) -> None:
        for at, question, retry in asks:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            self.asked += 1
            try:
                await self._ask(user, question, retry)
            except Exception as error:  # a lost answer, whatever lost it: counted, the first few shown
                self.errors.append(f"{user}: {type(error).__name__}: {error}"[:300])
                return

    async def _ask(self, user: str, question: str, retry: bool) -> None:
        message = self.fake.message(user, question)
        started = time.monotonic()
        deliveries = [self.fake.send(self.session, message)]
        if retry:  # WeCom's retry of the same msgid, arriving while the first is being answered
            self.retried += 1
            deliveries.append(_later(0.05, self.fake.send(self.session, message)))
        replies = [reply for reply in await asyncio.gather(*deliveries) if reply is not None]
        self.duplicated += max(0, len(replies) - 1)
        if not replies:
            raise RuntimeError("no reply to any delivery")
        try:
            finished = await self.fake.until_finished(self.session, user, replies[0], every=REFRESH_EVERY)
            late = finished["stream"]["content"] in LATE_NOTICES
        except AssertionError:  # WeCom stops polling a stream after 6 minutes
            late = True
        if late:
            await self._posted(message["msgid"])
            self.late += 1
        self.latencies.append(time.monotonic() - started)
        self.answered += 1

    async def _posted(self, msgid: str) -> None:
        """Wait for the answer to come by the message's response_url instead."""
        deadline = time.monotonic() + self.patience
        while not any(post["msgid"] == msgid for post in self.fake.response_posts):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no stream answer and no response_url post for {msgid}")
            await asyncio.sleep(REFRESH_EVERY)


async def _later(delay: float, call: Awaitable[T]) -> T:
    await asyncio.sleep(delay)
    return await call


def table(crowd: WeComCrowd, rss: float, cpu: float, cold: float, load: tuple[float, float]) -> str:
    """The run's figures, one per line, with the targets."""
    lost = crowd.asked - crowd.answered
    figures = " / ".join(f"{burst_figures.percentile(crowd.latencies, p):.2f}" for p in (50, 95, 99))
    rows = [
        ("users / questions asked / answered", f"{crowd.users} / {crowd.asked} / {crowd.answered}"),
        ("lost (target 0)", str(lost)),
        (f"duplicated, of {crowd.retried} retried deliveries (target 0)", str(crowd.duplicated)),
        ("answered after WeCom's 6-minute stream window, by response_url", str(crowd.late)),
        ("answer latency p50 / p95 / p99 (first delivery to the answer)", f"{figures} s"),
        ("bot peak RSS", f"{rss:.0f} MB"),
        ("bot CPU during the burst", f"{cpu:.0f} s"),
        ("cold first answer (model load)", f"{cold:.1f} s"),
        ("machine load average before / after", f"{load[0]:.1f} / {load[1]:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["WeCom burst (callback mode, extractive answers)", *(f"  {n.ljust(width)}  {v}" for n, v in rows)]
    lines += [f"  e.g. {error}" for error in crowd.errors[:3]]
    return "\n".join(lines)


async def run(index: Path, args: argparse.Namespace) -> int:
    """One burst against a fresh copy of the index; 1 when an answer was lost or duplicated."""
    data_dir = Path(tempfile.mkdtemp(prefix="burst-wecom-"))
    shutil.copytree(index, data_dir, dirs_exist_ok=True)
    fake = FakeWeCom("")
    await fake.start()
    connector = aiohttp.TCPConnector(limit=0)
    try:
        async with wecom_process(data_dir) as (pid, url), aiohttp.ClientSession(connector=connector) as session:
            fake.bot_url = url
            cold = await ready(fake, session)
            load_before, cpu_before = os.getloadavg()[0], burst.cpu_seconds(pid)
            crowd = WeComCrowd(
                fake,
                session,
                burst.dev_questions(),
                args.users,
                args.window,
                args.retry_share,
                args.patience,
                args.seed,
            )
            await crowd.run()
            rss, cpu = burst.peak_rss_mb(pid), burst.cpu_seconds(pid) - cpu_before
            load = (load_before, os.getloadavg()[0])
    finally:
        await fake.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(table(crowd, rss, cpu, cold, load))
    return 0 if crowd.answered == crowd.asked and crowd.duplicated == 0 else 1


async def main(args: argparse.Namespace) -> int:
    """Build (or reuse) the dev index, run the WeCom burst, print its table."""
    index = args.index or Path(tempfile.mkdtemp(prefix="burst-index-"))
    try:
        if not (index / burst.READY_MARK).exists():
            index.mkdir(parents=True, exist_ok=True)
            burst.build_index(index)
            (index / burst.READY_MARK).touch()
        return await run(index, args)
    finally:
        if args.index is None:
            shutil.rmtree(index, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(burst.parse_args([*sys.argv[1:], "--channel", "wecom"]))))
