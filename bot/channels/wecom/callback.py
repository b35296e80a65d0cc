"""Callback (webhook) mode: WeCom GETs the URL check and POSTs encrypted JSON; replies go back encrypted."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from bot.channels.wecom.crypto import WeComCrypto, WeComCryptoError
from bot.channels.wecom.guard import ReplayGuard
from bot.channels.wecom.streams import Streams, stream_reply

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # a callback is a short encrypted JSON; anything larger is not from WeCom
REFRESH_HOLD = 3.0  # seconds a refresh poll of an unfinished stream may wait for news (WeCom waits 5 s for a reply)

# Given a decrypted callback and the open streams, return the plaintext reply body (None: empty reply).
Handler = Callable[[dict, Streams], Awaitable[dict | None]]


@dataclass
class Callback:
    """Everything one callback endpoint needs: keys, the message handler, replay state and open streams."""

    crypto: WeComCrypto
    handler: Handler
    guard: ReplayGuard = field(default_factory=ReplayGuard)
    streams: Streams = field(default_factory=Streams)


CALLBACK = web.AppKey("wecom_callback", Callback)


def _query(request: web.Request) -> tuple[str, str, str]:
    try:
        return request.query["msg_signature"], request.query["timestamp"], request.query["nonce"]
    except KeyError as missing:
        log.warning("wecom callback from %s without %s: rejected", request.remote, missing)
        raise web.HTTPBadRequest(text=f"missing query parameter {missing}") from None


def _open(request: web.Request, encrypted: str) -> str:
    """Verify the signature and timestamp, then decrypt; 4xx (logged) on a forged or stale callback."""
    callback = request.app[CALLBACK]
    msg_signature, timestamp, nonce = _query(request)
    if not callback.guard.fresh(timestamp):
        log.warning("wecom callback from %s with stale timestamp %s: rejected", request.remote, timestamp)
        raise web.HTTPForbidden(text="stale timestamp")
    try:
        return callback.crypto.verify(msg_signature, timestamp, nonce, encrypted)
    except WeComCryptoError as error:
        log.warning("wecom callback from %s rejected: %s", request.remote, error)
        raise web.HTTPForbidden(text="bad signature or ciphertext") from None


async def verify_url(request: web.Request) -> web.Response:
    """GET: the URL check; answer the decrypted echostr as plain text, no quotes or newline."""
    echostr = request.query.get("echostr")
    if echostr is None:
        raise web.HTTPBadRequest(text="missing query parameter echostr")
    return web.Response(text=_open(request, echostr))


async def _envelope(request: web.Request) -> str:
    try:
        body = json.loads(await request.read())
        return str(body["encrypt"])
    except (ValueError, KeyError, TypeError):
        log.warning("wecom callback from %s is not JSON with an encrypt field: rejected", request.remote)
        raise web.HTTPBadRequest(text='expected JSON {"encrypt": ...}') from None


async def receive(request: web.Request) -> web.Response:
    """POST: decrypt, drop repeats of a message id, let the handler answer, encrypt the reply."""
    callback = request.app[CALLBACK]
    try:
        message = json.loads(_open(request, await _envelope(request)))
    except ValueError:
        log.warning("wecom callback from %s decrypted to something that is not JSON: rejected", request.remote)
        raise web.HTTPBadRequest(text="plaintext is not JSON") from None
    msgid = str(message.get("msgid", ""))
    if not msgid or not callback.guard.first(msgid):
        log.info("wecom callback %r repeated or without msgid: answered empty", msgid)
        return web.Response(text="")
    reply = await _reply(message, callback)
    if reply is None:
        return web.Response(text="")
    _, timestamp, nonce = _query(request)
    sealed = callback.crypto.seal(json.dumps(reply, ensure_ascii=False), timestamp, nonce)
    return web.json_response(sealed)


async def _reply(message: dict, callback: Callback) -> dict | None:
    """A refresh poll is served from the open streams; everything else goes to the handler."""
    if message.get("msgtype") == "stream":
        stream_id = str(message.get("stream", {}).get("id", ""))
        await callback.streams.wait(stream_id, REFRESH_HOLD)
        stream = callback.streams.refresh(stream_id)
        return None if stream is None else stream_reply(stream_id, stream)
    return await callback.handler(message, callback.streams)


def callback_app(callback: Callback, path: str = "/wecom") -> web.Application:
    """The aiohttp application serving one callback URL."""
    app = web.Application(client_max_size=MAX_BODY)
    app[CALLBACK] = callback
    app.router.add_get(path, verify_url)
    app.router.add_post(path, receive)
    return app
