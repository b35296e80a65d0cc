"""End to end: a founder asks the WeCom bot in Chinese through the fake platform, gets an answer card, clicks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.channels.wecom.app import WeComBot
from bot.channels.wecom.callback import Callback, callback_app
from bot.channels.wecom.crypto import WeComCrypto
from bot.core.assistant import Assistant
from bot.core.llm import make_chat_model
from knowledge.retrieve import HybridSearcher
from knowledge.settings import Settings
from tests.fakes.wecom import AES_KEY, TOKEN, FakeWeCom
from tests.test_http import PHD_RENT_ZH


@pytest.fixture
async def wecom(
    dev_settings: Settings, searcher: HybridSearcher
) -> AsyncIterator[tuple[FakeWeCom, aiohttp.ClientSession]]:
    bot = WeComBot(Assistant(searcher, make_chat_model(dev_settings)))
    runner = web.AppRunner(callback_app(Callback(WeComCrypto(TOKEN, AES_KEY), bot)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake = FakeWeCom(f"http://127.0.0.1:{runner.addresses[0][1]}/wecom")
    await fake.start()
    async with aiohttp.ClientSession() as session:
        yield fake, session
    await fake.stop()
    await runner.cleanup()


async def test_founder_asks_in_chinese_gets_sources_card_and_presses_thumbs_up(wecom):
    fake, session = wecom
    await fake.verify_url(session)
    first = await fake.send(session, fake.message("founder1", f"@GOI助手 {PHD_RENT_ZH}", chat="group1"))
    reply = await fake.until_finished(session, "founder1", first)
    assert reply["msgtype"] == "stream_with_template_card" and reply["stream"]["finish"] is True
    assert "3,400" in reply["stream"]["content"] and "**来源**" in reply["stream"]["content"]
    card = reply["template_card"]
    labels = [button["text"] for button in card["button_list"]]
    assert labels[:3] == ["👍 有帮助", "👎 没帮助", "📄 来源"] and labels[3].startswith("🙋")
    thumbs_up = card["button_list"][0]["key"]
    update = await fake.send(session, fake.click("founder1", thumbs_up, card["task_id"]))
    assert update["response_type"] == "update_template_card"
    assert update["template_card"]["main_title"]["title"] == "谢谢您的反馈！"
    assert "youth-housing-support.zh.md" in update["template_card"]["sub_title_text"]


async def test_a_click_on_an_unknown_card_is_answered_empty(wecom):
    fake, session = wecom
    assert await fake.send(session, fake.click("founder1", "up:nonexistent", "nonexistent")) is None
