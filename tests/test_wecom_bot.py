"""The WeCom bot over the shared conversation layer, driven through the fake WeCom platform: answers as cards,
feedback and event tags in the same database as Telegram's, channel-qualified ids."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import insert

from bot.channels.wecom.app import STREAM_LIFE, build_bot
from bot.channels.wecom.callback import Callback, callback_app
from bot.channels.wecom.crypto import WeComCrypto
from bot.conversation.firm import Firms
from bot.conversation.identity import QUALIFIED, Identities, number
from bot.conversation.outbox import Outbox
from bot.conversation.profiles import Profiles
from bot.conversation.records import Records
from bot.conversation.service import ConversationService, Who
from bot.conversation.state import Conversations
from bot.conversation.tables import connect, database_url, identities, now
from bot.core.assistant import Assistant
from bot.core.eligibility import EligibilityAdvisor
from bot.core.llm import make_chat_model
from knowledge.retrieve import HybridSearcher
from knowledge.settings import SAMPLE_KNOWLEDGE, Settings
from tests.conftest import make_settings
from tests.fakes.wecom import AES_KEY, TOKEN, FakeWeCom
from tests.test_http import PHD_RENT_ZH


@dataclass
class Platform:
    """The fake WeCom, a client session to drive it, and the conversation layer the bot writes to."""

    fake: FakeWeCom
    session: aiohttp.ClientSession
    service: ConversationService


def conversation_layer(
    settings: Settings, searcher: HybridSearcher, database: Path, advisor: EligibilityAdvisor | None = None
) -> ConversationService:
    engine = connect(database_url(settings) if settings.database_url else f"sqlite:///{database}")
    assistant = Assistant(searcher, make_chat_model(settings), advisor=advisor)
    return ConversationService(
        settings, assistant, Records(engine), Conversations(engine), max_question_chars=1000, handoffs=True
    )


@contextlib.asynccontextmanager
async def platform(
    dev_settings: Settings,
    searcher: HybridSearcher,
    tmp_path: Path,
    advisor: EligibilityAdvisor | None = None,
    stream_life: float = STREAM_LIFE,
    **config: Any,
) -> AsyncIterator[Platform]:
    """The bot's callback server on a fresh database, with a staff group (unless `config` says otherwise), sending
    its outbox, driven by a fake WeCom."""
    fake = FakeWeCom("")
    await fake.start()
    staff = {"wecom_staff_webhook": fake.webhook_url, "wecom_staff_chat_id": "staffgroup", "notice_poll_seconds": 0.1}
    settings = make_settings(dev_settings.data_dir, knowledge_sources=dev_settings.knowledge_sources, **staff | config)
    service = conversation_layer(settings, searcher, tmp_path / "bot.sqlite3", advisor)
    engine = service.records.engine
    bot = build_bot(settings, service, Firms(service, Profiles(engine), Outbox(engine)))
    bot.stream_life = stream_life
    runner = web.AppRunner(callback_app(Callback(WeComCrypto(TOKEN, AES_KEY), bot)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.bot_url = f"http://127.0.0.1:{runner.addresses[0][1]}/wecom"
    stop = asyncio.Event()
    sending = asyncio.create_task(bot.watch(stop))
    async with aiohttp.ClientSession() as session:
        yield Platform(fake, session, service)
    stop.set()
    await sending
    await runner.cleanup()
    await fake.stop()
    assert fake.violations == [], fake.violations


@pytest.fixture
async def wecom(dev_settings: Settings, searcher: HybridSearcher, tmp_path: Path) -> AsyncIterator[Platform]:
    async with platform(dev_settings, searcher, tmp_path) as found:
        yield found


@pytest.fixture
async def checking(dev_settings: Settings, searcher: HybridSearcher, tmp_path: Path) -> AsyncIterator[Platform]:
    """The platform with the sample knowledge base's eligibility rules."""
    advisor = EligibilityAdvisor.from_sources([SAMPLE_KNOWLEDGE])
    async with platform(dev_settings, searcher, tmp_path, advisor) as found:
        yield found


