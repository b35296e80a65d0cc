"""Long-connection mode end to end: what the bot says after a callback's reply (a staff reply, a notice) goes by
the connection's active push (aibot_send_msg), against the fake WeCom gateway."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.channels.wecom.app import WeComBot, build_bot, long_connection
from bot.channels.wecom.reach import Reach
from bot.conversation.firm import Firms
from bot.conversation.identity import Identities, number
from bot.conversation.notify import drain
from bot.conversation.outbox import Message, Outbox
from bot.conversation.profiles import Profiles
from bot.conversation.tables import connect
from knowledge.retrieve import HybridSearcher
from knowledge.settings import Settings
from tests.conftest import make_settings
from tests.fakes.wecom import BOT_ID, FakeWeCom, FakeWeComSocket
from tests.test_http import PHD_RENT_ZH
from tests.test_wecom_bot import button, conversation_layer
from tests.test_wecom_longconn import until


@dataclass
class Connected:
    """The bot on a long connection to the fake gateway; `fake` serves the staff group's webhook."""

    gateway: FakeWeComSocket
    fake: FakeWeCom
    bot: WeComBot

    async def says(self, message: dict, req_id: str) -> list[dict]:
        """Push a callback; the bot's replies on its req_id once the last one is final."""
        await self.gateway.push(message, req_id)
        finished = lambda: (self.gateway.replies.get(req_id) or [{}])[-1]  # noqa: E731
        await until(lambda: "response_type" in finished() or finished().get("stream", {}).get("finish"), 30)
        return self.gateway.replies[req_id]


@contextlib.asynccontextmanager
async def connected(dev_settings: Settings, searcher: HybridSearcher, tmp_path: Path) -> AsyncIterator[Connected]:
    fake, gateway = FakeWeCom(""), FakeWeComSocket()
    await fake.start()
    await gateway.start()
    settings = make_settings(
        dev_settings.data_dir, knowledge_sources=dev_settings.knowledge_sources, notice_poll_seconds=0.1,
        wecom_bot_id=BOT_ID, wecom_secret=gateway.secret, wecom_long_connection_url=gateway.url,
        wecom_staff_webhook=fake.webhook_url, wecom_staff_chat_id="staffgroup",
    )  # fmt: skip
    service = conversation_layer(settings, searcher, tmp_path / "bot.sqlite3")
    engine = service.records.engine
    outbox = Outbox(engine, lease=timedelta(seconds=0.5))  # an unreachable chat's message is tried again soon
    bot = build_bot(settings, service, Firms(service, Profiles(engine), outbox))
    stop = asyncio.Event()
    serving = asyncio.create_task(long_connection(settings, bot, stop))
    try:
        yield Connected(gateway, fake, bot)
    finally:
        stop.set()
        await asyncio.wait_for(serving, 10)
        await gateway.stop()
        await fake.stop()


@pytest.fixture
async def wecom(dev_settings: Settings, searcher: HybridSearcher, tmp_path: Path) -> AsyncIterator[Connected]:
    async with connected(dev_settings, searcher, tmp_path) as found:
        yield found


async def test_a_staff_reply_reaches_the_user_by_active_push(wecom: Connected) -> None:
    messages = wecom.fake
    [*_, answer] = await wecom.says(messages.message("founder1", PHD_RENT_ZH), "r1")
    card = answer["template_card"]
    [told] = await wecom.says(messages.click("founder1", button(card, "🙋"), card["task_id"]), "r2")
    assert told["response_type"] == "update_template_card" and "转给" in told["template_card"]["sub_title_text"]
    [note] = wecom.fake.staff_posts
    code = note["markdown"]["content"].split("#")[1].split()[0]
    staff = messages.message("staffer", f"@GOI助手 #{code} 补贴按月发放。", chat="staffgroup")
    [confirmed] = await wecom.says(staff, "r3")
    assert confirmed["stream"]["content"] == "Delivered to founder1 (wecom)."
    [pushed] = wecom.gateway.pushed
    assert (pushed["chatid"], pushed["chat_type"], pushed["msgtype"]) == ("founder1", 1, "markdown")
    assert "补贴按月发放。" in pushed["markdown"]["content"]


async def test_a_notice_is_pushed_and_one_wecom_refuses_waits_in_the_outbox(wecom: Connected) -> None:
    await wecom.says(wecom.fake.message("founder2", "你好"), "r1")
    outbox = wecom.bot.firms.outbox
    known, unknown = number("wecom:founder2"), wecom.bot.service.identities.register("wecom:stranger")
    outbox.insert([
        Message(key="n1", user_id=known, chat_id=known, body="新政策：博士租房补贴已更新。"),
        Message(key="n2", user_id=unknown, chat_id=unknown, body="never seen"),
    ])  # fmt: skip
    await until(lambda: wecom.gateway.pushed, 10)
    [pushed] = wecom.gateway.pushed
    assert pushed["chatid"] == "founder2" and pushed["markdown"]["content"] == "新政策：博士租房补贴已更新。"
    await asyncio.sleep(0.3)  # further rounds
    assert outbox.pending() == 1 and len(wecom.gateway.pushed) == 1  # the stranger's waits; nothing sent twice


async def test_a_notice_queued_while_the_connection_is_down_is_pushed_once_it_is_back(wecom: Connected) -> None:
    await wecom.says(wecom.fake.message("founder3", "你好"), "r1")
    await wecom.gateway.drop()
    chat = number("wecom:founder3")
    wecom.bot.firms.outbox.insert([Message(key="n3", user_id=chat, chat_id=chat, body="申报窗口下周截止。")])
    await until(lambda: wecom.gateway.subscribes == 2 and wecom.gateway.pushed, 15)
    await asyncio.sleep(1.0)  # rounds after it
    assert [pushed["markdown"]["content"] for pushed in wecom.gateway.pushed] == ["申报窗口下周截止。"]


async def test_in_callback_mode_a_notice_waits_for_its_chats_next_response_url_holding_up_no_other(
    tmp_path: Path,
) -> None:
    fake, moment = FakeWeCom(""), [datetime.now(UTC)]
    await fake.start()
    engine = connect(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    people, outbox = Identities(engine), Outbox(engine, clock=lambda: moment[0], lease=timedelta(minutes=5))
    away, here = people.register("wecom:away"), people.register("wecom:here", f"{fake.response_base}/response/here/m1")
    outbox.insert([
        Message(key="n1", user_id=away, chat_id=away, body="政策更新（一）"),
        Message(key="n2", user_id=here, chat_id=here, body="政策更新（二）"),
    ])  # fmt: skip
    reach = Reach(people)  # callback mode: no long connection to push by
    assert await drain(outbox, reach.send, batch=1, channel="wecom") == 1
    assert [(post["user"], post["markdown"]["content"]) for post in fake.response_posts] == [("here", "政策更新（二）")]
    assert await drain(outbox, reach.send, channel="wecom") == 0, "not tried again every round"
    people.register("wecom:away", f"{fake.response_base}/response/away/m2")  # the user writes again
    moment[0] += timedelta(minutes=6)
    assert await drain(outbox, reach.send, channel="wecom") == 1 and outbox.pending() == 0
    assert fake.response_posts[-1]["user"] == "away"
    await fake.stop()
