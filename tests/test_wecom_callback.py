"""The WeCom callback endpoint driven by the fake WeCom platform over real HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.channels.wecom.callback import Callback, callback_app
from bot.channels.wecom.crypto import WeComCrypto
from bot.channels.wecom.streams import Streams, stream_reply
from tests.fakes.wecom import AES_KEY, TOKEN, FakeWeCom


async def echo(message: dict, streams: Streams) -> dict | None:
    """A handler that answers text at once and opens an unfinished stream for `slow ...`."""
    if message["msgtype"] != "text":
        return None
    text = message["text"]["content"]
    stream_id = f"s-{message['msgid']}"
    stream = streams.open(
        stream_id, "…" if text.startswith("slow") else f"echo: {text}", finish=not text.startswith("slow")
    )
    return stream_reply(stream_id, stream)


@pytest.fixture
async def wecom() -> AsyncIterator[tuple[FakeWeCom, aiohttp.ClientSession, Callback]]:
    callback = Callback(WeComCrypto(TOKEN, AES_KEY), echo)
    runner = web.AppRunner(callback_app(callback))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake = FakeWeCom(f"http://127.0.0.1:{runner.addresses[0][1]}/wecom")
    async with aiohttp.ClientSession() as session:
        yield fake, session, callback
    await runner.cleanup()


async def test_url_check_and_a_chinese_message_get_an_encrypted_reply(wecom):
    fake, session, _ = wecom
    await fake.verify_url(session)
    reply = await fake.send(session, fake.message("founder1", "孵化器在哪里？"))
    assert reply == {
        "msgtype": "stream",
        "stream": {"id": reply["stream"]["id"], "finish": True, "content": "echo: 孵化器在哪里？"},
    }


async def test_refresh_polls_are_served_until_the_stream_finishes(wecom):
    fake, session, callback = wecom
    first = await fake.send(session, fake.message("founder1", "slow question"))
    stream_id = first["stream"]["id"]
    assert first["stream"]["finish"] is False
    assert (await fake.send(session, fake.refresh("founder1", stream_id)))["stream"]["finish"] is False
    callback.streams.update(stream_id, "the whole answer", finish=True)
    done = await fake.send(session, fake.refresh("founder1", stream_id))
    assert done["stream"] == {"id": stream_id, "finish": True, "content": "the whole answer"}
    assert await fake.send(session, fake.refresh("founder1", stream_id)) is None  # finished streams are forgotten


async def test_a_duplicate_delivery_is_answered_once(wecom, caplog):
    fake, session, _ = wecom
    message = fake.message("founder1", "hello")
    assert await fake.send(session, message) is not None
    with caplog.at_level(logging.INFO):
        assert await fake.send(session, message) is None
    assert "repeated" in caplog.text


@pytest.mark.parametrize(
    ("params", "status", "logged"),
    [({"signature": "0" * 40}, 403, "msg_signature does not match"), ({"timestamp": 1_000_000_000}, 403, "stale")],
)
async def test_forged_or_replayed_callbacks_are_rejected_and_logged(wecom, caplog, params, status, logged):
    fake, session, _ = wecom
    with caplog.at_level(logging.WARNING):
        got, body = await fake.post(session, json.dumps(fake.message("founder1", "hi")), **params)
    assert got == status and "stream" not in body
    assert logged in caplog.text


async def test_undecryptable_or_malformed_bodies_get_a_4xx_and_the_endpoint_keeps_working(wecom):
    fake, session, _ = wecom
    garbage = "A" * 44  # valid base64, wrong key material: bad padding after decryption
    async with session.post(fake.bot_url, params=fake.params(garbage), data=json.dumps({"encrypt": garbage})) as r:
        assert r.status == 403
    async with session.post(fake.bot_url, params=fake.params("x"), data="{not json") as r:
        assert r.status == 400
    status, _ = await fake.post(session, "plaintext that is not JSON")
    assert status == 400
    assert (await fake.send(session, fake.message("founder1", "still here")))["stream"]["content"] == "echo: still here"


async def test_the_fake_refuses_a_reply_with_a_wrong_signature_or_bad_ciphertext(wecom):
    fake, _, _ = wecom
    sealed = WeComCrypto(TOKEN, AES_KEY).seal(json.dumps({"msgtype": "stream"}), "1", "n")
    with pytest.raises(AssertionError, match="msgsignature"):
        fake.open_reply(json.dumps({**sealed, "msgsignature": "0" * 40}))
    with pytest.raises(json.JSONDecodeError):
        fake.open_reply("{oops")
    too_long = {"msgtype": "stream", "stream": {"id": "s", "finish": True, "content": "长" * 7000}}
    sealed = WeComCrypto(TOKEN, AES_KEY).seal(json.dumps(too_long), "1", "n")
    with pytest.raises(AssertionError, match="over WeCom"):
        fake.open_reply(json.dumps(sealed))
