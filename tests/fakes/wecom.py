"""A fake WeCom (企业微信) AI-bot platform for tests, speaking the documented callback wire format.

It plays WeCom's side: sends the GET URL check, POSTs encrypted JSON callbacks (messages, card clicks, stream
refresh polls) to the bot's URL, and serves `response_url` on a local port. It fails the test (AssertionError) on
anything WeCom would refuse: a reply whose msgsignature is wrong, whose ciphertext does not decrypt or unpad, whose
plaintext is not JSON, or which is over the platform's size limits. Signatures are recomputed here with hashlib;
the AES layer is the bot's own module, which tests pin to WeCom's published sample vectors.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import time
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.wecom.crypto import WeComCrypto, WeComCryptoError

TOKEN = "fakeWeComToken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeCom generates them
BOT_ID = "aibFAKEBOT"
WEBHOOK_KEY = "fake-webhook-key"
MAX_STREAM_BYTES = 20_480  # stream.content
MAX_MARKDOWN_BYTES = 20_480  # markdown.content posted to response_url
MAX_CARD_BUTTONS = 6  # button_list of a button_interaction card


def _check_size(reply: dict[str, Any]) -> None:
    if reply.get("msgtype") in ("stream", "stream_with_template_card"):
        size = len(reply["stream"].get("content", "").encode())
        assert size <= MAX_STREAM_BYTES, f"stream content of {size} bytes is over WeCom's {MAX_STREAM_BYTES}"
    if reply.get("msgtype") == "markdown":
        size = len(reply["markdown"]["content"].encode())
        assert size <= MAX_MARKDOWN_BYTES, f"markdown of {size} bytes is over WeCom's {MAX_MARKDOWN_BYTES}"
    card = reply.get("template_card")
    if card is not None:
        buttons = card.get("button_list", [])
        assert len(buttons) <= MAX_CARD_BUTTONS, f"{len(buttons)} card buttons, WeCom allows {MAX_CARD_BUTTONS}"


class FakeWeCom:
    """WeCom's side of one AI bot: signs and encrypts callbacks, checks and decrypts the bot's replies."""

    def __init__(self, bot_url: str, token: str = TOKEN, aes_key: str = AES_KEY) -> None:
        self.bot_url = bot_url
        self.token = token
        self.crypto = WeComCrypto(token, aes_key, receive_id="")
        self.response_posts: list[dict[str, Any]] = []
        self.staff_posts: list[dict[str, Any]] = []
        self.violations: list[str] = []  # what WeCom would have refused, for the test to assert empty
        self._used: set[str] = set()  # what the staff group's message-push webhook received
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.response_base = ""

    def _sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return hashlib.sha1("".join(sorted([self.token, timestamp, nonce, encrypted])).encode()).hexdigest()

    def params(self, encrypted: str, timestamp: int | None = None, signature: str | None = None) -> dict[str, str]:
        """The query string WeCom adds to a callback."""
        stamp, nonce = str(int(time.time()) if timestamp is None else timestamp), os.urandom(4).hex()
        return {"msg_signature": signature or self._sign(stamp, nonce, encrypted), "timestamp": stamp, "nonce": nonce}

    async def verify_url(self, session: aiohttp.ClientSession) -> None:
        """The GET check WeCom sends when the URL is saved; the bot must echo the plaintext exactly."""
        echo = os.urandom(8).hex()
        encrypted = self.crypto.encrypt(echo)
        async with session.get(self.bot_url, params={**self.params(encrypted), "echostr": encrypted}) as response:
            body = await response.text()
        assert response.status == 200 and body == echo, f"URL check failed: {response.status} {body!r}"

    async def post(self, session: aiohttp.ClientSession, plaintext: str, **params: Any) -> tuple[int, str]:
        """POST one encrypted callback; (status, raw body)."""
        encrypted = self.crypto.encrypt(plaintext)
        query = self.params(encrypted, **params)
        async with session.post(self.bot_url, params=query, data=json.dumps({"encrypt": encrypted})) as response:
            return response.status, await response.text()

    def open_reply(self, body: str) -> dict[str, Any] | None:
        """Check and decrypt the bot's passive reply the way WeCom does; None for an empty reply."""
        if not body:
            return None
        envelope = json.loads(body)  # malformed JSON fails the test here
        expected = self._sign(str(envelope["timestamp"]), envelope["nonce"], envelope["encrypt"])
        assert envelope["msgsignature"] == expected, "reply msgsignature is wrong"
        try:
            reply = json.loads(self.crypto.decrypt(envelope["encrypt"]))
        except WeComCryptoError as error:
            raise AssertionError(f"reply does not decrypt: {error}") from error
        _check_size(reply)
        return reply

    def _callback(self, prefix: str, user: str, chat: str | None, **content: Any) -> dict[str, Any]:
        """The envelope every message and event callback shares, with its own response_url."""
        msgid = f"{prefix}{next(self._ids)}"
        body: dict[str, Any] = {
            "msgid": msgid,
            "aibotid": BOT_ID,
            "chattype": "group" if chat else "single",
            "from": {"userid": user},
            "response_url": f"{self.response_base}/response/{user}/{msgid}",
            **content,
        }
        if chat:
            body["chatid"] = chat
        return body

    def message(self, user: str, text: str, chat: str | None = None) -> dict[str, Any]:
        """A text message callback as WeCom documents it."""
        return self._callback("msg", user, chat, msgtype="text", text={"content": text})

    def click(self, user: str, event_key: str, task_id: str, chat: str | None = None) -> dict[str, Any]:
        """A template-card button click callback (in a group chat when `chat` is given)."""
        clicked = {"card_type": "button_interaction", "event_key": event_key, "task_id": task_id}
        event = {"eventtype": "template_card_event", "template_card_event": clicked}
        return self._callback("evt", user, chat, msgtype="event", event=event)

    def refresh(self, user: str, stream_id: str) -> dict[str, Any]:
        """A stream refresh poll for an answer still being written."""
        return {
            "msgid": f"ref{next(self._ids)}",
            "aibotid": BOT_ID,
            "chattype": "single",
            "from": {"userid": user},
            "msgtype": "stream",
            "stream": {"id": stream_id},
        }

    async def send(self, session: aiohttp.ClientSession, callback: dict[str, Any]) -> dict[str, Any] | None:
        """Deliver a callback and return the bot's decrypted reply (None when it answered empty)."""
        status, body = await self.post(session, json.dumps(callback, ensure_ascii=False))
        assert status == 200, f"bot answered {status}: {body}"
        return self.open_reply(body)

    async def until_finished(
        self, session: aiohttp.ClientSession, user: str, reply: dict[str, Any], every: float = 0.3
    ) -> dict[str, Any]:
        """Poll a stream with refresh callbacks every `every` seconds, as WeCom does, until the bot says finish (at
        most 6 minutes)."""
        deadline = time.monotonic() + 360
        while not reply["stream"]["finish"]:
            assert time.monotonic() < deadline, "stream not finished within WeCom's 6 minutes"
            await asyncio.sleep(every)
            polled = await self.send(session, self.refresh(user, reply["stream"]["id"]))
            assert polled is not None, "the bot forgot an unfinished stream"
            reply = polled
        return reply

    async def _response_url(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise AssertionError("response_url body is not JSON") from None
        _check_size(body)
        if request.path in self._used:  # WeCom: each response_url may be called once
            self.violations.append(f"response_url used twice: {request.path}")
            return web.json_response({"errcode": 40001, "errmsg": "response_url used"})
        self._used.add(request.path)
        self.response_posts.append({"user": request.match_info["user"], "msgid": request.match_info["msgid"], **body})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _webhook(self, request: web.Request) -> web.Response:
        if request.query.get("key") != WEBHOOK_KEY:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise AssertionError("webhook body is not JSON") from None
        assert body.get("msgtype") in ("text", "markdown"), f"webhook msgtype {body.get('msgtype')!r}"
        _check_size(body)
        self.staff_posts.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    @property
    def webhook_url(self) -> str:
        """The staff group's message-push (群机器人) webhook."""
        return f"{self.response_base}/cgi-bin/webhook/send?key={WEBHOOK_KEY}"

    async def start(self) -> None:
        """Serve response_url and the staff group's webhook on a free local port."""
        app = web.Application()
        app.router.add_post("/response/{user}/{msgid}", self._response_url)
        app.router.add_post("/cgi-bin/webhook/send", self._webhook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.response_base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Stop serving response_url."""
        if self._runner is not None:
            await self._runner.cleanup()


class FakeWeComSocket:
    """WeCom's long-connection gateway: checks the subscribe frame, counts pings, pushes callbacks, drops links."""

    def __init__(self, bot_id: str = BOT_ID, secret: str = "fake-secret") -> None:
        self.bot_id, self.secret = bot_id, secret
        self.url = ""
        self.subscribes = 0
        self.pings = 0
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.pushed: list[dict[str, Any]] = []  # active pushes (aibot_send_msg) WeCom accepted
        self.known: set[str] = set()  # chats whose user has written to the bot: only these may be pushed to
        self._socket: Any = None
        self._server: Any = None
        self.connected = asyncio.Event()

    async def _serve(self, socket: Any) -> None:
        hello = json.loads(await socket.recv())
        assert hello["cmd"] == "aibot_subscribe", f"first frame must subscribe, got {hello['cmd']}"
        good = hello["body"] == {"bot_id": self.bot_id, "secret": self.secret}
        ack = {"headers": hello["headers"], "errcode": 0 if good else 40058, "errmsg": "ok" if good else "invalid"}
        await socket.send(json.dumps(ack))
        if not good:
            return
        self.subscribes += 1
        self._socket = socket
        self.connected.set()
        async for raw in socket:
            frame = json.loads(raw)  # malformed JSON fails the test here
            if frame["cmd"] == "ping":
                self.pings += 1
                await socket.send(json.dumps({"headers": frame["headers"], "errcode": 0, "errmsg": "ok"}))
            elif frame["cmd"] == "aibot_send_msg":
                await socket.send(json.dumps({"headers": frame["headers"], **self._push(frame["body"])}))
            elif frame["cmd"] in ("aibot_respond_msg", "aibot_respond_update_msg"):
                updating = frame["body"].get("response_type") == "update_template_card"
                assert updating == (frame["cmd"] == "aibot_respond_update_msg"), f"card update sent by {frame['cmd']}"
                _check_size(frame["body"])
                self.replies.setdefault(frame["headers"]["req_id"], []).append(frame["body"])
                await socket.send(json.dumps({"headers": frame["headers"], "errcode": 0, "errmsg": "ok"}))
            else:
                raise AssertionError(f"unexpected frame {frame['cmd']}")

    def _push(self, body: dict[str, Any]) -> dict[str, Any]:
        """Check an active push as WeCom does: markdown or a card, to a chat that wrote to the bot before."""
        assert body.get("msgtype") in ("markdown", "template_card"), f"push msgtype {body.get('msgtype')!r}"
        assert body.get("chat_type") in (0, 1, 2), f"push chat_type {body.get('chat_type')!r}"
        _check_size(body)
        if body.get("chatid") not in self.known:
            return {"errcode": 93006, "errmsg": "no session with this chat"}
        self.pushed.append(body)
        return {"errcode": 0, "errmsg": "ok"}

    async def push(self, message: dict[str, Any], req_id: str) -> None:
        """Deliver one message callback over the open connection."""
        await self.connected.wait()
        self.known.add(message.get("chatid") or message["from"]["userid"])
        # Replies go on the callback's req_id here: the connection's callbacks are taken to carry no response_url,
        # so anything later must be an active push.
        body = {key: value for key, value in message.items() if key != "response_url"}
        cmd = "aibot_event_callback" if message.get("msgtype") == "event" else "aibot_msg_callback"
        frame = {"cmd": cmd, "headers": {"req_id": req_id}, "body": body}
        await self._socket.send(json.dumps(frame, ensure_ascii=False))

    async def drop(self) -> None:
        """Close the connection the way a network failure would, and wait for the bot to come back."""
        self.connected.clear()
        await self._socket.close()

    async def start(self) -> None:
        """Listen on a free local port."""
        from websockets.asyncio.server import serve

        self._server = await serve(self._serve, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Stop listening."""
        self._server.close()
        await self._server.wait_closed()
