"""PTB's rate limiter, paced evenly at Telegram's limits and counting the 429s ("Too Many Requests") it retries."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

Request = Callable[..., Coroutine[Any, Any, Any]]

# AIORateLimiter's default bucket holds a whole second's allowance and refills meanwhile, so a burst gets about 60
# messages out in one second. A bucket of one paces evenly, a little under Telegram's 30 a second: requests leave
# evenly but arrive with jitter on a busy machine (bench/burst.py saw 33 in one second at exactly 30).
# Its group limiter is off: it spaces requests before they queue for the overall pace, so in a crowd they leave that
# queue together (bench/burst.py saw four messages in 1.6 s in one group). Groups get a ChatPacer instead.
PACED = {"overall_max_rate": 1, "overall_time_period": 1 / 27, "group_max_rate": 0}
# "typing…" is cosmetic: queued behind answers it would show after them and delay them (bench/burst.py saw answers
# wait behind a typing action per waiting chat every 4.5 s), so it is dropped while the pace is saturated.
COSMETIC = frozenset({"sendChatAction"})
# Telegram asks for at most one message a second in a chat; a greeting and its answer, or an answer's two parts,
# would otherwise leave together. Counted from when the previous request finished, so jitter cannot bunch them.
CHAT_PERIOD = 1.0
GROUP_PERIOD = 3.3  # 18 a minute, under Telegram's 20 in a group
KEEP_CHATS = 10_000  # per-chat pacers kept before idle ones are dropped


@dataclass(frozen=True)
class Pacing:
    """Seconds between requests in one chat: Telegram's limits; only tests not about them pass NO_PACING."""

    chat: float = CHAT_PERIOD
    group: float = GROUP_PERIOD


TELEGRAM_PACING = Pacing()
NO_PACING = Pacing(chat=0.0, group=0.0)


class ChatPacer:
    """One request at a time in a chat, each starting `period` after the previous one finished."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.lock = asyncio.Lock()
        self.finished = 0.0

    @property
    def idle(self) -> bool:
        """True when nothing is queued and the pause after the last request is over."""
        return not self.lock.locked() and time.monotonic() - self.finished >= self.period

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this chat's turn; the pause starts when the request is done."""
        async with self.lock:
            await asyncio.sleep(max(0.0, self.finished + self.period - time.monotonic()))
            try:
                yield
            finally:
                self.finished = time.monotonic()


class CountingRateLimiter(AIORateLimiter):
    """AIORateLimiter, paced (PACED), that calls `on_429` each time Telegram answers a request with RetryAfter."""

    def __init__(self, on_429: Callable[[], None], pacing: Pacing = TELEGRAM_PACING, **options: Any) -> None:
        super().__init__(**(PACED | options))
        self.on_429 = on_429
        self.pacing = pacing
        self._chats: dict[int | str, ChatPacer] = {}

    def idle(self) -> bool:
        """True when a request would go out now, without waiting for the overall pace."""
        return self._base_limiter is None or self._base_limiter.has_capacity()

    async def process_request(
        self,
        callback: Request,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        """Typing only when idle, one request at a time per chat and spaced, then PTB's pace for everything."""
        paced = super().process_request

        async def counted(*call_args: Any, **call_kwargs: Any) -> Any:
            try:
                return await callback(*call_args, **call_kwargs)
            except RetryAfter:  # counted before PTB's limiter waits and retries it
                self.on_429()
                raise

        def send() -> Coroutine[Any, Any, Any]:
            return paced(counted, args, kwargs, endpoint, data, rate_limit_args)

        if endpoint in COSMETIC:
            return await send() if self.idle() else True
        chat_id = data.get("chat_id")
        if chat_id is None:
            return await send()
        async with self._chat(chat_id).turn():
            return await send()

    def _chat(self, chat_id: int | str) -> ChatPacer:
        if len(self._chats) >= KEEP_CHATS:
            self._chats = {chat: pacer for chat, pacer in self._chats.items() if not pacer.idle}
        # Negative ids and @usernames are groups and channels.
        group = isinstance(chat_id, str) or chat_id < 0
        return self._chats.setdefault(chat_id, ChatPacer(self.pacing.group if group else self.pacing.chat))