async def test_an_answer_comes_as_a_card_and_its_thumbs_up_is_counted_for_staff(wecom: Platform) -> None:
    fake, session = wecom.fake, wecom.session
    await fake.verify_url(session)
    first = await fake.send(session, fake.message("founder1", f"@GOI助手 {PHD_RENT_ZH}", chat="group1"))
    reply = await fake.until_finished(session, "founder1", first)
    assert reply["msgtype"] == "stream_with_template_card" and reply["stream"]["finish"] is True
    assert "3,400" in reply["stream"]["content"] and "**来源**" in reply["stream"]["content"]
    card = reply["template_card"]
    labels = [button["text"] for button in card["button_list"]]
    assert labels[:3] == ["👍 有帮助", "👎 没帮助", "📄 来源"] and labels[3].startswith("🙋")
    thumbs_up = card["button_list"][0]["key"]
    update = await fake.send(session, fake.click("founder1", thumbs_up, card["task_id"], chat="group1"))
    assert update["response_type"] == "update_template_card"
    assert update["template_card"]["main_title"]["title"] == "谢谢您的反馈！"
    assert "youth-housing-support.zh.md" in update["template_card"]["sub_title_text"]
    assert [b["text"] for b in update["template_card"]["button_list"]] == labels[2:]  # no second vote
    stats = wecom.service.records.stats()
    assert (stats.total.questions, stats.helpful) == (1, 1)


async def test_a_forged_or_foreign_button_is_ignored(wecom: Platform) -> None:
    fake, session = wecom.fake, wecom.session
    assert await fake.send(session, fake.click("founder1", "up:nonexistent", "t1")) is None
    first = await fake.send(session, fake.message("founder1", PHD_RENT_ZH))
    key = (await fake.until_finished(session, "founder1", first))["template_card"]["button_list"][0]["key"]
    assert await fake.send(session, fake.click("intruder", key, "t2")) is None  # another chat's answer
    assert wecom.service.records.stats().helpful == 0


async def test_an_event_tag_sent_as_text_tags_the_chats_questions(wecom: Platform) -> None:
    fake, session = wecom.fake, wecom.session
    greeting = await fake.send(session, fake.message("founder2", "/start event_expo2026"))
    assert greeting["stream"]["finish"] is True and greeting["stream"]["content"]  # a greeting
    await fake.until_finished(session, "founder2", await fake.send(session, fake.message("founder2", PHD_RENT_ZH)))
    assert wecom.service.records.stats(event="expo2026").total.questions == 1


