"""Small talk gets a short friendly reply in the user's language and is never searched; short questions are answered.

The labelled set (tests/data/smalltalk.yaml) is the one scripts/fit_smalltalk.py fits the threshold on; none of its
messages is an exemplar (bot/conversation/smalltalk.yaml).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.channels.console import ME, turn
from bot.conversation.records import Records
from bot.conversation.service import ConversationService
from bot.conversation.smalltalk import SmallTalk, load_exemplars
from bot.conversation.state import Conversations
from bot.conversation.tables import connect
from bot.core.assistant import Assistant
from knowledge.embeddings import LocalEmbeddings
from knowledge.retrieve import HybridSearcher
from knowledge.settings import SAMPLE_KNOWLEDGE
from tests.conftest import make_settings
from tests.fakes.telegram import FakeTelegram
from tests.test_telegram import ask, running, say

LABELLED = yaml.safe_load((Path(__file__).parent / "data" / "smalltalk.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def talk(local_embeddings: LocalEmbeddings) -> SmallTalk:
    return SmallTalk.bundled(local_embeddings)


def test_the_labelled_set_is_big_enough_and_holds_no_exemplar() -> None:
    assert len(LABELLED["smalltalk"]) >= 40 and len(LABELLED["questions"]) >= 40
    exemplars = {text.lower() for texts in load_exemplars().values() for text in texts}
    assert not exemplars & {text.lower() for texts in LABELLED.values() for text in texts}


@pytest.mark.parametrize("question", LABELLED["questions"])
def test_no_short_question_is_taken_for_small_talk(talk: SmallTalk, question: str) -> None:
    assert talk.intent(question) is None


def test_nine_in_ten_small_talk_messages_are_recognised(talk: SmallTalk) -> None:
    missed = [text for text in LABELLED["smalltalk"] if talk.intent(text) is None]
    assert len(missed) <= len(LABELLED["smalltalk"]) // 10, missed


@pytest.mark.parametrize(
    ("message", "intent"),
    [("Hi!", "greeting"), ("你好！", "greeting"), ("Thanks!", "thanks"), ("谢谢！", "thanks"), ("Bye!", "goodbye"),
     ("再见～", "goodbye"), ("What can you do?", "about"), ("你是谁？", "about")],
)  # fmt: skip
def test_each_kind_of_small_talk_is_told_apart(talk: SmallTalk, message: str, intent: str) -> None:
    assert talk.intent(message) == intent


@pytest.fixture
def service(tmp_path: Path, searcher: HybridSearcher) -> ConversationService:
    """The console's conversation over the dev index, speaking for the sample programme."""
    settings = make_settings(tmp_path, knowledge_sources=[SAMPLE_KNOWLEDGE])
    engine = connect("sqlite://")
    return ConversationService(settings, Assistant(searcher), Records(engine), Conversations(engine), 1000)


async def test_a_greeting_gets_examples_and_topics_and_is_not_searched_nor_recorded(
    service: ConversationService,
) -> None:
    [hello] = await turn(service, "hello 👋", [])
    assert hello.answer is None and hello.text.startswith("Hello! I answer questions about the GOI programme")
    assert "• What rent subsidy do young talents get?" in hello.text
    assert [action.label for row in hello.actions for action in row][:2] == ["Who can join", "Housing support"]
    [thanks] = await turn(service, "谢谢！", [])
    assert thanks.text.startswith("不客气") and thanks.actions == []
    assert service.records.stats().total.questions == 0 and service.state(ME).history == []


@pytest.mark.parametrize("message", ["🙂", "🙏🙏", "…"])
async def test_a_message_of_only_emoji_or_punctuation_gets_the_greeting_not_search_results(
    service: ConversationService, message: str
) -> None:
    [reply] = await turn(service, message, [])
    assert reply.answer is None and reply.text.startswith("Hello! I answer questions about the GOI programme")
    assert service.records.stats().total.questions == 0


async def test_a_question_that_starts_with_a_greeting_is_still_answered(service: ConversationService) -> None:
    [reply] = await turn(service, "hi, how much is the voucher?", [])
    assert reply.answer is not None and reply.answer.answered and reply.answer.sources
    [follow_up] = await turn(service, "谢谢，那博士呢？", [])
    assert follow_up.answer is not None
    assert service.records.stats().total.questions == 2


async def test_in_telegram_a_greeting_gets_the_topic_buttons_and_a_question_after_hi_is_answered(
    tg: FakeTelegram, tmp_path: Path, searcher: HybridSearcher
) -> None:
    async with running(tg, tmp_path, Assistant(searcher)) as application:
        ada = tg.user(101, "Ada", "zh")
        [hello] = await say(tg, ada, "heyyy 👋")
        assert hello.text.startswith("Hello! I answer questions about the GOI programme")  # the message's language
        assert [label for label, _ in hello.buttons][:2] == ["Who can join", "Housing support"]
        [*_, answer] = await ask(tg, ada, "hi, what is the maximum innovation voucher amount per year?")
        assert "186,400" in answer.text  # the dev corpus's yearly cap
        assert application.bot_data["services"].records.stats().total.questions == 1  # the greeting is not one
