"""The firm profile and the listings in WeCom, typed as commands and answered on cards, through the fake WeCom."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.eligibility import EligibilityAdvisor
from knowledge.retrieve import HybridSearcher
from knowledge.settings import SAMPLE_KNOWLEDGE, Settings
from tests.test_telegram_profile import GRADUATE
from tests.test_wecom_bot import Platform, platform


@pytest.fixture
async def wecom(dev_settings: Settings, searcher: HybridSearcher, tmp_path: Path) -> AsyncIterator[Platform]:
    """The platform with the sample knowledge base's eligibility rules."""
    advisor = EligibilityAdvisor.from_sources([SAMPLE_KNOWLEDGE])
    async with platform(dev_settings, searcher, tmp_path, advisor) as found:
        yield found


async def says(wecom: Platform, user: str, text: str, chat: str | None = None) -> dict:
    """A typed message; the bot's (finished) reply."""
    reply = await wecom.fake.send(wecom.session, wecom.fake.message(user, text, chat=chat))
    return await wecom.fake.until_finished(wecom.session, user, reply)


async def clicks(wecom: Platform, user: str, card: dict, key: str) -> dict:
    """A click on one of a card's buttons; the card it becomes."""
    assert key in [button["key"] for button in card["button_list"]], f"{key} is not on the card"
    reply = await wecom.fake.send(wecom.session, wecom.fake.click(user, key, card["task_id"]))
    assert reply["response_type"] == "update_template_card"
    return reply["template_card"]


async def test_the_checks_answers_are_saved_shown_edited_matched_and_forgotten(wecom: Platform) -> None:
    help_ = (await says(wecom, "wang", "/help"))["stream"]["content"]
    assert help_.startswith("关于") and "/profile — " in help_ and "/equipment — " in help_
    assert (await says(wecom, "wang", "/profile"))["stream"]["content"].startswith("还没有保存档案")
    await says(wecom, "wang", "/eligibility")
    offer = await says(wecom, "wang", GRADUATE)
    assert "租房补贴" in offer["stream"]["content"] and "要把这些回答保存到企业档案吗" in offer["stream"]["content"]
    assert [b["key"] for b in offer["template_card"]["button_list"]] == ["pf:yes", "pf:no"]
    saved = await clicks(wecom, "wang", offer["template_card"], "pf:yes")
    assert saved["card_type"] == "text_notice" and saved["main_title"]["title"].startswith("已保存")
    shown = await says(wecom, "wang", "/profile")
    assert "您今年多少周岁？ 29 (来自 /eligibility)" in shown["stream"]["content"]
    prompt = await clicks(wecom, "wang", shown["template_card"], "pfe:age")
    assert prompt["main_title"]["title"] == "您今年多少周岁？ 请输入新的值。"
    assert (await says(wecom, "wang", "31"))["stream"]["content"].startswith("已修改")
    assert "您今年多少周岁？ 31 (您输入的)" in (await says(wecom, "wang", "/profile"))["stream"]["content"]

    schemes = await says(wecom, "wang", "/schemes")
    assert schemes["stream"]["content"].splitlines()[1].startswith("✅")
    subscribed = await clicks(wecom, "wang", schemes["template_card"], "sub:on")
    assert subscribed["main_title"]["title"].startswith("已订阅")
    assert "申报" in (await says(wecom, "wang", "/deadlines"))["stream"]["content"]
    in_group = await says(wecom, "wang", "@GOI助手 /profile", chat="founders")
    # Nothing of the profile in the group: no fact's label anywhere, no age in the text (the stream's random id may
    # hold any digits).
    assert in_group["stream"]["content"].startswith("企业档案只在您与我的单聊中") and "周岁" not in str(in_group)
    assert "29" not in in_group["stream"]["content"]
    assert (await says(wecom, "wang", "/forget"))["stream"]["content"].startswith("已删除")
    assert (await says(wecom, "wang", "/schemes"))["stream"]["content"].startswith("请先保存档案")


async def test_a_listing_search_pages_by_its_more_button(wecom: Platform) -> None:
    usage = await says(wecom, "ada", "/equipment")
    assert usage["stream"]["content"].startswith("请在命令后写上需求，例如：/equipment")
    first = await says(wecom, "ada", "/equipment check the purity of a small molecule")
    content = first["stream"]["content"]
    assert content.startswith("**1. ") and "600 MHz NMR spectrometer" in content
    assert "Fee: RMB 780 per hour" in content and "*— resources/equipment.csv, " in content
    [more] = first["template_card"]["button_list"]
    assert more["key"].startswith("more:equipment:2:")
    second = await clicks(wecom, "ada", first["template_card"], more["key"])
    [page] = wecom.fake.response_posts
    assert page["markdown"]["content"].startswith("**4. ")
    third = await clicks(wecom, "ada", second, second["button_list"][0]["key"])
    assert third["card_type"] == "text_notice", "the last page has no more"
    assert wecom.fake.response_posts[-1]["markdown"]["content"].startswith("**7. ")
