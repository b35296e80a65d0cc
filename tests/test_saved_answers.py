"""Curated answers staff save into the bot's database: served like curated.yaml entries by every replica."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.conversation.saved_answers import NewAnswer, SavedAnswers
from bot.conversation.tables import connect
from bot.core.assistant import Assistant
from knowledge.embeddings import LocalEmbeddings
from knowledge.retrieve import HybridSearcher
from knowledge.store import make_store
from tests.conftest import make_settings

PARKING = "Is there visitor parking at the GOI office?"
PARKING_ZH = "GOI办公室有访客停车位吗？"
REPLY = "Yes: four visitor spaces behind building B; tell the front desk your plate number."


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.sqlite3'}"


def _replica(url: str, dev_data_dir: Path, embeddings: LocalEmbeddings) -> Assistant:
    """An assistant as one bot process builds it: its own index reader and database connection."""
    assistant = Assistant(HybridSearcher(make_store(make_settings(dev_data_dir)), embeddings))
    assistant.use_saved(SavedAnswers(connect(url)))
    return assistant


async def test_a_saved_answer_is_served_by_every_replica_from_its_next_question_and_gone_once_removed(
    url: str, dev_data_dir: Path, local_embeddings: LocalEmbeddings
) -> None:
    first, second = (_replica(url, dev_data_dir, local_embeddings) for _ in range(2))
    assert not (await first.answer(PARKING)).answered and not (await second.answer(PARKING)).answered
    answers = SavedAnswers(connect(url))
    saved = answers.add(NewAnswer(question=PARKING, answer=REPLY, alternatives=[PARKING_ZH]), saved_by="Mei")
    for replica in (first, second):
        pinned = await replica.answer("is there any parking for visitors at GOI's office")
        assert pinned.curated and pinned.answered and pinned.answer.endswith(REPLY)
        assert pinned.answer.startswith("📌 Answer prepared by")
        in_chinese = await replica.answer("访客在GOI办公室有停车位吗")
        assert in_chinese.curated and in_chinese.language == "zh" and in_chinese.answer.endswith(REPLY)
    assert answers.remove(saved) and not answers.remove(saved)
    assert not (await first.answer(PARKING)).curated and not (await second.answer(PARKING)).curated


def test_saved_answers_keep_who_saved_them_and_when(url: str) -> None:
    answers = SavedAnswers(connect(url))
    before = answers.version()
    answer_id = answers.add(
        NewAnswer(question=f"  {PARKING} ", answer=REPLY, alternatives=[PARKING, "", PARKING_ZH]), "Mei"
    )
    [saved] = answers.all()
    assert (saved.id, saved.question, saved.saved_by, saved.language) == (answer_id, PARKING, "Mei", "en")
    assert saved.at[:2] == "20" and saved.alternatives == [PARKING, PARKING_ZH]
    entry = saved.entry()
    assert entry.questions.en == [PARKING] and entry.questions.zh == [PARKING_ZH], "the question is not repeated"
    assert entry.answer.of("zh") == REPLY and entry.saved_by == "Mei"
    assert answers.version() == before + 1
