"""The guided eligibility check and the listing search in Telegram, end to end against the fake Bot API.

The check runs on the sample knowledge base's rule files; the listings are the dev corpus's (the index the
Telegram tests share). Every request is validated by the fake, callback data included.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_openai import ChatOpenAI
from telegram.ext import Application

from bot.core.assistant import Assistant
from bot.core.eligibility import EligibilityAdvisor
from knowledge.retrieve import HybridSearcher
from knowledge.settings import SAMPLE_KNOWLEDGE
from tests.fakes.openai import API_KEY, FakeOpenAI
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.test_telegram import is_answer, running, say


@pytest.fixture
async def bot(
    tg: FakeTelegram,
    tmp_path: Path,
    searcher: HybridSearcher,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The bot in extractive mode with the sample knowledge base's eligibility rules."""
    advisor = EligibilityAdvisor.from_sources([SAMPLE_KNOWLEDGE])
    async with running(tg, tmp_path, Assistant(searcher, advisor=advisor)) as application:
        yield application


async def press(fake: FakeTelegram, user: dict[str, Any], message: BotMessage, data: str) -> BotMessage:
    """Press a button and wait for the bot's next message in the chat."""
    before = len(fake.sent(user["id"]))
    query = fake.press(user, message, data)
    reply = await fake.wait_for(lambda: len(fake.sent(user["id"])) > before and fake.sent(user["id"])[-1])
    assert fake.callback_answered(query)
    return reply


async def answer(fake: FakeTelegram, user: dict[str, Any], reply: str) -> BotMessage:
    """Type an answer and wait for the bot's next message."""
    [message] = await say(fake, user, reply)
    return message


@pytest.mark.usefixtures("bot")
async def test_a_company_check_in_english_asks_what_matters_and_cites_the_deciding_clauses(
    tg: FakeTelegram,
) -> None:
    ada = tg.user(301, "Ada", "en")
    intro, who = await say(tg, ada, "/eligibility", count=2)
    assert intro.text.startswith("Let's see which schemes you qualify for")
    assert who.buttons == [("My company", "el:who:company"), ("Myself (as an employee)", "el:who:person")]
    pudong = await press(tg, ada, who, "el:who:company")
    assert who.buttons == [] and who.text.endswith("?\n» My company"), "the answer replaces the buttons"
    assert pudong.text == "Is your company registered in Pudong New Area?"
    assert pudong.buttons == [("Yes", "el:registered_in_district:1"), ("No", "el:registered_in_district:0"),
                              ("Skip", "el:registered_in_district:skip")]  # fmt: skip
    asked = [pudong.text]
    question = await press(tg, ada, pudong, "el:registered_in_district:1")
    replies = {
        "How many employees": "40",
        "What was last year's revenue": "revenue was RMB 12 million",
        "Is your company already a GOI SME member": "No",
        "Is your company listed": "no",
        "How many years ago": "2",
        "What share of your staff": "25%",
        "What percentage of your company's shares": "0",
    }
    while not question.text.startswith(("From what you told me", "Probably not", "I can't tell")):
        asked.append(question.text)
        if question.text.startswith("Which industry"):
            question = await press(tg, ada, question, question.button("artificial intelligence"))
        else:
            question = await answer(tg, ada, next(r for q, r in replies.items() if question.text.startswith(q)))
    assert len(asked) == 9 and len(set(asked)) == 9, asked
    assert not any(q.startswith("Is your company registered in Shanghai") for q in asked), "Pudong is in Shanghai"
    result = question.text
    assert "you meet the 5 conditions of Shanghai SME technology innovation fund" in result
    assert "you meet the 7 conditions of GOI SME membership" in result
    assert (
        "Probably not. One condition of Open patent licences is: a valid GOI SME member number; preparatory "
        'members cannot apply (第六条, "开放专利许可与产业场景对接办法"); you said GOI SME member: no.'
    ) in result
    assert "GOI Service Centre makes the final decision" in result
    assert question.buttons == []


@pytest.mark.usefixtures("bot")
async def test_a_personal_check_in_chinese_from_the_topic_button_stops_once_the_rules_decide(
    tg: FakeTelegram,
) -> None:
    li = tg.user(302, "李", "zh-hans")
    [hello] = await say(tg, li, "/start")
    before = len(tg.sent(li["id"]))
    tg.press(li, hello, "topic:eligibility")
    intro, who = await tg.wait_for(lambda: len(tg.sent(li["id"])) >= before + 2 and tg.sent(li["id"])[before:])
    assert intro.text.startswith("我们来看看您符合哪些政策")
    assert ("为我个人（员工）咨询", "el:who:person") in who.buttons
    age = await press(tg, li, who, "el:who:person")
    assert age.text == "您今年多少周岁？" and age.buttons == [("跳过", "el:age:skip")]
    degree = await answer(tg, li, "37岁")
    assert degree.text == "您的最高全日制学历是？"
    assert [label for label, _ in degree.buttons] == ["本科", "硕士", "博士", "跳过"]
    result = await press(tg, li, degree, "el:degree:master")
    assert result.text.startswith(
        "恐怕不符合：浦东青年人才租房补贴要求硕士不超过35周岁（《浦东青年人才租房补贴与安家支持》第三条），"
        "而您提到年龄：37、最高学历：硕士。"
    ), "two answers decide it: no question about social insurance or housing follows"
    assert "\n来源\n1. 浦东青年人才租房补贴与安家支持 › 第三条" in result.text
    after = await answer(tg, li, "37")
    assert after.text != "您今年多少周岁？", "the check is over: text is a question again"


