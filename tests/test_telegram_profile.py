"""The firm profile in Telegram, end to end against the fake Bot API: saved only on yes, shown with where each fact
came from, edited, matched against every scheme, subscribed to, and deleted by /forget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.core.assistant import Assistant
from bot.core.eligibility import EligibilityAdvisor
from knowledge.retrieve import HybridSearcher
from knowledge.settings import SAMPLE_KNOWLEDGE
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.test_telegram import running, say
from tests.test_telegram_eligibility import press

GRADUATE = "我今年29岁，硕士毕业，在GOI会员企业全职工作，社保交了8个月，名下无房"


@pytest.fixture
def now() -> list[datetime]:
    """The bot's clock: tests move it instead of waiting (the sample's rent subsidy window closes 2027-03-31)."""
    return [datetime(2027, 3, 20, 9, tzinfo=UTC)]


@pytest.fixture
async def bot(
    tg: FakeTelegram, tmp_path: Path, searcher: HybridSearcher, now: list[datetime]
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The bot in extractive mode with the sample knowledge base's eligibility rules, notices checked often."""
    advisor = EligibilityAdvisor.from_sources([SAMPLE_KNOWLEDGE])
    assistant = Assistant(searcher, advisor=advisor)
    config = {"telegram_flood_messages": 50, "notice_poll_seconds": 0.1}
    async with running(tg, tmp_path, assistant, clock=lambda: now[0], **config) as application:
        yield application


async def checked(tg: FakeTelegram, user: dict[str, Any]) -> BotMessage:
    """Run the guided check on one sentence; the offer to save its answers."""
    await say(tg, user, "/eligibility", count=2)
    result, offer = await say(tg, user, GRADUATE, count=2)
    assert "租房补贴" in result.text or "rent subsidy" in result.text, "the verdicts come first"
    return offer


@pytest.mark.usefixtures("bot")
async def test_the_checks_answers_are_kept_only_on_yes_and_profile_shows_where_each_came_from(tg: FakeTelegram) -> None:
    wang = tg.user(501, "王", "zh-hans")
    offer = await checked(tg, wang)
    assert offer.text.endswith("随时可发送 /forget 删除。"), "the offer says what is kept and how to delete it"
    assert offer.buttons == [("保存到我的档案", "pf:yes"), ("不保存", "pf:no")]
    [nothing] = await say(tg, wang, "/profile")
    assert nothing.text.startswith("还没有保存档案"), "nothing is saved before the user says yes"
    declined = await press(tg, wang, offer, "pf:no")
    assert declined.text == "未保存任何内容。" and tg.sent(wang["id"])[-2].buttons == []
    [still] = await say(tg, wang, "/profile")
    assert still.text.startswith("还没有保存档案")

    saved = await press(tg, wang, await checked(tg, wang), "pf:yes")
    assert saved.text.startswith("已保存")
    [shown] = await say(tg, wang, "/profile")
    # Each fact as the guided check asked it, in the user's language, with its value as they would say it.
    assert (
        "您今年多少周岁？ 29 (来自 /eligibility)" in shown.text
        and "您的最高全日制学历是？ 硕士 (来自 /eligibility)" in shown.text
    )
    assert "您或配偶在上海是否有自有住房？ 否 (来自 /eligibility)" in shown.text
    assert "age" not in shown.text and "degree" not in shown.text, "no internal names"
    [row] = [line for line in shown.text.splitlines() if "您今年多少周岁？" in line]
    assert (f"✏️ {row.split('.')[0]}", "pfe:age") in shown.buttons, "the button numbered like its fact"
    prompt = await press(tg, wang, shown, "pfe:age")
    assert prompt.text == "您今年多少周岁？ 请输入新的值。"
    [unread] = await say(tg, wang, "不清楚")
    assert unread.text.startswith("没能把这条回复读成对“您今年多少周岁？”的回答")
    [changed] = await say(tg, wang, "31")
    assert changed.text.startswith("已修改")
    [shown] = await say(tg, wang, "/profile")
    assert (
        "您今年多少周岁？ 31 (您输入的)" in shown.text
        and "您的最高全日制学历是？ 硕士 (来自 /eligibility)" in shown.text
    )


