"""Long-connection mode against a fake WeCom WebSocket gateway: subscribe, heartbeats, answers, reconnects."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bot.channels.wecom.longconn import Backoff, LongConnection, SubscribeRefused
from bot.channels.wecom.streams import Streams, stream_reply
from tests.fakes.wecom import FakeWeCom, FakeWeComSocket


async def answer(message: dict, streams: Streams) -> dict:
    """Answers `slow` with an unfinished stream that finishes shortly after, anything else at once."""
    stream_id = f"s-{message['msgid']}"
    text = message["text"]["content"]
    if text == "slow":
        stream = streams.open(stream_id, "…")
        asyncio.get_running_loop().call_later(0.2, streams.update, stream_id, "done", True)
    else:
        stream = streams.open(stream_id, f"echo: {text}", finish=True)
    return stream_reply(stream_id, stream)


async def until(condition, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(gateway: FakeWeComSocket, secret: str = "fake-secret"):
    bot = LongConnection(gateway.url, gateway.bot_id, secret, answer, heartbeat=0.1, backoff=Backoff(first=0.05))
    stop = asyncio.Event()
    task = asyncio.create_task(bot.run(stop))
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(SubscribeRefused):
            await asyncio.wait_for(task, 5)


@pytest.fixture
async def gateway():
    fake = FakeWeComSocket()
    await fake.start()
    yield fake
    await fake.stop()


async def test_answers_pings_and_streams_until_finished(gateway):
    messages = FakeWeCom("unused")
    async with running(gateway):
        await gateway.push(messages.message("founder1", "孵化器在哪里？"), "r1")
        await gateway.push(messages.message("founder1", "slow"), "r2")
        await until(lambda: gateway.pings >= 2 and gateway.replies.get("r2", [{}])[-1].get("stream", {}).get("finish"))
    assert gateway.replies["r1"] == [
        {"msgtype": "stream", "stream": {"id": "s-msg1", "finish": True, "content": "echo: 孵化器在哪里？"}}
    ]
    assert [reply["stream"]["content"] for reply in gateway.replies["r2"]][-1] == "done"


async def test_a_duplicate_delivery_is_answered_once(gateway):
    message = FakeWeCom("unused").message("founder1", "hello")
    async with running(gateway):
        await gateway.push(message, "r1")
        await gateway.push(message, "r2")
        await until(lambda: "r1" in gateway.replies)
        await asyncio.sleep(0.2)
    assert "r2" not in gateway.replies


async def test_a_dropped_connection_is_reopened_and_keeps_answering(gateway):
    messages = FakeWeCom("unused")
    async with running(gateway):
        await until(lambda: gateway.subscribes == 1)
        await gateway.drop()
        await until(lambda: gateway.subscribes == 2)
        await gateway.push(messages.message("founder1", "after"), "r9")
        await until(lambda: "r9" in gateway.replies)


async def test_a_wrong_secret_stops_with_a_clear_error(gateway):
    bot = LongConnection(gateway.url, gateway.bot_id, "wrong", answer, backoff=Backoff(first=0.05))
    with pytest.raises(SubscribeRefused, match="refused"):
        await asyncio.wait_for(bot.run(asyncio.Event()), 5)
