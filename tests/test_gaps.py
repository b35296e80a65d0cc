"""Knowledge gaps: failed questions grouped by meaning in either language, biggest first, re-asked now."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bot.conversation.records import Handoff, Records
from bot.conversation.tables import connect
from bot.core.models import Answer
from bot.staff.gaps import run_gaps
from knowledge.settings import Settings
from tests.conftest import DEV_CORPUS, make_settings

WORLD_CUP = [
    ("Which football club won the 2022 world cup?", "en"),
    ("which football club won the 2022 World Cup", "en"),
    ("Who won the football world cup in 2022?", "en"),
    ("2022年足球世界杯冠军是哪个队？", "zh"),
]
VOUCHER = "hey whats the max innovation voucher amount one company can use per year?"
HANDED = "Can someone call me about licensing a patent?"  # answered, but the user asked for a person


def _answer(question: str, answered: bool, language: str = "en") -> Answer:
    return Answer(question=question, answer="…", answered=answered, language=language, mode="extractive")


@pytest.fixture
def gaps_settings(tmp_path: Path, dev_data_dir: Path) -> Settings:
    """The dev index, and a bot database where users asked about the world cup (unanswered) and vouchers (👎)."""
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    records = Records(connect(url))
    for question, language in WORLD_CUP:
        records.add_question(5, 5, "expo", _answer(question, False, language))
    voucher = records.add_question(6, 6, None, _answer(VOUCHER, True))
    records.feedback(voucher, 6, 6, helpful=False)
    liked = records.add_question(7, 7, None, _answer("Who runs GOI?", True))
    records.feedback(liked, 7, 7, helpful=True)
    handed = records.add_question(8, 8, None, _answer(HANDED, True))
    records.add_handoff(900, 8, Handoff(chat_id=8, language="en", who="Ann", question_id=handed))
    records.close()
    return make_settings(dev_data_dir, database_url=url, knowledge_sources=[DEV_CORPUS])


def test_gaps_group_paraphrases_in_both_languages_biggest_first_and_recheck_them(
    gaps_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_gaps(gaps_settings, 7, None, "json") == 0
    groups = json.loads(capsys.readouterr().out)
    assert [g["count"] for g in groups] == [4, 1, 1], "the four world-cup phrasings are one group, listed first"
    cup = groups[0]
    voucher, handed = (next(g for g in groups if g["question"] == q) for q in (VOUCHER, HANDED))
    assert sorted(cup["phrasings"]) == sorted(question for question, _ in WORLD_CUP)
    assert cup["unanswered"] == 4 and cup["answered_now"] is False and cup["needs_document"] is True
    assert voucher["question"] == VOUCHER and voucher["disliked"] == 1 and voucher["answered_now"] is True
    assert voucher["needs_document"] is False
    assert (handed["handed_off"], handed["unanswered"], handed["disliked"]) == (1, 0, 0)
    assert all("Who runs GOI?" not in g["phrasings"] for g in groups), "a liked answer is no gap"


def test_gaps_csv_and_table_show_the_same_groups(
    gaps_settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert run_gaps(gaps_settings, 7, "expo", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(row["times"], row["answered_now"], row["needs_document"]) for row in rows] == [("4", "false", "true")]
    assert run_gaps(gaps_settings, 7, None, "table") == 0
    shown = capsys.readouterr().out
    assert "Knowledge gaps in the last 7 days: 3 groups" in shown and "Which football club won the 2022 world" in shown


def test_a_database_made_before_handoffs_named_their_question_gets_the_column(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    with create_engine(url).begin() as db:
        db.execute(
            text(
                "CREATE TABLE handoffs (staff_message_id BIGINT PRIMARY KEY, chat_id BIGINT NOT NULL, "
                "user_id BIGINT, language VARCHAR(8) NOT NULL, who TEXT NOT NULL, at VARCHAR(32) NOT NULL)"
            )
        )
        db.execute(text("INSERT INTO handoffs VALUES (41, 5, 5, 'zh', 'Old', '2026-01-01T00:00:00+00:00')"))
    records = Records(connect(url))
    assert records.handoff(41) == Handoff(chat_id=5, language="zh", who="Old"), "old hand-offs still reach users"
    records.add_handoff(42, 6, Handoff(chat_id=6, language="en", who="New", question_id=7))
    assert records.handoff(42).question_id == 7
    records.close()
