"""PTB's rate limiter paced at Telegram's limits, answers first, counting the 429s ("Too Many Requests") it retries."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

Request = Callable[..., Coroutine[Any, Any, Any]]

# Telegram allows about 30 messages a second overall. It counts what it receives, and a request reaches it between
# the moment it is sent and the moment its response is read: a busy event loop can send late and bunch them (at an
# even 30 a second bench/burst.py once saw 33 arrive in one second; the bot then paced at 27 to leave room).
OVERALL_LIMIT = 30
OVERALL_PERIOD = 1.0
# PTB's own overall and group limiters are off: Pace replaces the first, ChatPacer the second (PTB's spaced group
# requests before they queued for the overall pace, so in a crowd they left that queue together).
UNPACED = {"overall_max_rate": 0, "group_max_rate": 0}
# "typing…" is cosmetic: queued behind answers it would show after them and delay them (bench/burst.py saw answers
# wait behind a typing action per waiting chat every 4.5 s), so it is dropped while the pace is saturated.
COSMETIC = frozenset({"sendChatAction"})
# Telegram asks for at most one message a second in a chat; a greeting and its answer, or an answer's two parts,
# would otherwise leave together. Counted from when the previous request finished, so jitter cannot bunch them.
CHAT_PERIOD = 1.0
GROUP_PERIOD = 3.3  # 18 a minute, under Telegram's 20 in a group
KEEP_CHATS = 10_000  # per-chat pacers kept before idle ones are dropped


class Priority(enum.IntEnum):
    """While the pace is saturated, requests of a higher priority leave first."""

    OTHER = 0  # greetings, cards, notices
    ANSWER = 1  # what a user asked and is waiting for


# The priority of the requests a task makes (its handler says it is answering): PTB's shortcuts pass no argument
# through to the rate limiter that a handler could set.
_PRIORITY: ContextVar[Priority] = ContextVar("telegram_priority", default=Priority.OTHER)


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Requests made in this block go before greetings, cards and notices waiting for the overall pace."""
    token = _PRIORITY.set(Priority.ANSWER)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


@dataclass(frozen=True)
class Pacing:
    """Telegram's limits: seconds between requests in one chat (tests not about them pass NO_PACING), and messages
    per period overall (tests of the order in a crowd pass a slower one, to fill it with a few messages)."""

    chat: float = CHAT_PERIOD
    group: float = GROUP_PERIOD
    overall: int = OVERALL_LIMIT
    period: float = OVERALL_PERIOD


TELEGRAM_PACING = Pacing()
NO_PACING = Pacing(chat=0.0, group=0.0)


class Pace:
    """At most `limit` requests in any `period` as the server sees them, started evenly, highest priority first.

    A slot is taken when a request starts and given back `period` after its response came: the server received the
    request in between, so however late a busy event loop sends or reads, no window of `period` holds more."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._taken = 0  # requests under way, or answered less than `period` ago
        self._next = 0.0  # when the next request may start: evenly, `period / limit` apart
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # (-priority, arrival, its go-ahead)
        self._arrival = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    def saturated(self) -> bool:
        """True when a request would have to wait for its turn."""
        return bool(self._waiting) or self._taken >= self.limit or time.monotonic() < self._next

    @contextlib.asynccontextmanager
    async def turn(self, priority: int = 0) -> AsyncIterator[None]:
        """Wait for a slot (before every waiting request of lower priority), hold it while the block runs."""
        loop = asyncio.get_running_loop()
        go: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiting, (-priority, next(self._arrival), go))
        self._start_next()
        try:
            await go
        except asyncio.CancelledError:
            if go.done() and not go.cancelled():  # given a slot it will not use
                self._give_back()
            raise
        try:
            yield
        finally:
            loop.call_later(self.period, self._give_back)

    def _give_back(self) -> None:
        self._taken -= 1
        self._start_next()

    def _start_next(self) -> None:
        """Let waiting requests go, best first, while a slot is free and the even spacing allows."""
        while self._waiting and self._taken < self.limit:
            now = time.monotonic()
            if now < self._next:
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(self._next - now, self._on_timer)
                return
            go = heapq.heappop(self._waiting)[2]
            if go.cancelled():
                continue
            go.set_result(None)
            self._taken += 1
            self._next = now + self.period / self.limit

    def _on_timer(self) -> None:
        self._timer = None
        self._start_next()


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
    """Telegram's limits (a Pace overall, answers first; a ChatPacer per chat), PTB's retries after a 429, each
    counted (`on_429`)."""

    def __init__(self, on_429: Callable[[], None], pacing: Pacing = TELEGRAM_PACING, **options: Any) -> None:
        super().__init__(**(UNPACED | options))
        self.on_429 = on_429
        self.pacing = pacing
        self.pace = Pace(pacing.overall, pacing.period)
        self._chats: dict[int | str, ChatPacer] = {}

    def idle(self) -> bool:
        """True when a request would go out now, without waiting for the overall pace."""
        return not self.pace.saturated()

    async def process_request(
        self,
        callback: Request,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        """Typing only when idle, one request at a time per chat and spaced, each retry paced overall too."""
        chat_id, priority = data.get("chat_id"), _PRIORITY.get()

        async def paced(*call_args: Any, **call_kwargs: Any) -> Any:
            try:
                if chat_id is None:  # getUpdates, answerCallbackQuery...: not messages Telegram counts
                    return await callback(*call_args, **call_kwargs)
                async with self.pace.turn(priority):
                    return await callback(*call_args, **call_kwargs)
            except RetryAfter:  # counted before PTB's limiter waits and retries it
                self.on_429()
                raise

        def send() -> Coroutine[Any, Any, Any]:
            return super(CountingRateLimiter, self).process_request(
                paced, args, kwargs, endpoint, data, rate_limit_args
            )

        if endpoint in COSMETIC:
            return await send() if self.idle() else True
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
