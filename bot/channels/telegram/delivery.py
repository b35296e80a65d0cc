"""Getting each request to the Bot API: a 502 or a dropped connection is tried again, a timeout is not."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest

log = logging.getLogger(__name__)

CONNECTIONS = 256  # what PTB's ApplicationBuilder gives the bot's own requests
RETRIES = 2  # further attempts after a 502 or a reset connection
BACKOFF = 0.5  # seconds before the first retry, doubled for each further one


class RetryingRequest(HTTPXRequest):
    """PTB's HTTP client, sending a request again when the Bot API's proxy answered 502 or the connection failed.

    A 502 comes from Telegram's front proxy when the Bot API did not handle the request, and a connection that
    fails before any response almost always means the same, so the retry does not post a message twice. A timeout
    is not retried: Telegram may still be working on the request, and a second send could duplicate the message.
    (429s are the rate limiter's: it waits `retry_after`.)
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(connection_pool_size=CONNECTIONS, **options)

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """One HTTP exchange with the Bot API, tried up to 1 + RETRIES times."""
        for attempt in range(RETRIES):
            try:
                status, body = await super().do_request(url, method, *args, **kwargs)
            except TimedOut:
                raise
            except NetworkError as exc:
                failure = str(exc)  # PTB's message names the httpx error, never the URL (it holds the token)
            else:
                if status != HTTPStatus.BAD_GATEWAY:
                    return status, body
                failure = "502 Bad Gateway"
            log.warning("bot api %s failed (%s), retrying", url.rsplit("/", 1)[-1], failure)
            await asyncio.sleep(BACKOFF * 2**attempt)
        return await super().do_request(url, method, *args, **kwargs)