@pytest.mark.usefixtures("bot")
async def test_schemes_lists_every_verdict_best_first_and_forget_deletes_profile_and_subscription(
    tg: FakeTelegram,
) -> None:
    ada = tg.user(502, "Ada", "en")
    [need] = await say(tg, ada, "/schemes")
    assert need.text.startswith("Save a profile first")
    await press(tg, ada, await checked(tg, ada), "pf:yes")
    [schemes] = await say(tg, ada, "/schemes")
    lines = schemes.text.splitlines()
    assert lines[0] == "Every scheme for your profile, best matches first:"
    assert lines[1].startswith("✅ Pudong youth rent subsidy"), "the match comes first"
    assert "you qualify (" in lines[1] and "第" in lines[1], "the clauses it rests on are quoted"
    assert any(line.startswith(("❌", "❔")) for line in lines[2:])
    assert schemes.buttons == [("Tell me about new matches", "sub:on")]
    subscribed = await press(tg, ada, schemes, "sub:on")
    assert subscribed.text.startswith("Subscribed") and tg.sent(ada["id"])[-2].buttons == []
    [shown] = await say(tg, ada, "/profile")
    assert shown.text.endswith("Notices of new matches: on (/unsubscribe to stop).")
    [again] = await say(tg, ada, "/schemes")
    assert again.buttons == [], "no Subscribe button once subscribed"
    group = tg.group(-100502, "Founders")
    tg.send(ada, "/profile", chat=group)
    tg.send(ada, "/schemes", chat=group)
    await asyncio.sleep(1.0)
    assert tg.sent(group["id"]) == [], "a firm's profile is never shown in a group"

    [forgot] = await say(tg, ada, "/forget")
    assert forgot.text.startswith("Deleted: your firm profile and your subscription")
    [gone] = await say(tg, ada, "/profile")
    assert gone.text.startswith("No profile saved")
    [nothing] = await say(tg, ada, "/forget")
    assert nothing.text == "There was no profile or subscription to delete."
    [unsubscribed] = await say(tg, ada, "/unsubscribe")
    assert unsubscribed.text.startswith("Save a profile first")


async def days_later(
    tg: FakeTelegram, user: dict[str, Any], now: list[datetime], days: int, expect: int = 0
) -> list[BotMessage]:
    """Move the clock on; what the bot sent the user on its own: the `expect`ed messages, and any more that come
    within a few notice rounds."""
    before = len(tg.sent(user["id"]))
    now[0] += timedelta(days=days)
    if expect:
        await tg.wait_for(lambda: len(tg.sent(user["id"])) >= before + expect)
    await asyncio.sleep(1.0)
    return tg.sent(user["id"])[before:]


@pytest.mark.usefixtures("bot")
async def test_deadlines_lists_the_matched_window_and_reminders_come_7_and_1_days_before_it_closes(
    tg: FakeTelegram, now: list[datetime]
) -> None:
    ada = tg.user(503, "Ada", "en")
    await press(tg, ada, await checked(tg, ada), "pf:yes")
    [deadlines] = await say(tg, ada, "/deadlines")
    assert deadlines.text.splitlines() == [
        "Application windows of the schemes you qualify for, soonest closing first:",
        "• Pudong youth rent subsidy: open, closes 2027-03-31 (days left: 11). How to apply: "
        "由用人单位统一在线申报（第八条）/ the employer applies online (art. 8)",
    ]
    assert await days_later(tg, ada, now, 5) == [], "not subscribed: no reminders"
    await say(tg, ada, "/subscribe")
    [week] = await days_later(tg, ada, now, 1, expect=1)
    assert week.text.startswith(
        "Reminder: applications for Pudong youth rent subsidy close on 2027-03-31 (days left: 5)"
    )
    assert await days_later(tg, ada, now, 1) == [], "the 7-day reminder comes once"
    [day] = await days_later(tg, ada, now, 3, expect=1)
    assert "(days left: 1)" in day.text
    assert await days_later(tg, ada, now, 2) == [], "a closed window is never reminded"
    [none] = await say(tg, ada, "/deadlines")
    assert none.text == "None of the schemes you qualify for has an upcoming application window."
