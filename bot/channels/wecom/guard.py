"""Rejects forged and replayed callbacks: stale timestamps and message ids already seen."""

from __future__ import annotations

import time
from collections import OrderedDict

MAX_AGE = 300  # seconds a callback's timestamp may differ from our clock (WeCom retries within seconds)
REMEMBERED = 10_000  # message ids kept for dedupe; WeCom retries a delivery three times within ~15 s


class ReplayGuard:
    """Remembers recent message ids so that a retried or replayed delivery is answered once."""

    def __init__(self, max_age: float = MAX_AGE, remembered: int = REMEMBERED) -> None:
        self.max_age = max_age
        self.remembered = remembered
        self._seen: OrderedDict[str, None] = OrderedDict()

    def fresh(self, timestamp: str, now: float | None = None) -> bool:
        """Whether a callback timestamp is within the allowed clock difference."""
        try:
            sent = int(timestamp)
        except ValueError:
            return False
        return abs((time.time() if now is None else now) - sent) <= self.max_age

    def first(self, message_id: str) -> bool:
        """True the first time a message id is seen, False for every repeat."""
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        if len(self._seen) > self.remembered:
            self._seen.popitem(last=False)
        return True
