"""Long-connection mode: a WebSocket to WeCom with bot id + secret; no public URL and no message crypto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from bot.channels.wecom.callback import Handler
from bot.channels.wecom.guard import ReplayGuard
from bot.channels.wecom.streams import Streams, stream_reply

log = logging.getLogger(__name__)

HEARTBEAT = 30.0  # WeCom drops a connection that sends no ping for longer than this
STREAM_POLL = 0.5  # how often an unfinished stream's text is pushed to WeCom
UPDATE = "update_template_card"  # a click's reply that replaces the card goes by its own command
ACK_WAIT = 10.0  # seconds an active push waits for WeCom's acknowledgement before counting as failed


class SubscribeRefused(RuntimeError):
    """WeCom refused the bot id and secret: retrying would not help."""


@dataclass
class Backoff:
    """Exponential reconnect delays: 1 s, 2 s, 4 s … capped, reset after a good subscribe."""

    first: float = 1.0
    cap: float = 30.0
    current: float = field(default=0.0)

    def next(self) -> float:
        """The delay before the next reconnect attempt."""
        self.current = self.first if not self.current else min(self.current * 2, self.cap)
        return self.current

    def reset(self) -> None:
        """Forget earlier failures."""
        self.current = 0.0


def _frame(cmd: str, body: dict[str, Any] | None = None, req_id: str | None = None) -> str:
    frame: dict[str, Any] = {"cmd": cmd, "headers": {"req_id": req_id or uuid.uuid4().hex}}
    if body is not None:
        frame["body"] = body
    return json.dumps(frame, ensure_ascii=False)


@dataclass
class LongConnection:
    """One bot's WebSocket session to WeCom, reconnected with backoff until stopped."""

    url: str
    bot_id: str
    secret: str
    handler: Handler
    heartbeat: float = HEARTBEAT
    backoff: Backoff = field(default_factory=Backoff)
    guard: ReplayGuard = field(default_factory=ReplayGuard)
    streams: Streams = field(default_factory=Streams)
    _answering: set[asyncio.Task] = field(default_factory=set)
    _socket: Any = None  # the subscribed connection, while there is one
    _acks: dict[str, asyncio.Future] = field(default_factory=dict)  # active pushes awaiting WeCom's answer, by req_id

    async def push(self, chatid: str, chat_type: int, body: dict) -> bool:
        """Active push (aibot_send_msg) of markdown to a chat whose user wrote to the bot before; True once WeCom
        acknowledged it, False when there is no connection now or WeCom refused."""
        from websockets.exceptions import ConnectionClosed

        socket, req_id = self._socket, uuid.uuid4().hex
        if socket is None:
            return False
        acked = self._acks[req_id] = asyncio.get_running_loop().create_future()
        try:
            await socket.send(_frame("aibot_send_msg", {"chatid": chatid, "chat_type": chat_type, **body}, req_id))
            ack = await asyncio.wait_for(acked, ACK_WAIT)
        except (TimeoutError, ConnectionClosed) as error:
            log.warning("wecom push to %s failed: %r", chatid, error)
            return False
        finally:
            self._acks.pop(req_id, None)
        if ack.get("errcode") != 0:
            log.warning("wecom push to %s refused: %s", chatid, ack)
        return ack.get("errcode") == 0

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe and serve; on a dropped connection wait the backoff and reconnect."""
        while not stop.is_set():
            try:
                await self._session(stop)
            except SubscribeRefused:
                raise
            except (OSError, ConnectionError, TimeoutError) as error:
                log.warning("wecom long connection lost: %s", error)
            except Exception as error:  # websockets' ConnectionClosed and friends
                log.warning("wecom long connection closed: %s", error)
            if not stop.is_set():
                delay = self.backoff.next()
                log.info("wecom long connection: reconnecting in %.1f s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        async with connect(self.url) as socket:
            await socket.send(_frame("aibot_subscribe", {"bot_id": self.bot_id, "secret": self.secret}))
            ack = json.loads(await asyncio.wait_for(socket.recv(), self.heartbeat))
            if ack.get("errcode", 0) != 0:
                raise SubscribeRefused(f"WeCom refused the subscription: {ack.get('errmsg')}")
            log.info("wecom long connection subscribed as %s", self.bot_id)
            self.backoff.reset()
            pinger = asyncio.create_task(self._ping(socket))
            stopper = asyncio.create_task(stop.wait())
            self._socket = socket
            try:
                await self._serve(socket, stopper)
            finally:
                self._socket = None
                for waiting in self._acks.values():  # no answer comes on a closed connection
                    if not waiting.done():
                        waiting.set_result({"errcode": -1, "errmsg": "connection closed"})
                pinger.cancel()
                stopper.cancel()

    async def _ping(self, socket: Any) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await socket.send(_frame("ping"))

    async def _serve(self, socket: Any, stopper: asyncio.Task) -> None:
        while not stopper.done():
            receive = asyncio.create_task(socket.recv())
            await asyncio.wait({receive, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper.done():
                receive.cancel()
                return
            frame = json.loads(receive.result())
            acked = self._acks.get(str(frame.get("headers", {}).get("req_id")))
            if "cmd" not in frame and acked is not None and not acked.done():
                acked.set_result(frame)
            elif frame.get("cmd") in ("aibot_msg_callback", "aibot_event_callback"):
                task = asyncio.create_task(self._answer(socket, frame))
                self._answering.add(task)  # a reference, so the task is not collected mid-answer
                task.add_done_callback(self._answering.discard)

    async def _answer(self, socket: Any, frame: dict[str, Any]) -> None:
        """Answer one callback frame on the same req_id; an unfinished stream is pushed until it finishes."""
        message, req_id = frame.get("body", {}), frame.get("headers", {}).get("req_id")
        if not self.guard.first(str(message.get("msgid", ""))):
            log.info("wecom long connection: repeated msgid %r dropped", message.get("msgid"))
            return
        reply = await self.handler(message, self.streams)
        while reply is not None:
            cmd = "aibot_respond_update_msg" if reply.get("response_type") == UPDATE else "aibot_respond_msg"
            await socket.send(_frame(cmd, reply, req_id))
            if reply.get("msgtype") != "stream" or reply["stream"]["finish"]:
                return
            await asyncio.sleep(STREAM_POLL)
            stream_id = reply["stream"]["id"]
            stream = self.streams.refresh(stream_id)
            reply = None if stream is None else stream_reply(stream_id, stream)
