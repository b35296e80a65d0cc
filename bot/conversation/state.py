"""What a chat carries from one update to the next, and each user's chosen language, in the bot's database.

Read and written on every update, never cached in the process: the next update may reach another replica.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from bot.conversation.tables import chats, now, upsert, users
from knowledge.language import Language


class ChatState(BaseModel):
    """One chat's conversation."""

    history: list[str] = Field(default_factory=list)  # recent questions, oldest first
    misses: int = 0  # questions in a row that went unanswered
    event: str | None = None  # from `/start event_<code>`, for the staff report
    last_question: int | None = None  # id of the last recorded answer, for /sources
    dialogue: dict[str, Any] | None = None  # a multi-step dialogue in progress (its owner decides the shape)


class Conversations:
    """The chats' and users' state, on the engine the staff records use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, chat_id: int) -> ChatState:
        """The chat's state (empty for a chat never seen)."""
        with self.engine.connect() as db:
            row = db.execute(select(chats).where(chats.c.chat_id == chat_id)).mappings().first()
        return ChatState.model_validate(dict(row)) if row else ChatState()

    def set(self, chat_id: int, **fields: Any) -> None:
        """Change some of the chat's fields (names of ChatState), leaving the others as they are."""
        unknown = set(fields) - set(ChatState.model_fields)
        if unknown:
            raise ValueError(f"not chat state: {sorted(unknown)}")
        with self.engine.begin() as db:
            db.execute(upsert(self.engine, chats, chat_id=chat_id, at=now(), **fields))

    def remember(self, chat_id: int, question: str, answered: bool, question_id: int, keep: int) -> int:
        """Add an answered question to the chat's last `keep`; returns how many in a row went unanswered."""
        with self.engine.begin() as db:
            # FOR UPDATE (PostgreSQL): two replicas answering the same chat at once append one after the other.
            row = db.execute(
                select(chats.c.history, chats.c.misses).where(chats.c.chat_id == chat_id).with_for_update()
            ).first()
            history, misses = (list(row.history), row.misses) if row else ([], 0)
            misses = 0 if answered else misses + 1
            kept = [*history, question][-keep:]
            changes = {"history": kept, "misses": misses, "last_question": question_id, "at": now()}
            db.execute(upsert(self.engine, chats, chat_id=chat_id, **changes))
        return misses

    def language(self, user_id: int) -> Language | None:
        """The interface language the user chose with /lang, if any."""
        with self.engine.connect() as db:
            found = db.scalar(select(users.c.language).where(users.c.user_id == user_id))
        return found if found in ("en", "zh") else None

    def set_language(self, user_id: int, language: Language) -> None:
        """Keep the user's choice of interface language."""
        with self.engine.begin() as db:
            db.execute(upsert(self.engine, users, user_id=user_id, language=language, at=now()))
