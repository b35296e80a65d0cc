"""Stream replies: WeCom polls a stream id with refresh callbacks until the answer says finish."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

MAX_STREAM_BYTES = 20_480  # the platform's limit on one stream message's content (UTF-8 bytes)


@dataclass
class Stream:
    """The text of one answer so far and whether it is complete."""

    content: str = ""
    finish: bool = False
    card: dict | None = None  # a template card sent with the finished text
    changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)


def stream_reply(stream_id: str, stream: Stream) -> dict:
    """The passive-reply body for a stream message, with its card once finished."""
    body = {"id": stream_id, "finish": stream.finish, "content": stream.content}
    if stream.finish and stream.card is not None:
        return {"msgtype": "stream_with_template_card", "stream": body, "template_card": stream.card}
    return {"msgtype": "stream", "stream": body}


class Streams:
    """Open streams by id; a finished stream is dropped after its last refresh is served."""

    def __init__(self) -> None:
        self._open: dict[str, Stream] = {}

    def open(self, stream_id: str, content: str = "", finish: bool = False) -> Stream:
        """Start (or restart) a stream; an extractive answer opens already finished."""
        stream = Stream(truncate(content), finish)
        if not finish:
            self._open[stream_id] = stream
        return stream

    def update(self, stream_id: str, content: str, finish: bool = False, card: dict | None = None) -> None:
        """Replace the text a draft has reached; the last update may bring a card."""
        stream = self._open.get(stream_id)
        if stream is not None:
            stream.content, stream.finish, stream.card = truncate(content), finish, card
            stream.changed.set()

    async def wait(self, stream_id: str, seconds: float) -> None:
        """Until an open stream's text changes or it finishes, at most `seconds`: a refresh poll held this long is
        answered the moment the answer is done, and a crowd's streams are polled that much less often."""
        stream = self._open.get(stream_id)
        if stream is None or stream.finish:
            return
        stream.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stream.changed.wait(), seconds)

    def refresh(self, stream_id: str) -> Stream | None:
        """The state to answer a refresh with; None for an unknown stream id."""
        stream = self._open.get(stream_id)
        if stream is not None and stream.finish:
            del self._open[stream_id]
        return stream


def truncate(text: str, limit: int = MAX_STREAM_BYTES) -> str:
    """Cut text to the platform's byte limit without splitting a character."""
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")
