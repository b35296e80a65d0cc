"""PTB's rate limiter, paced evenly at Telegram's limits and counting the 429s ("Too Many Requests") it retries."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

Request = Callable[..., Coroutine[Any, Any, Any]]

# AIORateLimiter's default buckets hold a whole second's (or a group's minute's) allowance and refill meanwhile, so
# a burst gets about 60 messages out in one second and 40 into a group in one minute. A bucket of one paces the same
# rates evenly: at most 30 in any second, 20 in any minute of a group (bench/burst.py measured both).
PACED = {"overall_max_rate": 1, "overall_time_period": 1 / 30, "group_max_rate": 1, "group_time_period": 3}
# "typing…" is cosmetic: queued behind answers it would show after them and delay them (bench/burst.py saw answers
# wait behind a typing action per waiting chat every 4.5 s), so it is dropped while the pace is saturated.
COSMETIC = frozenset({"sendChatAction"})


class CountingRateLimiter(AIORateLimiter):
    """AIORateLimiter, paced (PACED), that calls `on_429` each time Telegram answers a request with RetryAfter."""

    def __init__(self, on_429: Callable[[], None], **options: Any) -> None:
        super().__init__(**(PACED | options))
        self.on_429 = on_429

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
        """Send through PTB's limiter, each attempt wrapped so that a 429 is counted before PTB retries it."""
        if endpoint in COSMETIC and not self.idle():
            return True

        async def counted(*call_args: Any, **call_kwargs: Any) -> Any:
            try:
                return await callback(*call_args, **call_kwargs)
            except RetryAfter:
                self.on_429()
                raise

        return await super().process_request(counted, args, kwargs, endpoint, data, rate_limit_args)