def test_wecom_ids_are_their_own_numbers_beside_telegrams_in_one_database(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    people = Identities(engine)
    zhangsan = people.register("wecom:zhangsan", "https://example.test/r/1")
    assert zhangsan == number("wecom:zhangsan") >= QUALIFIED > 2**53  # above every Telegram id
    assert people.key(zhangsan) == "wecom:zhangsan" and people.key(12345) is None
    conversations = Conversations(engine)
    conversations.set(12345, event="telegram-event")
    conversations.set(zhangsan, event="wecom-event")
    assert (conversations.get(12345).event, conversations.get(zhangsan).event) == ("telegram-event", "wecom-event")
    assert people.spend(zhangsan, "https://example.test/r/1") and people.address(zhangsan) is None


def test_a_hash_collision_is_refused_instead_of_merging_two_people(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    with engine.begin() as db:  # as if "wecom:lisi" had hashed to zhangsan's number
        db.execute(insert(identities).values(id=number("wecom:zhangsan"), key="wecom:lisi", at=now()))
    with pytest.raises(ValueError, match="collides"):
        Identities(engine).register("wecom:zhangsan")


def test_a_who_names_the_channel_for_staff(dev_settings: Settings, searcher: HybridSearcher, tmp_path: Path) -> None:
    service = conversation_layer(dev_settings, searcher, tmp_path / "bot.sqlite3")
    alone = service.who("wecom", "zhangsan", "zhangsan")
    in_group = service.who("wecom", "chat/group1", "zhangsan")
    assert alone == Who(chat_id=number("wecom:zhangsan"), user_id=number("wecom:zhangsan"), name="zhangsan (wecom)")
    assert in_group.chat_id == number("wecom:chat/group1") and in_group.user_id == alone.user_id


async def ask(platform: Platform, user: str, question: str) -> dict:
    """A question in the user's own chat, polled until the answer is finished."""
    fake, session = platform.fake, platform.session
    return await fake.until_finished(session, user, await fake.send(session, fake.message(user, question)))


def button(card: dict, label_start: str) -> str:
    return next(b["key"] for b in card["button_list"] if b["text"].startswith(label_start))


async def staff_says(platform: Platform, text: str) -> str:
    """A staff member mentions the bot in the staff group; what the bot tells them."""
    fake, session = platform.fake, platform.session
    reply = await fake.send(session, fake.message("staffer", f"@GOI助手 {text}", chat="staffgroup"))
    return reply["stream"]["content"]


async def test_talk_to_a_person_reaches_the_staff_group_and_the_staff_reply_reaches_the_user(wecom: Platform) -> None:
    fake, session = wecom.fake, wecom.session
    card = (await ask(wecom, "founder3", PHD_RENT_ZH))["template_card"]
    told = await fake.send(session, fake.click("founder3", button(card, "🙋"), card["task_id"]))
    assert "转给" in told["template_card"]["sub_title_text"] and fake.response_posts == []
    [note] = fake.staff_posts
    assert "founder3 (wecom)" in note["markdown"]["content"] and PHD_RENT_ZH in note["markdown"]["content"]
    code = note["markdown"]["content"].split("#")[1].split()[0]
    assert (
        await staff_says(wecom, f"#{code} 您好，补贴按月发放，请带上博士学位证明。") == "Delivered to founder3 (wecom)."
    )
    [delivered] = fake.response_posts
    assert delivered["user"] == "founder3" and delivered["msgtype"] == "markdown"
    assert "补贴按月发放" in delivered["markdown"]["content"]
    # WeCom's response_url works once: a second reply waits for the user's next message
    assert (await staff_says(wecom, f"#{code} 还有问题吗？")).startswith("Could not reach founder3 (wecom)")


async def test_staff_replies_that_cannot_be_delivered_say_why(wecom: Platform) -> None:
    assert (await staff_says(wecom, "hello")).startswith("To answer a hand-off")
    assert await staff_says(wecom, "#999999 hello") == "There is no hand-off #999999; check the number in the note."
    fake, session = wecom.fake, wecom.session
    card = (await ask(wecom, "founder4", PHD_RENT_ZH))["template_card"]
    await fake.send(session, fake.click("founder4", button(card, "🙋"), card["task_id"]))
    code = fake.staff_posts[-1]["markdown"]["content"].split("#")[1].split()[0]
    with wecom.service.records.engine.begin() as db:  # the user's last message was two hours ago
        db.execute(identities.update().values(address_at="2000-01-01T00:00:00+00:00"))
    assert (await staff_says(wecom, f"#{code} hello")).startswith("Could not reach founder4 (wecom)")
    assert fake.response_posts == []


async def test_the_eligibility_check_asks_on_cards_and_sends_the_verdicts(checking: Platform) -> None:
    fake, session = checking.fake, checking.session
    start = await fake.send(session, fake.message("founder5", "/eligibility"))
    assert start["stream"]["content"].startswith("我们来看看您符合哪些政策")
    card = start["template_card"]
    assert [b["key"] for b in card["button_list"]] == ["el:who:company", "el:who:person"]
    assert card["button_list"][0]["text"] == "为公司咨询"
    step = await fake.send(session, fake.click("founder5", "el:who:company", card["task_id"]))
    asked = step["template_card"]
    assert step["response_type"] == "update_template_card" and asked["task_id"] == card["task_id"]
    assert "浦东" in asked["sub_title_text"] and [b["key"] for b in asked["button_list"]][-1].endswith(":skip")
    stale = await fake.send(session, fake.click("founder5", "el:who:person", "an-older-card"))
    assert stale["template_card"]["card_type"] == "text_notice"  # an earlier question's button is closed
    step = await fake.send(session, fake.message("founder5", "是"))  # typing answers the open question too
    assert step["stream"]["content"].startswith("公司有多少名员工")
    card, asked = step["template_card"], []
    while step["template_card"]["main_title"]["title"] != "结果见下一条消息。":
        shown = step.get("stream", {}).get("content") or step["template_card"]["sub_title_text"]
        asked.append(shown)
        if "新材料与化工" in shown:  # a choice that did not fit on the card is named, and can be typed
            assert len(step["template_card"]["button_list"]) == 6 and shown.count("也可以直接输入") == 1
            step = await fake.send(session, fake.message("founder5", "新材料与化工"))
            card = step["template_card"]
            continue
        skip = next(b["key"] for b in step["template_card"]["button_list"] if b["key"].endswith(":skip"))
        step = await fake.send(session, fake.click("founder5", skip, card["task_id"]))
    assert any("领域" in question for question in asked) and len(asked) >= 5
    offer = step["template_card"]  # the card now offers to keep the answers as the firm profile
    assert [b["key"] for b in offer["button_list"]] == ["pf:yes", "pf:no"] and "档案" in offer["sub_title_text"]
    [verdicts] = fake.response_posts
    assert verdicts["user"] == "founder5" and "《" in verdicts["markdown"]["content"]  # cites the clauses


async def test_end_to_end_a_founder_asks_votes_follows_up_and_a_person_answers(wecom: Platform) -> None:
    fake, session = wecom.fake, wecom.session
    await fake.verify_url(session)
    first = await ask(wecom, "founder6", "孵化器里的初创企业，租金补贴是怎么算的？")
    assert "**来源**" in first["stream"]["content"] and "incubator-rent-support" in first["stream"]["content"]
    card = first["template_card"]
    assert card["main_title"]["title"] == "来源" and card["main_title"]["desc"]
    thanked = await fake.send(session, fake.click("founder6", button(card, "👍"), card["task_id"]))
    assert thanked["template_card"]["main_title"]["title"] == "谢谢您的反馈！"
    follow_up = await ask(wecom, "founder6", "第三年呢？")  # read with the question before it
    assert "38%" in follow_up["stream"]["content"]
    card = follow_up["template_card"]
    told = await fake.send(session, fake.click("founder6", button(card, "🙋"), card["task_id"]))
    assert told["template_card"]["card_type"] == "text_notice"
    note = fake.staff_posts[-1]["markdown"]["content"]
    assert "第三年呢？" in note and "孵化器里的初创企业" in note  # staff see what was asked
    code = note.split("#")[1].split()[0]
    assert await staff_says(wecom, f"#{code} 第三年按38%补贴，详情请来园区办公室。") == "Delivered to founder6 (wecom)."
    [reply] = fake.response_posts
    assert reply["user"] == "founder6" and "第三年按38%补贴" in reply["markdown"]["content"]
    stats = wecom.service.records.stats()
    assert (stats.total.questions, stats.helpful, stats.unhelpful) == (2, 1, 0)


async def test_two_unanswered_questions_in_a_row_bring_in_staff(wecom: Platform) -> None:
    first = await ask(wecom, "founder7", "Which football club won the 2022 world cup?")
    assert first["stream"]["content"].startswith("I don't know") and wecom.fake.staff_posts == []
    second = await ask(wecom, "founder7", "陆家嘴附近哪家小笼包好吃？")
    assert second["stream"]["content"].endswith("他们会在这里回复您。")  # told in the same answer
    [note] = wecom.fake.staff_posts
    assert "founder7 (wecom) needs a person (two questions in a row unanswered)" in note["markdown"]["content"]


async def test_an_answer_finished_after_wecom_stopped_polling_arrives_as_a_new_message(
    dev_settings: Settings, searcher: HybridSearcher, tmp_path: Path
) -> None:
    async with platform(dev_settings, searcher, tmp_path, stream_life=0.0) as late:  # every answer is "too late"
        reply = await ask(late, "founder8", PHD_RENT_ZH)
        assert reply["stream"]["content"] == "回答用时较长，将在下一条消息中发送。" and "template_card" not in reply
        [post] = late.fake.response_posts
        assert post["user"] == "founder8" and "3,400" in post["markdown"]["content"]
        assert "**来源**" in post["markdown"]["content"]
