"""Conference load benchmark: a crowd scans the event QR code and asks questions within a minute.

    .venv/bin/python bench/burst.py [--users 1000] [--window 60] [--llm-delay 2] [--only extractive|llm]
    .venv/bin/python bench/burst.py --channel wecom [--users 1000] [--window 60]   (bench/burst_wecom.py)

The real bot (`python -m bot telegram`, built by bot/channels/telegram/app.py) runs in its own process against the fake
Bot API (tests/fakes/telegram.py) on 127.0.0.1, over an index of the dev corpus built once. Each simulated user
sends `/start event_<code>` and 1-3 dev questions at times spread over the window, waiting for each answer before
the next. A few users ask in the event's group with /ask. Then the same with an LLM: the fake OpenAI server
answering every request after `--llm-delay` seconds. Printed per run: updates received, answers sent, lost and
duplicated answers, answer latency (from the update's delivery to the call that completes the answer) beside the
latency of a bot that answered instantly, held back only by Telegram's limits, in arrival order and answers first as
the bot sends them (the target is a p95 within 1 s of the latter), outbound message rates against Telegram's limits,
the bot's peak RSS and its CPU per question.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from burst_figures import BotUsage, Measurements, Mode, is_answer  # noqa: E402  (bench/, beside this script)

from tests.fakes.openai import API_KEY, FakeOpenAI  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

SHARED = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared"))
DEV_CORPUS = SHARED / "eval" / "dev" / "corpus"
DEV_QUESTIONS = SHARED / "eval" / "dev" / "questions.yaml"
EVENT = "expo2026"
GROUP_CHAT = -100777
STAFF_CHAT = -100900
POLL_EVERY = 0.2  # how often a simulated user looks for the bot's reply
READY_MARK = "burst-index-ready"  # written once the index is complete, so --index reuses only a whole one
READY_TIMEOUT = 180.0  # loading the embedding model on a busy machine takes a while


# ---- the bot under test -----------------------------------------------------------------------------------------


def build_index(data_dir: Path) -> None:
    """Ingest the dev corpus into `data_dir` with the project's own ingest.py (its log in ingest.log there)."""
    env = _clean_env() | {"DATA_DIR": str(data_dir)}
    with (data_dir / "ingest.log").open("wb") as log:
        subprocess.run(
            [sys.executable, str(ROOT / "ingest.py"), str(DEV_CORPUS), "--json"],
            cwd=data_dir,
            env=env,
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _clean_env() -> dict[str, str]:
    """The environment without any configuration of ours, so only what the benchmark sets applies."""
    prefixes = ("OPENAI_", "TELEGRAM_", "CHROMA_", "DATA_DIR", "KNOWLEDGE_", "ADMIN_", "EMBEDDING_")
    kept = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return kept | {"PYTHONPATH": str(ROOT)}  # this checkout's code, whatever the venv has installed


async def stop(process: asyncio.subprocess.Process) -> None:
    """Ask the bot to stop as Ctrl+C would, and kill it if it has not within 30 s."""
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()


@contextlib.asynccontextmanager
async def bot_process(fake: FakeTelegram, data_dir: Path, llm: FakeOpenAI | None) -> AsyncIterator[int]:
    """`python -m bot telegram` on `data_dir`, polling `fake`; yields its pid once it polls, stops it on exit."""
    env = _clean_env() | {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_BASE_URL": fake.base_url,
        "TELEGRAM_STAFF_CHAT_ID": str(STAFF_CHAT),
        "DATA_DIR": str(data_dir),
        "KNOWLEDGE_SOURCES": str(DEV_CORPUS),
        "HTTP_PORT": str(_free_port()),  # the bot's /healthz server; other bots may hold the default
    }
    if llm is not None:
        env |= {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": llm.base_url}
    log = (data_dir / "bot.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "telegram", cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        polling = asyncio.ensure_future(fake.wait_for(lambda: fake.calls_to("getUpdates"), timeout=READY_TIMEOUT))
        exited = asyncio.ensure_future(process.wait())
        await asyncio.wait([polling, exited], return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            polling.cancel()
            raise RuntimeError(f"the bot exited with {process.returncode}; see {data_dir / 'bot.log'}")
        await polling
        yield process.pid
    finally:
        await stop(process)
        log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def warm_up(fake: FakeTelegram) -> float:
    """Ask one question before the crowd comes, as staff would after a deploy; seconds its answer took.

    The bot loads the index and the embedding model on the first question, so a cold bot answers that one late.
    """
    staff = fake.user(9_999, "Staff")
    started = time.monotonic()
    fake.send(staff, "/ask What is the GOI programme?")
    await fake.wait_for(lambda: any(is_answer(m.reply_markup) for m in fake.sent(staff["id"])), READY_TIMEOUT)
    return time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return kilobytes / 1024


def llm_reply(request: dict[str, Any]) -> str:
    """The fake model: a rewrite returns the last question as is; an answer quotes the first passage, cited."""
    system = request["messages"][0]["content"]
    if "Passages:" not in system:
        return str(request["messages"][-1]["content"]).rsplit(": ", 1)[-1]
    first = system.split("Passages:", 1)[1].split("[1] ", 1)[-1]
    return f"{' '.join(first.split()[:60])} [1]"


# ---- the crowd ----------------------------------------------------------------------------------------------------


@dataclass
class Asked:
    """One question a simulated user sent."""

    chat_id: int
    message: dict[str, Any]
    in_group: bool


@dataclass
class Crowd:
    """Simulated attendees: each starts the bot from the event's QR code and asks 1-3 questions in the window."""

    fake: FakeTelegram
    questions: list[str]
    users: int
    group_users: int
    window: float
    patience: float
    seed: int = 7
    asked: list[Asked] = field(default_factory=list)
    starts: list[dict[str, Any]] = field(default_factory=list)

    async def run(self) -> None:
        """Every user's visit, concurrently; returns when each got its answers or gave up waiting."""
        rng = random.Random(self.seed)
        group = self.fake.group(GROUP_CHAT, "Expo 2026 founders")
        self.fake.group(STAFF_CHAT, "GOI staff")
        began = time.monotonic()
        visits = []
        for index in range(self.users + self.group_users):
            in_group = index >= self.users
            user = self.fake.user(10_000 + index, f"Founder{index}", rng.choice(["en", "en", "zh-hans"]))
            times = sorted(began + rng.uniform(0, self.window) for _ in range(1 + rng.randint(1, 3)))
            picks = [rng.choice(self.questions) for _ in times[1:]]
            visit = self._group_visit(user, group, times[1:], picks) if in_group else self._visit(user, times, picks)
            visits.append(visit)
        await asyncio.gather(*visits)

    async def _visit(self, user: dict[str, Any], times: list[float], picks: list[str]) -> None:
        await _sleep_until(times[0])
        self.starts.append(self.fake.send(user, f"/start event_{EVENT}"))
        if not await self._wait(lambda: len(self.fake.sent(user["id"])) > 0):
            return
        for at, question in zip(times[1:], picks, strict=True):
            await _sleep_until(at)
            since = len(self.fake.sent(user["id"]))
            self.asked.append(Asked(user["id"], self.fake.send(user, question), in_group=False))
            if not await self._wait(functools.partial(self._answered, user["id"], since)):
                return

    async def _group_visit(
        self, user: dict[str, Any], group: dict[str, Any], times: list[float], picks: list[str]
    ) -> None:
        for at, question in zip(times, picks, strict=True):
            await _sleep_until(at)
            message = self.fake.send(user, f"/ask {question}", chat=group)
            self.asked.append(Asked(group["id"], message, in_group=True))
            if not await self._wait(functools.partial(self._answered, group["id"], 0, message["message_id"])):
                return

    def _answered(self, chat_id: int, since: int, quoting: int | None = None) -> bool:
        """Whether an answer (quoting `quoting` in a group) arrived among the chat's messages from `since` on."""
        return any(
            is_answer(m.reply_markup) and (quoting is None or m.reply_to == quoting)
            for m in self.fake.sent(chat_id)[since:]
        )

    async def _wait(self, check: Callable[[], bool]) -> bool:
        """Poll (cheaply, unlike a condition woken by every request) until `check()`; False after `patience`."""
        deadline = time.monotonic() + self.patience
        while not check():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_EVERY)
        return True


async def _sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


# ---- a run ----------------------------------------------------------------------------------------------------


async def run(mode: Mode, index: Path, args: argparse.Namespace, questions: list[str]) -> Measurements:
    """One burst against a fresh copy of the index; the bot's state starts empty."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"burst-{mode}-"))
    shutil.copytree(index, data_dir, dirs_exist_ok=True)
    llm = FakeOpenAI(responder=llm_reply) if mode == "llm" else None
    fake = FakeTelegram()
    await fake.start()
    try:
        if llm is not None:
            llm.start()
            llm.slow(args.llm_delay)
        async with bot_process(fake, data_dir, llm) as pid:
            cold = await warm_up(fake)
            load_before, cpu_before = os.getloadavg()[0], cpu_seconds(pid)
            crowd = Crowd(fake, questions, args.users, args.group_users, args.window, args.patience, args.seed)
            await crowd.run()
            await asyncio.sleep(2.0)  # late duplicates would show up now
            rss, cpu = peak_rss_mb(pid), cpu_seconds(pid) - cpu_before
            load = (load_before, os.getloadavg()[0])
        measured = Measurements.of(mode, crowd, fake, BotUsage(rss, cpu, cold, load))
        if fake.violations:
            print(f"{len(fake.violations)} requests Telegram would refuse, e.g. {fake.violations[0]}")
        return measured
    finally:
        await fake.close()
        if llm is not None:
            llm.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def dev_questions() -> list[str]:
    """The dev questions that stand on their own (follow-ups need their conversation)."""
    items = yaml.safe_load(DEV_QUESTIONS.read_text(encoding="utf-8"))
    return [item["question"] for item in items if not item.get("history")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="simulated users in private chats")
    parser.add_argument("--group-users", type=int, default=10, help="users who ask in the event's group")
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which users arrive and ask")
    parser.add_argument("--llm-delay", type=float, default=2.0, help="seconds the fake LLM takes per request")
    parser.add_argument("--only", choices=["extractive", "llm"], help="one run instead of both")
    parser.add_argument("--patience", type=float, default=600.0, help="seconds a user waits for a reply")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the runs' data folders (bot.log, records)")
    parser.add_argument("--index", type=Path, help="reuse (or build and keep) the dev index in this folder")
    parser.add_argument("--channel", choices=["telegram", "wecom"], default="telegram", help="wecom: burst_wecom.py")
    parser.add_argument("--retry-share", type=float, default=0.1, help="wecom: deliveries WeCom retries at once")
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    """Build the index once, run the burst without and with an LLM, print the tables; 1 if a target was missed."""
    args = parse_args(argv)
    if args.channel == "wecom":
        import burst_wecom  # bench/, beside this script

        return await burst_wecom.main(args)
    modes: list[Mode] = [args.only] if args.only else ["extractive", "llm"]
    index = args.index or Path(tempfile.mkdtemp(prefix="burst-index-"))
    try:
        if not (index / READY_MARK).exists():
            index.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            build_index(index)
            (index / READY_MARK).touch()
            print(f"index of the dev corpus built in {time.monotonic() - started:.0f} s")
        results = [await run(mode, index, args, dev_questions()) for mode in modes]
    finally:
        if args.index is None:
            shutil.rmtree(index, ignore_errors=True)
    for measured in results:
        print(measured.table(), end="\n\n")
    return 0 if all(m.passed() for m in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
