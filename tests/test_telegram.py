"""The Telegram bot end to end: the real Application over HTTP against the fake Bot API, on a real index.

Every request the bot makes is checked against the Bot API spec by the fake; any violation fails the test.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from telegram import Update
from telegram.ext import Application

from bot.channels.telegram.app import build_application
from bot.channels.telegram.ratelimit import NO_PACING, TELEGRAM_PACING, Pacing
from bot.channels.telegram.render import answer_messages
from bot.channels.telegram.webhook import webhook_running
from bot.conversation.outbox import Clock, utc_now
from bot.core.assistant import Assistant
from bot.core.models import Answer, Source
from knowledge.programme import PROGRAMME_FILE, parse_programme
from knowledge.retrieve import HybridSearcher
from knowledge.settings import SAMPLE_KNOWLEDGE
from tests.conftest import DEV_CORPUS, STAFF_CHAT, make_settings
from tests.fakes.telegram import BotMessage, FakeTelegram, parse_html, utf16_len

ADMIN = 900


@asynccontextmanager
async def running(
    fake: FakeTelegram,
    data_dir: Path,
    assistant: Assistant,
    webhook: bool = False,
    pacing: Pacing = NO_PACING,
    clock: Clock = utc_now,
    **config: Any,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The bot started the way `python -m bot telegram` starts it, stopped (and its state saved) on exit.

    Without Telegram's per-chat pauses unless a test is about them (`pacing`): they only make tests wait."""
    settings = make_settings(
        data_dir,
        telegram_bot_token=fake.token,
        telegram_base_url=fake.base_url,
        admin_user_ids=[ADMIN],
        http_port=0,  # the operator endpoints on a free port: tests run side by side
        **({"knowledge_sources": [DEV_CORPUS], "telegram_staff_chat_id": STAFF_CHAT} | config),
    )
    sample = parse_programme(SAMPLE_KNOWLEDGE / PROGRAMME_FILE)  # the dev corpus documents the sample's programme
    application = build_application(
        settings, make_assistant=lambda _: assistant, programme=sample, pacing=pacing, clock=clock
    )
    if webhook:
        async with webhook_running(application, settings):
            yield application
        return
    await application.initialize()
    await application.post_init(application)  # type: ignore[misc]
    await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)  # type: ignore[union-attr]
    await application.start()
    try:
        yield application
    finally:
        await application.updater.stop()  # type: ignore[union-attr]
        await application.stop()
        await application.post_stop(application)  # type: ignore[misc]
        await application.shutdown()
        await application.post_shutdown(application)  # type: ignore[misc]


