"""Notices through the persisted outbox and the bot's own pacer, against the fake Bot API over HTTP.

    .venv/bin/python bench/notices.py [--messages 10000] [--restart 5000] [--halts stop,kill] [--pace 30]

Queues `--messages` notices, one per user, in an outbox in SQLite and sends them the way the bot does
(bot/conversation/notify.py `drain`, bot/channels/telegram/notices.py `send`) through the bot's rate limiter
(CountingRateLimiter at `--pace` messages a second overall; the bot's is Telegram's 30) to the fake Bot API
(tests/fakes/telegram.py). Printed: sent/s against the pace (target >= 90%), lost and duplicated (target 0). Then
`--restart` notices with the sender halted halfway and restarted: stopped (a deploy, SIGTERM: it finishes the batch
in hand), then killed (its claimed rows left claimed, requests in flight cut off; the restarted sender takes the
rows over once the lease has passed). Every user must get exactly one; a kill can repeat the requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from telegram.ext import ExtBot

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.channels.telegram.delivery import RetryingRequest  # noqa: E402
from bot.channels.telegram.notices import send  # noqa: E402
from bot.channels.telegram.ratelimit import OVERALL_LIMIT, TELEGRAM_PACING, CountingRateLimiter  # noqa: E402
from bot.conversation.notify import drain  # noqa: E402
from bot.conversation.outbox import Message, Outbox, utc_now  # noqa: E402
from bot.conversation.tables import connect  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

BOT_PACE = OVERALL_LIMIT  # messages a second: bot/channels/telegram/ratelimit.py
TARGET_SHARE = 0.9
PAST = {"stop": "stopped", "kill": "killed"}
FIRST_USER = 10_000_000  # the fake's chats for this run, apart from any others


@dataclass(frozen=True)
class Outcome:
    """What the fake Bot API received."""

    queued: int
    delivered: int  # distinct users who got their notice
    duplicated: int  # notices received more than once
    per_second: float

    @property
    def lost(self) -> int:
        """Users who got nothing."""
        return self.queued - self.delivered


def _bot(fake: FakeTelegram, pace: float) -> ExtBot[None]:
    limiter = CountingRateLimiter(lambda: None, replace(TELEGRAM_PACING, overall=round(pace)))
    return ExtBot(fake.token, base_url=fake.base_url, request=RetryingRequest(), rate_limiter=limiter)


def _queue(fake: FakeTelegram, url: str, count: int) -> None:
    users = [fake.user(FIRST_USER + n, f"U{n}")["id"] for n in range(count)]
    body = "New match: you now qualify for a scheme. It rests on 第一条: a member company."
    messages = [Message(key=f"bench:{user}:new", user_id=user, chat_id=user, body=body) for user in users]
    Outbox(connect(url)).insert(messages)


Restart = Literal["stop", "kill"]  # a stop (deploy, SIGTERM) finishes the batch being sent; a kill cuts it off


async def _sender(
    fake: FakeTelegram, url: str, pace: float, clock: Callable[[], datetime], halt: tuple[int, Restart] | None
) -> None:
    """One bot process draining the outbox; with `halt`, stopped or killed once that many notices have arrived."""
    bot, stop = _bot(fake, pace), asyncio.Event()
    await bot.initialize()
    outbox = Outbox(connect(url), clock=clock)
    task = asyncio.create_task(drain(outbox, lambda message: send(bot, message), stop.is_set))
    if halt is not None:
        after, how = halt
        await fake.wait_for(lambda: len(fake.calls_to("sendMessage")) >= after, timeout=3600)
        stop.set() if how == "stop" else task.cancel()  # killed: claimed rows stay claimed, requests cut off
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await bot.shutdown()


def _outcome(fake: FakeTelegram, queued: int) -> Outcome:
    calls = [c for c in fake.calls_to("sendMessage") if c.params["chat_id"] >= FIRST_USER]
    received = Counter(c.params["chat_id"] for c in calls)
    seconds = calls[-1].at - calls[0].at if len(calls) > 1 else 0.0
    rate = (len(calls) - 1) / seconds if seconds else 0.0
    return Outcome(queued, len(received), sum(n - 1 for n in received.values()), rate)


async def run(count: int, pace: float, restart: Restart | None, folder: Path) -> Outcome:
    """Send `count` notices (stopping or killing the sender halfway, then restarting it); what arrived."""
    fake = FakeTelegram()
    await fake.start()
    try:
        url = f"sqlite:///{folder / f'bot-{count}-{restart}.sqlite3'}"
        _queue(fake, url, count)
        await _sender(fake, url, pace, utc_now, (count // 2, restart) if restart else None)
        if restart:  # the restarted process finds the dead one's claims past their lease
            later = lambda: utc_now() + timedelta(minutes=10)  # noqa: E731
            await _sender(fake, url, pace, later, None)
        return _outcome(fake, count)
    finally:
        await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--restart", type=int, default=5_000, help="notices in the restart run (0: skip it)")
    parser.add_argument("--halts", default="stop,kill", help="how the sender halts mid-way: stop, kill or both")
    parser.add_argument("--pace", type=float, default=BOT_PACE, help=f"overall messages a second (bot: {BOT_PACE})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sent = asyncio.run(run(args.messages, args.pace, None, Path(folder)))
        share = sent.per_second / args.pace
        print(f"{sent.queued} notices: {sent.per_second:.1f} sent/s at a pace limit of {args.pace:g}/s = {share:.0%}"
              f" (target {TARGET_SHARE:.0%}); lost {sent.lost}, duplicated {sent.duplicated} (target 0)")  # fmt: skip
        for how in args.halts.split(",") if args.restart else ():
            again = asyncio.run(run(args.restart, args.pace, how, Path(folder)))
            exact = "yes" if again.lost == 0 and again.duplicated == 0 else "NO"
            print(f"{again.queued} notices, sender {PAST[how]} after {again.queued // 2} and restarted: lost"
                  f" {again.lost}, duplicated {again.duplicated}; every user exactly one: {exact}")  # fmt: skip


if __name__ == "__main__":
    main()
