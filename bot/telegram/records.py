"""What the bot keeps for staff, in SQLite: questions and how they were answered, feedback, handoffs."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from bot.models import Answer, Source
from knowledge.language import Language

SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    chat_id INTEGER NOT NULL,
    user_id INTEGER,
    event TEXT,
    language TEXT NOT NULL,
    question TEXT NOT NULL,
    answered INTEGER NOT NULL,
    mode TEXT NOT NULL,
    sources TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    question_id INTEGER NOT NULL REFERENCES questions(id),
    user_id INTEGER NOT NULL,
    helpful INTEGER NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (question_id, user_id)
);
CREATE TABLE IF NOT EXISTS handoffs (
    staff_message_id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    user_id INTEGER,
    language TEXT NOT NULL,
    who TEXT NOT NULL,
    at TEXT NOT NULL
);
"""


class Tally(BaseModel):
    """Questions and the answered share for one day or event."""

    label: str
    questions: int
    answered: int  # percent


class Handoff(BaseModel):
    """A user whose conversation was handed to staff."""

    chat_id: int
    language: Language
    who: str


class Stats(BaseModel):
    """The staff report over the last `days` days."""

    days: int
    total: Tally
    helpful: int
    unhelpful: int
    by_day: list[Tally]
    by_event: list[Tally]
    unanswered: list[tuple[str, int]]
    disliked: list[tuple[str, int]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _tally(label: str, questions: int, answered: int | None) -> Tally:
    return Tally(
        label=label, questions=questions, answered=round(100 * (answered or 0) / questions) if questions else 0
    )


class Records:
    """The bot's SQLite file; safe to share between handlers running concurrently."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _run(self, sql: str, *args: object) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def add_question(self, chat_id: int, user_id: int | None, event: str | None, answer: Answer) -> int:
        """Record a question with its answer; returns its id (used in the answer's buttons)."""
        sources = json.dumps([s.model_dump() for s in answer.sources], ensure_ascii=False)
        rows = self._run(
            "INSERT INTO questions (at, chat_id, user_id, event, language, question, answered, mode, sources)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            _now(), chat_id, user_id, event, answer.language, answer.question, int(answer.answered), answer.mode,
            sources,
        )  # fmt: skip
        return int(rows[0][0])

    def sources(self, question_id: int) -> list[Source]:
        """The sources of a recorded answer (none for an unknown id)."""
        rows = self._run("SELECT sources FROM questions WHERE id = ?", question_id)
        return [Source.model_validate(s) for s in json.loads(rows[0][0])] if rows else []

    def feedback(self, question_id: int, user_id: int, helpful: bool) -> None:
        """Record (or change) one user's verdict on an answer."""
        self._run(
            "INSERT INTO feedback (question_id, user_id, helpful, at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (question_id, user_id) DO UPDATE SET helpful = excluded.helpful, at = excluded.at",
            question_id, user_id, int(helpful), _now(),
        )  # fmt: skip

    def add_handoff(self, staff_message_id: int, user_id: int | None, handoff: Handoff) -> None:
        """Remember which user a message in the staff chat is about, so staff replies reach them."""
        self._run(
            "INSERT OR REPLACE INTO handoffs (staff_message_id, chat_id, user_id, language, who, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            staff_message_id, handoff.chat_id, user_id, handoff.language, handoff.who, _now(),
        )  # fmt: skip

    def handoff(self, staff_message_id: int) -> Handoff | None:
        """The user a staff-chat message hands off, if it is a handoff."""
        rows = self._run("SELECT chat_id, language, who FROM handoffs WHERE staff_message_id = ?", staff_message_id)
        return Handoff(chat_id=rows[0][0], language=rows[0][1], who=rows[0][2]) if rows else None

    def stats(self, days: int = 7, top: int = 5) -> Stats:
        """Questions, answered share, feedback, top unanswered and disliked questions since `days` ago."""
        since = (datetime.now(UTC).date() - timedelta(days=days - 1)).isoformat()
        [(questions, answered)] = self._run("SELECT COUNT(*), SUM(answered) FROM questions WHERE at >= ?", since)
        [(helpful, unhelpful)] = self._run(
            "SELECT SUM(f.helpful), SUM(1 - f.helpful) FROM feedback f JOIN questions q ON q.id = f.question_id"
            " WHERE q.at >= ?",
            since,
        )
        by_day = self._run(
            "SELECT substr(at, 1, 10), COUNT(*), SUM(answered) FROM questions WHERE at >= ? GROUP BY 1 ORDER BY 1 DESC",
            since,
        )
        by_event = self._run(
            "SELECT COALESCE(event, ''), COUNT(*), SUM(answered) FROM questions WHERE at >= ?"
            " GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
            since,
        )
        unanswered = self._run(
            "SELECT MIN(question), COUNT(*) FROM questions WHERE at >= ? AND answered = 0"
            " GROUP BY lower(trim(question)) ORDER BY 2 DESC, MAX(at) DESC LIMIT ?",
            since, top,
        )  # fmt: skip
        disliked = self._run(
            "SELECT q.question, COUNT(*) FROM feedback f JOIN questions q ON q.id = f.question_id"
            " WHERE q.at >= ? AND f.helpful = 0 GROUP BY q.id ORDER BY 2 DESC, q.id DESC LIMIT ?",
            since, top,
        )  # fmt: skip
        return Stats(
            days=days,
            total=_tally("", questions, answered),
            helpful=helpful or 0,
            unhelpful=unhelpful or 0,
            by_day=[_tally(*row) for row in by_day],
            by_event=[_tally(*row) for row in by_event],
            unanswered=[(q, n) for q, n in unanswered],
            disliked=[(q, n) for q, n in disliked],
        )
