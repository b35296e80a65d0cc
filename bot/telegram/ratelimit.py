"""PTB's rate limiter, counting the 429s ("Too Many Requests") it retries."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

Request = Callable[..., Coroutine[Any, Any, Any]]


class CountingRateLimiter(AIORateLimiter):
    """AIORateLimiter that calls `on_429` each time Telegram answers a request with RetryAfter."""

    def __init__(self, on_429: Callable[[], None], **options: Any) -> None:
        super().__init__(**options)
        self.on_429 = on_429

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

        async def counted(*call_args: Any, **call_kwargs: Any) -> Any:
            try:
                return await callback(*call_args, **call_kwargs)
            except RetryAfter:
                self.on_429()
                raise

        return await super().process_request(counted, args, kwargs, endpoint, data, rate_limit_args)
