"""Curated answers staff saved from the chat or imported: rows in the bot's database, served like curated.yaml
entries by every replica (the assistant checks `version()` before each question and rereads on a change)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection, Engine, Insert, Select, delete, insert, select

from bot.conversation.tables import DATABASE_FILE, connect, count_revision, database_url, now, revisions, saved_answers
from bot.core.curated import SavedEntry
from knowledge.language import Language, detect_language

if TYPE_CHECKING:
    from bot.core.assistant import Assistant
    from knowledge.settings import Settings

log = logging.getLogger(__name__)

MAX_QUESTION = 1000  # characters, as a question the bot takes (bot.core.assistant.MAX_QUESTION_CHARS)
MAX_ANSWER = 4096  # characters: one Telegram message, the longest reply staff can write there


class NewAnswer(BaseModel):
    """A question and its answer as staff give them; alternatives are other phrasings of the question."""

    model_config = ConfigDict(str_strip_whitespace=True)

    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    answer: str = Field(min_length=1, max_length=MAX_ANSWER)
    alternatives: list[str] = Field(default_factory=list)

    @field_validator("alternatives")
    @classmethod
    def _distinct(cls, alternatives: list[str]) -> list[str]:
        kept = [" ".join(a.split()) for a in alternatives if a.strip()]
        if too_long := next((a for a in kept if len(a) > MAX_QUESTION), None):
            raise ValueError(f"an alternative question is over {MAX_QUESTION} characters: {too_long[:40]}…")
        return list(dict.fromkeys(kept))


class SavedAnswer(NewAnswer):
    """A stored answer: who saved it and when (ISO 8601 UTC)."""

    id: int
    language: Language
    saved_by: str
    at: str

    def entry(self) -> SavedEntry:
        """As a curated.yaml entry: its question variants by language, the answer in the language it was written in."""
        questions: dict[str, list[str]] = {"en": [], "zh": []}
        for phrasing in dict.fromkeys([self.question, *self.alternatives]):
            questions[detect_language(phrasing)].append(phrasing)
        return SavedEntry(
            id=f"saved-{self.id}",
            questions=questions,  # type: ignore[arg-type]
            answer={self.language: self.answer},  # type: ignore[arg-type]
            saved_by=self.saved_by,
            saved_at=self.at,
        )


_NAME = "saved_answers"  # its counter in `revisions`


def _bump(db: Connection) -> None:
    """Count a change, in the transaction that makes it: replicas see the new count and reread."""
    db.execute(count_revision(db.engine, _NAME))


class SavedAnswers:
    """The saved answers table; a `CuratedSupply` for the assistant."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, new: NewAnswer, saved_by: str) -> int:
        """Store one answer; returns its id."""
        return self.add_all([new], saved_by)[0]

    def add_all(self, new: list[NewAnswer], saved_by: str) -> list[int]:
        """Store the answers in one transaction (all or none); returns their ids."""
        at = now()
        with self.engine.begin() as db:
            ids = [int(db.execute(self._row(item, saved_by, at)).inserted_primary_key[0]) for item in new]
            _bump(db)
        log.info("saved answers added: %d by %s", len(ids), saved_by)
        return ids

    @staticmethod
    def _row(item: NewAnswer, saved_by: str, at: str) -> Insert:
        return insert(saved_answers).values(
            question=item.question, answer=item.answer, language=detect_language(item.answer),
            alternatives=item.alternatives, saved_by=saved_by, at=at,
        )  # fmt: skip

    def remove(self, answer_id: int) -> bool:
        """Delete one answer; False when there is none with that id."""
        with self.engine.begin() as db:
            gone = db.execute(delete(saved_answers).where(saved_answers.c.id == answer_id)).rowcount > 0
            if gone:
                _bump(db)
        log.info("saved answer %s removed: %s", answer_id, gone)
        return gone

    def all(self) -> list[SavedAnswer]:
        """Every saved answer, oldest first."""
        return self._select(select(saved_answers).order_by(saved_answers.c.id))

    def get(self, answer_id: int) -> SavedAnswer | None:
        """One saved answer, if it exists."""
        found = self._select(select(saved_answers).where(saved_answers.c.id == answer_id))
        return found[0] if found else None

    def _select(self, query: Select[Any]) -> list[SavedAnswer]:
        with self.engine.connect() as db:
            rows = db.execute(query).mappings().all()
        return [SavedAnswer.model_validate(dict(row)) for row in rows]

    def version(self) -> int:
        """Changes so far (0: none ever): the assistant rereads the entries when it moves."""
        with self.engine.connect() as db:
            return db.scalar(select(revisions.c.revision).where(revisions.c.name == _NAME)) or 0

    def entries(self) -> list[SavedEntry]:
        """The saved answers as curated entries."""
        return [saved.entry() for saved in self.all()]


def serve_saved(assistant: Assistant, settings: Settings) -> SavedAnswers:
    """Have `assistant` also answer from the saved answers in the bot's database (DATABASE_URL): every channel that
    answers users calls this, so an answer saved from one is served by Telegram, WeCom, HTTP, the console and `ask`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the default database is a SQLite file there
    answers = SavedAnswers(connect(database_url(settings)))
    assistant.use_saved(answers)
    return answers


def stored_answers(settings: Settings) -> SavedAnswers | None:
    """The saved answers of the bot's database, None when the bot has none yet (no SQLite file in DATA_DIR): a reader
    such as `ingest.py --dry-run` must not create one."""
    if settings.database_url is None and not (settings.data_dir / DATABASE_FILE).is_file():
        return None
    return SavedAnswers(connect(database_url(settings)))