@pytest.fixture
async def bot(
    tg: FakeTelegram, tmp_path: Path, searcher: HybridSearcher
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The bot in extractive mode (no LLM), polling the fake."""
    async with running(tg, tmp_path, Assistant(searcher)) as application:
        yield application


def is_answer(message: BotMessage) -> bool:
    """The last part of an answer carries its buttons."""
    return any(data.startswith(("fb:", "src:", "human:")) for _, data in message.buttons)


async def ask(
    fake: FakeTelegram,
    user: dict[str, Any],
    question: str,
    chat: dict[str, Any] | None = None,
    reply_to: int | None = None,
) -> list[BotMessage]:
    """Send a question and wait for the whole answer; returns every message the bot sent meanwhile."""
    chat_id = (chat or user)["id"]
    before = len(fake.sent(chat_id))
    fake.send(user, question, chat=chat, reply_to=reply_to)
    await fake.wait_for(lambda: any(is_answer(m) for m in fake.sent(chat_id)[before:]))
    return fake.sent(chat_id)[before:]


async def say(
    fake: FakeTelegram, user: dict[str, Any], text: str, count: int = 1, chat: dict[str, Any] | None = None
) -> list[BotMessage]:
    """Send a message and wait for `count` messages from the bot in that chat."""
    chat_id = (chat or user)["id"]
    before = len(fake.sent(chat_id))
    fake.send(user, text, chat=chat)
    return await fake.wait_for(lambda: len(fake.sent(chat_id)) >= before + count and fake.sent(chat_id)[before:])


async def test_start_greets_in_the_users_language_with_topics_and_command_menus(
    tg: FakeTelegram, bot: Application
) -> None:
    commands = {c.params.get("language_code", ""): c.params["commands"] for c in tg.calls_to("setMyCommands")}
    assert [c["command"] for c in commands[""]] == [
        "start", "help", "ask", "eligibility", "profile", "schemes", "subscribe", "unsubscribe", "deadlines",
        "forget", "equipment", "patents", "solutions", "lang", "sources", "cancel",
    ]  # fmt: skip
    assert commands["zh"][0]["description"] == "重新开始并选择主题"
    ada, li = tg.user(101, "Ada", "en"), tg.user(102, "李", "zh-hans")
    [hello] = await say(tg, ada, "/start")
    assert hello.text.startswith("Hello, Ada!") and len(hello.buttons) == 5
    [nihao] = await say(tg, li, "/start event_expo2026")
    assert nihao.text.startswith("李您好") and ("住房支持", "topic:housing") in nihao.buttons
    before = len(tg.sent(li["id"]))
    tg.press(li, nihao, "topic:housing")
    answer = await tg.wait_for(lambda: next((m for m in tg.sent(li["id"])[before:] if is_answer(m)), None))
    assert "3,400" in answer.text and "日期" in answer.text  # the topic's question was asked in Chinese
    stats = bot.bot_data["services"].records.stats()
    assert [(t.label, t.questions) for t in stats.by_event] == [("expo2026", 1)]


async def test_private_question_is_answered_with_sources_feedback_and_typing(
    tg: FakeTelegram, bot: Application
) -> None:
    ada = tg.user(111, "Ada")
    [answer] = await ask(tg, ada, "hey whats the max innovation voucher amount one company can use per year?")
    assert "186,400" in answer.text
    cite = next(line for line in answer.text.splitlines() if line.startswith("— "))
    assert (
        cite.startswith("— Pudong GOI (sample): Innovation Vouchers for Shared Instruments ›")
        and "(as of 2025-10-01)" in cite
    )
    assert {
        "type": "italic",
        "offset": utf16_len(answer.text[: answer.text.index(cite)]),
        "length": len(cite),
    } in answer.entities
    assert [label for label, _ in answer.buttons] == [
        "👍 Helpful",
        "👎 Not helpful",
        "📄 Sources",
        "🙋 Talk to a person",
    ]
    typing = tg.calls_to("sendChatAction")
    assert typing and typing[0].params == {"chat_id": ada["id"], "action": "typing"}
    assert typing[0].at < tg.calls_to("sendMessage")[-1].at

    query = tg.press(ada, answer, answer.button("📄 Sources"))
    detail = await tg.wait_for(lambda: len(tg.sent(ada["id"])) > 1 and tg.sent(ada["id"])[-1])
    assert "policies/innovation-vouchers.md" in detail.text and tg.callback_answered(query)
    query = tg.press(ada, answer, answer.button("👎 Not helpful"))
    await tg.wait_for(lambda: tg.callback_answered(query))
    assert tg.calls_to("answerCallbackQuery")[-1].params["text"] == "Thanks for the feedback!"
    disliked = await tg.wait_for(lambda: bot.bot_data["services"].records.stats().disliked)
    assert disliked == [("hey whats the max innovation voucher amount one company can use per year?", 1)]
    [again] = await say(tg, ada, "/sources")
    assert again.text == detail.text


@pytest.mark.usefixtures("bot")
async def test_chinese_question_gets_a_chinese_answer(tg: FakeTelegram) -> None:
    wang = tg.user(121, "王", "en")  # the question's language decides, not the app's
    [answer] = await ask(tg, wang, "博士的租房补贴每个月多少钱？")
    assert "3,400" in answer.text and "(日期 2025-10-01)" in answer.text
    assert answer.button("👍 有帮助").startswith("fb:")


@pytest.mark.usefixtures("bot")
async def test_unknown_questions_say_so_and_the_second_goes_to_staff_who_can_reply(tg: FakeTelegram) -> None:
    bo, staff = tg.user(131, "Bo", username="bo_founder"), tg.user(ADMIN, "Staff Sam")
    [dont_know] = await ask(tg, bo, "Which football club won the 2022 world cup?")
    assert dont_know.text.startswith("I don't know") and [b for b, _ in dont_know.buttons] == ["🙋 Talk to a person"]
    await ask(tg, bo, "陆家嘴附近哪家小笼包好吃？")
    handoff = await tg.wait_for(lambda: tg.sent(STAFF_CHAT) and tg.sent(STAFF_CHAT)[0])
    assert "Bo (@bo_founder) needs a person (two questions in a row unanswered)" in handoff.text
    assert "• Which football club won the 2022 world cup?\n• 陆家嘴附近哪家小笼包好吃？" in handoff.text
    await tg.wait_for(lambda: "passed your question" in tg.sent(bo["id"])[-1].text)
    tg.send(staff, "Try Jia Jia Tang Bao on Huanghe Road <3", chat=tg.chats[STAFF_CHAT], reply_to=handoff.message_id)
    relayed = await tg.wait_for(lambda: tg.sent(bo["id"])[-1].text.startswith("GOI") and tg.sent(bo["id"])[-1])
    assert relayed.text == "GOI team: Try Jia Jia Tang Bao on Huanghe Road <3"  # in Bo's interface language
    assert (
        await tg.wait_for(lambda: len(tg.sent(STAFF_CHAT)) > 1 and tg.sent(STAFF_CHAT)[1])
    ).text == "Delivered to Bo (@bo_founder)."


@pytest.mark.usefixtures("bot")
async def test_group_answers_mentions_replies_and_ask_but_not_chatter(tg: FakeTelegram) -> None:
    group, ada, bo = tg.group(-200, "Founders"), tg.user(141, "Ada"), tg.user(142, "Bo")
    tg.send(bo, "anyone going to the voucher info session tomorrow?", chat=group)
    [answer] = await ask(tg, ada, "@goi_test_bot When does the 2026 IC fund call open and close?", chat=group)
    assert "10 June 2026" in answer.text
    # Later questions in the group are read as follow-ups of earlier ones (that is the core's call): check who
    # gets an answer and where, and that it is an answer (helpful / not helpful buttons), not what it says.
    question = "how much of our MPW shuttle cost does the chip fund cover? any ceiling?"
    [follow] = await ask(tg, bo, question, chat=group, reply_to=answer.message_id)
    [by_command] = await ask(
        tg, ada, "/ask@goi_test_bot which microscope can we book to see a membrane protein in 3D?", chat=group
    )
    assert all(m.button("👍 Helpful").startswith("fb:") for m in (follow, by_command))
    asked = [tg.message(group["id"], m.reply_to)["text"] for m in tg.sent(group["id"]) if m.reply_to]
    assert asked == [
        "@goi_test_bot When does the 2026 IC fund call open and close?",
        question,
        "/ask@goi_test_bot which microscope can we book to see a membrane protein in 3D?",
    ]
    assert len(tg.sent(group["id"])) == 3, "chatter not addressed to the bot gets no answer"


async def test_follow_up_history_survives_a_restart(tg: FakeTelegram, tmp_path: Path, searcher: HybridSearcher) -> None:
    ada = tg.user(151, "Ada")
    async with running(tg, tmp_path, Assistant(searcher)):
        await ask(tg, ada, "how does the rent subsidy work for startups in incubators?")
    async with running(tg, tmp_path, Assistant(searcher)):
        [answer] = await ask(tg, ada, "and in the 3rd year?")
    assert "38%" in answer.text and "incubator" in answer.text.lower()


@pytest.mark.usefixtures("bot")
async def test_lang_switches_the_interface_language(tg: FakeTelegram) -> None:
    ada = tg.user(161, "Ada", "en")
    [choose] = await say(tg, ada, "/lang")
    assert choose.buttons == [("English", "lang:en"), ("中文", "lang:zh")]
    query = tg.press(ada, choose, "lang:zh")
    await tg.wait_for(lambda: choose.edits == 1)
    assert tg.callback_answered(query) and choose.text == "好的，接下来我用中文和您交流。" and choose.buttons == []
    [help_text] = await say(tg, ada, "/help")
    assert help_text.text.startswith("欢迎就GOI项目提问") and "/lang — 切换语言" in help_text.text


class WordByWord(FakeListChatModel):
    """A chat model that streams its reply a word every few milliseconds, as a real one does."""

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:  # noqa: ARG002
        for word in re.findall(r"\S+\s*", self.responses[0]):
            await asyncio.sleep(0.002)
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))


async def test_long_llm_answer_streams_in_throttled_edits_and_is_split_below_the_limit(
    tg: FakeTelegram, tmp_path: Path, searcher: HybridSearcher
) -> None:
    # Rule labels in letters: every figure an LLM sentence states must be in the passage it cites.
    parts = [
        " ".join(
            f"Rule {p}{n}: each company may use at most RMB 186,400 of vouchers a year [1]." for n in "abcdefghijklmnop"
        )
        for p in "ABCDE"
    ]
    reply = "\n\n".join(parts)  # about 6,500 characters, streamed in about 2.5 s
    chat = WordByWord(responses=[reply])
    ada = tg.user(171, "Ada")
    async with running(tg, tmp_path, Assistant(searcher, chat), pacing=TELEGRAM_PACING):
        messages = await ask(tg, ada, "What is the most voucher money one company can use in a year?")
    assert len(messages) == 2 and all(len(m.text) <= 4096 for m in messages)
    assert messages[0].text.startswith("Rule Aa") and messages[1].text.endswith("(as of 2025-10-01)")
    assert "".join(m.text for m in messages).count("186,400") == 80
    draft_edits = [c.at for c in tg.calls_to("editMessageText") if c.params["message_id"] == messages[0].message_id]
    assert messages[0].edits == len(draft_edits) >= 2, "the draft was shown and edited while the model wrote"
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(draft_edits)), draft_edits


async def test_many_users_at_once_each_get_their_own_answer_and_a_slow_one_blocks_nobody(
    tg: FakeTelegram, tmp_path: Path, searcher: HybridSearcher
) -> None:
    cases = {
        "hey whats the max innovation voucher amount one company can use per year?": "186,400",
        "how much of our MPW shuttle cost does the chip fund cover? any ceiling?": "42%",
        "When does the 2026 IC fund call open and close?": "10 June 2026",
        "博士的租房补贴每个月多少钱？": "3,400",
        "what are the steps to license a patent from one of the big firms?": "Intent to License",
        "we need the 3D structure of a purified membrane protein, which microscope can we book?": "Lingjing",
        "do leftover voucher credits roll over to next yr or do they expire?": "15 December",
        "How do we apply to join the GOI programme?": "GOI-M-",
    }

    released = asyncio.Event()

    class SlowOnce(Assistant):
        async def answer(self, question: str, history: list[str] | None = None, on_draft: Any = None) -> Any:
            if question == "slow":  # held until everyone else has been answered: a busy machine cannot fake this
                await released.wait()
            return await super().answer(question, history, on_draft)

    slow = tg.user(180, "Slow")
    async with running(tg, tmp_path, SlowOnce(searcher)):
        slow_answer = asyncio.create_task(ask(tg, slow, "slow"))
        await asyncio.sleep(0.2)
        users = [tg.user(181 + n, f"User{n}") for n in range(len(cases))]
        asked = asyncio.gather(*(ask(tg, user, q) for user, q in zip(users, cases, strict=True)))
        answers = await asyncio.wait_for(asked, 120)  # a slow answer that blocked others would never let this finish
        assert not slow_answer.done()
        released.set()
        await slow_answer
    for (question, fact), [answer] in zip(cases.items(), answers, strict=True):
        assert fact in answer.text, (question, answer.text)


@pytest.mark.usefixtures("bot")
async def test_staff_commands_reload_and_stats_are_for_admins_only(tg: FakeTelegram) -> None:
    stranger, admin = tg.user(191, "Eve"), tg.user(ADMIN, "Staff Sam")
    [refused] = await say(tg, stranger, "/reload")
    assert refused.text == "Sorry, this command is for GOI staff only."
    [started, done] = await say(tg, admin, "/reload", count=2)
    assert started.text.startswith("Reloading the knowledge base")
    assert "0 added, 0 updated, 14 unchanged, 0 removed, 0 failed" in done.text and "Nothing changed" in done.text
    await ask(tg, stranger, "Which football club won the 2022 world cup?")
    [report] = await say(tg, admin, "/stats")
    assert "1 questions, 0% answered" in report.text and "(no event): 1 questions" in report.text
    assert "Top unanswered questions\n• Which football club won the 2022 world cup? ×1" in report.text


@pytest.mark.usefixtures("bot")
async def test_429_retry_after_is_honoured(tg: FakeTelegram) -> None:
    ada = tg.user(201, "Ada")
    tg.fail("sendMessage", 429, retry_after=1)
    [answer] = await ask(tg, ada, "hey whats the max innovation voucher amount one company can use per year?")
    attempts = [c for c in tg.calls if c.method == "sendMessage"]
    assert "186,400" in answer.text and [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0


@pytest.mark.usefixtures("bot")
async def test_a_502_from_the_api_gets_an_apology_and_the_bot_carries_on(tg: FakeTelegram) -> None:
    ada = tg.user(211, "Ada")
    for _ in range(3):  # one more 502 than bot/channels/telegram/delivery.py retries
        tg.fail("sendMessage", 502)
    question = "hey whats the max innovation voucher amount one company can use per year?"
    [sorry] = await say(tg, ada, question)
    assert sorry.text == "Sorry, something went wrong on my side. Please try again in a moment."
    [answer] = await ask(tg, ada, question)  # the user tries again, as asked
    assert "186,400" in answer.text


async def test_abuse_gets_short_polite_answers(tg: FakeTelegram, tmp_path: Path, searcher: HybridSearcher) -> None:
    ada = tg.user(221, "Ada")
    async with running(tg, tmp_path, Assistant(searcher), telegram_flood_messages=4, telegram_max_question_chars=200):
        [too_long] = await say(tg, ada, "why " * 60)
        assert too_long.text.startswith("Please keep your question under 200 characters")
        tg.send_sticker(ada)
        await tg.wait_for(lambda: len(tg.sent(ada["id"])) == 2)
        assert tg.sent(ada["id"])[1].text == "I can only read text messages. Please type your question."
        [unknown] = await say(tg, ada, "/frobnicate")
        assert unknown.text.startswith("I don't know that command")
        for n in range(3):
            tg.send(ada, f"/help {n}")
        await tg.wait_for(lambda: any(m.text.startswith("You're sending messages faster") for m in tg.sent(ada["id"])))
        await asyncio.sleep(0.3)
    assert sorted(m.text[:14] for m in tg.sent(ada["id"])[3:]) == ["Ask me anythin", "You're sending"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def webhook_settings(public_port: int, port: int, secret: str) -> dict[str, Any]:
    """Webhook mode: Telegram posts to 127.0.0.1:`public_port`, the bot listens on 127.0.0.1:`port`."""
    return {
        "telegram_webhook_url": f"http://127.0.0.1:{public_port}/telegram-hook",
        "telegram_webhook_listen": "127.0.0.1",
        "telegram_webhook_port": port,
        "telegram_webhook_secret": secret,
    }


def text_update(fake: FakeTelegram, user: dict[str, Any], number: int, text: str) -> dict[str, Any]:
    """An update of `user` writing `text` in their private chat, to post to the webhook by hand."""
    message = {"message_id": 9000 + number, "date": 0, "chat": fake.chats[user["id"]], "from": user, "text": text}
    return {"update_id": 9000 + number, "message": message}


async def test_webhook_answers_only_updates_carrying_exactly_the_secret(
    tg: FakeTelegram, tmp_path: Path, searcher: HybridSearcher
) -> None:
    port, secret = free_port(), "s3cret_T0ken"
    hook = webhook_settings(port, port, secret)
    ada = tg.user(231, "Ada")
    question = "When does the 2026 IC fund call open and close?"
    async with running(tg, tmp_path, Assistant(searcher), webhook=True, **hook):
        assert tg.webhook is not None
        assert (tg.webhook["url"], tg.webhook["secret_token"]) == (hook["telegram_webhook_url"], secret)
        assert await tg.post_webhook(text_update(tg, ada, 1, "/start"), secret="s3cret_T0keN") == 403
        assert await tg.post_webhook(text_update(tg, ada, 2, "/start"), secret=None) == 403
        assert await tg.post_webhook(text_update(tg, ada, 3, "/start"), secret="") == 403
        async with aiohttp.ClientSession() as session:
            for body in (b"{not json", b'{"update_id": "x", "message": 5}'):
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
                async with session.post(hook["telegram_webhook_url"], data=body, headers=headers) as response:
                    assert response.status == 400
        assert await tg.post_webhook(text_update(tg, ada, 4, question), secret=secret) == 200
        answer = await tg.wait_for(lambda: next((m for m in tg.sent(ada["id"]) if is_answer(m)), None))
        assert "10 June 2026" in answer.text
        [answer] = await ask(tg, ada, question)  # as Telegram delivers it, with the secret set at start
        assert "10 June 2026" in answer.text
    assert all(not m.text.startswith("Hello") for m in tg.sent(ada["id"])), "a refused update reached a handler"


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_python_m_bot_runs_telegram_from_environment_variables_alone(
    tg: FakeTelegram, tmp_path: Path, webhook: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TELEGRAM_", "CHROMA_"))}
    env |= {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_BASE_URL": tg.base_url, "DATA_DIR": str(tmp_path / "data")}
    env |= {"HTTP_PORT": str(free_port())}
    secret = "env_S3cret"
    if webhook:
        port = free_port()
        env |= {name.upper(): str(value) for name, value in webhook_settings(port, port, secret).items()}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        listening = (lambda: tg.webhook is not None) if webhook else (lambda: tg.calls_to("getUpdates"))
        await tg.wait_for(lambda: len(tg.calls_to("setMyCommands")) == 2 and listening(), timeout=60)
        ada = tg.user(241, "Ada")
        if webhook:
            assert await tg.post_webhook(text_update(tg, ada, 1, "/help"), secret="env_S3creT") == 403
        [hello] = await say(tg, ada, "/start")
        assert hello.text.startswith("Hello, Ada!")
        [not_ready] = await say(tg, ada, "how do innovation vouchers work?")
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert not_ready.text == "The knowledge base is not ready yet. Please try again in a few minutes."
    assert process.returncode == 0, output.decode()
    assert tg.token not in output.decode(), "the token must not reach the logs (httpx logs URLs)"
    assert secret not in output.decode()
    assert bool(tg.calls_to("getUpdates")) is not webhook, "a webhook bot is served by our route, not by polling"
    assert len(tg.sent(ada["id"])) == 2, "the refused update was not answered"


SOURCE = Source(
    title="Rules <& exceptions>", path="policies/a.md", score=1.0, section="3 > 3.1 Amount", row=4,
    date="2025-01-01", url="https://example.org/a?x=1&y=<2>", expired=True,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=12_000))
def test_any_answer_text_renders_to_html_telegram_accepts_below_the_limit(body: str) -> None:
    answer = Answer(question="q", answer=body, answered=True, language="en", mode="llm", sources=[SOURCE])
    shown = [parse_html(message)[0] for message in answer_messages(answer)]
    assert all(0 < utf16_len(plain) <= 4096 and plain.strip() for plain in shown)
    visible = re.sub(r"[\s*]", "", "".join(shown))
    assert visible.startswith(re.sub(r"[\s*]", "", body)), "nothing of the answer is lost or reordered"


def test_long_paragraphs_are_cut_at_sentences_and_sources_keep_their_markup() -> None:
    body = "。".join(["浦东新区青年人才租房补贴按月发放"] * 400) + "\n\n" + "😀" * 3000
    messages = answer_messages(
        Answer(question="q", answer=body, answered=True, language="zh", mode="llm", sources=[SOURCE])
    )
    shown = [parse_html(m) for m in messages]
    # 240 whole sentences of 17 characters, the other 160 (the last without its "。"), 2,048 emoji, then the rest
    assert [utf16_len(text) for text, _ in shown[:3]] == [4080, 2719, 4096] and shown[0][0].endswith("。")
    assert shown[3][0].startswith("😀" * 952 + "\n\n来源\n")
    footer, entities = shown[-1]
    assert "1. Rules <& exceptions> › 3.1 Amount, 第4行 · 日期 2025-01-01 · ⚠️ 已失效" in footer
    assert {"type": "text_link", "url": "https://example.org/a?x=1&y=<2>"}.items() <= next(
        e for e in entities if e["type"] == "text_link"
    ).items()


def test_citation_lines_of_the_core_are_set_in_italics_with_the_documents_link() -> None:
    body = "Up to 60% of the fee.\n— Rules <& exceptions> › 3.1 Amount (as of 2025-01-01)"
    [message] = answer_messages(
        Answer(question="q", answer=body, answered=True, language="en", mode="extractive", sources=[SOURCE])
    )
    plain, entities = parse_html(message)
    assert plain == body, "no second source list when the answer cites its sources itself"
    start = utf16_len("Up to 60% of the fee.\n— ")
    assert {"type": "text_link", "offset": start, "length": 20, "url": SOURCE.url} in entities
    assert {"type": "italic", "offset": start - 2, "length": utf16_len(body.splitlines()[1])} in entities