@pytest.mark.usefixtures("bot")
async def test_a_sentence_answers_several_questions_and_an_unreadable_reply_is_asked_again(
    tg: FakeTelegram,
) -> None:
    wang = tg.user(303, "王", "zh-hans")
    _, who = await say(tg, wang, "/eligibility", count=2)
    result = await answer(tg, wang, "我今年29岁，硕士毕业，在GOI会员企业全职工作，社保交了8个月，名下无房")
    assert result.text.startswith("按您提供的情况，浦东青年人才租房补贴中我能核对的7项条件都满足")
    query = tg.press(wang, who, "el:who:company")
    await tg.wait_for(lambda: tg.callback_answered(query))
    assert tg.calls_to("answerCallbackQuery")[-1].params["text"] == "这个问题已经结束，发送 /eligibility 可重新开始。"
    ada = tg.user(304, "Ada", "en")
    _, who = await say(tg, ada, "/eligibility", count=2)
    pudong = await press(tg, ada, who, "el:who:company")
    headcount = await press(tg, ada, pudong, "el:registered_in_district:1")
    again = await answer(tg, ada, "lots of clever people")
    assert again.text == "Sorry, I didn't get that. " + headcount.text


@pytest.mark.usefixtures("bot")
async def test_skip_leaves_a_fact_unknown_and_cancel_leaves_the_check(tg: FakeTelegram) -> None:
    bo = tg.user(305, "Bo", "en")
    _, who = await say(tg, bo, "/eligibility", count=2)
    age = await press(tg, bo, who, "el:who:person")
    degree = await press(tg, bo, age, "el:age:skip")
    assert degree.text == "What is your highest full-time degree?"
    insurance = await answer(tg, bo, "skip")
    asked = [age.text, degree.text, insurance.text]
    question = insurance
    for reply in ("12", "No", "Yes"):
        question = await answer(tg, bo, reply)
        asked.append(question.text)
    result = question.text
    assert result.startswith("I can't tell yet whether you qualify for Pudong youth rent subsidy.")
    assert "Please tell me: age, highest degree." in result, "skipped facts are named, never asked again"
    assert len(asked) == len(set(asked))

    cy = tg.user(306, "Cy", "en")
    _, who = await say(tg, cy, "/eligibility", count=2)
    pudong = await press(tg, cy, who, "el:who:company")
    [cancelled] = await say(tg, cy, "/cancel")
    assert cancelled.text.startswith("Done: I've forgotten our conversation")
    query = tg.press(cy, pudong, "el:registered_in_district:1")
    await tg.wait_for(lambda: tg.callback_answered(query))
    assert tg.calls_to("answerCallbackQuery")[-1].params["text"].startswith("That question is closed")
    before = len(tg.sent(cy["id"]))
    tg.send(cy, "how many vouchers can one company use per year?")
    reply = await tg.wait_for(lambda: next((m for m in tg.sent(cy["id"])[before:] if is_answer(m)), None))
    assert "186,400" in reply.text, "after /cancel, text is a question again"


@pytest.mark.usefixtures("bot")
async def test_equipment_search_pages_three_cards_at_a_time(tg: FakeTelegram) -> None:
    ada = tg.user(307, "Ada", "en")
    [usage] = await say(tg, ada, "/equipment")
    assert usage.text.startswith("Tell me what you need after the command, e.g. /equipment")
    [first] = await say(tg, ada, "/equipment check the purity of a small molecule")
    titles = [line for line in first.text.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert len(titles) == 3 and "600 MHz NMR spectrometer" in first.text
    assert "Fee: RMB 780 per hour" in first.text and "Who may book: GOI members" in first.text
    assert "— resources/equipment.csv, row 2" in first.text
    [(label, more)] = first.buttons
    assert label == "More ▸" and more.startswith("more:equipment:2:") and len(more.encode()) <= 64
    second = await press(tg, ada, first, more)
    assert first.buttons == [], "the button moves down to the newest page"
    assert second.text.startswith("4. ") and not set(second.text.splitlines()) & set(titles)
    third = await press(tg, ada, second, second.button("More ▸"))
    assert third.text.startswith("7. ") and third.buttons == [], "the last page has no more"
    [zh] = await say(tg, ada, "/patents 电池热失控预警")
    assert "电池包热失控预警" in zh.text and zh.buttons[0][1].startswith("more:patents:2:")


async def test_with_an_llm_a_sentence_is_read_into_facts_and_the_rules_decide(
    tg: FakeTelegram,
    tmp_path: Path,
    searcher: HybridSearcher,
) -> None:
    advisor = EligibilityAdvisor.from_sources([SAMPLE_KNOWLEDGE])
    sentence = "Thirty-seven, master's, just joined a GOI member firm"
    with FakeOpenAI() as server:
        server.reply_with(lambda *_: json.dumps({"age": 37, "degree": "master", "employer_is_member": True}))
        chat = ChatOpenAI(model="fake", api_key=API_KEY, base_url=server.base_url)  # type: ignore[arg-type]
        async with running(tg, tmp_path, Assistant(searcher, chat, advisor=advisor)):
            dee = tg.user(308, "Dee", "en")
            await say(tg, dee, "/eligibility", count=2)
            result = await answer(tg, dee, sentence)
        assert sentence in server.chat_requests[-1].prompt
    assert result.text.startswith(
        "Probably not. One condition of Pudong youth rent subsidy is: master's: no older than 35"
    ), "the model only read the facts; the rule file decided"
