"""Firm profiles and subscriptions in the bot's database, shared by every replica and channel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, delete, select, update

from bot.conversation.tables import now, outbox, profiles, upsert
from knowledge.facts import Facts, Scalar
from knowledge.language import Language

PAGE = 1000  # subscribed profiles read (and matched in one transaction) at a time: memory stays flat
Origin = Literal["eligibility", "typed"]  # the guided check, or a value the user typed on /profile


class Profile(BaseModel):
    """What a user chose to keep about their firm, and whether they want to hear about new matches."""

    user_id: int
    chat_id: int
    language: Language
    facts: dict[str, Scalar] = Field(default_factory=dict)
    origins: dict[str, Origin] = Field(default_factory=dict)
    subscribed: bool = False
    told: dict[str, str] = Field(default_factory=dict)  # scheme id -> signature last announced

    def as_facts(self) -> Facts:
        """The saved values as rule facts."""
        return Facts.model_validate(self.facts)


class Profiles:
    """Read, save, subscribe and forget profiles; every call is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, user_id: int) -> Profile | None:
        """The user's profile, or None when nothing is saved."""
        with self.engine.connect() as db:
            row = db.execute(select(profiles).where(profiles.c.user_id == user_id)).mappings().first()
        return Profile.model_validate(dict(row)) if row else None

    def save(self, profile: Profile) -> None:
        """Store the profile as given (facts are validated first, so nothing invalid is written)."""
        profile.as_facts()
        with self.engine.begin() as db:
            db.execute(upsert(self.engine, profiles, **profile.model_dump(mode="json"), at=now()))

    def merge(self, user_id: int, chat_id: int, language: Language, facts: dict[str, Scalar], origin: Origin) -> None:
        """Add or replace some facts, noting where they came from; the rest of the profile stays."""
        profile = self.get(user_id) or Profile(user_id=user_id, chat_id=chat_id, language=language)
        profile.facts |= facts
        profile.origins |= dict.fromkeys(facts, origin)
        self.save(profile.model_copy(update={"chat_id": chat_id, "language": language}))

    def subscribe(self, user_id: int, on: bool, told: dict[str, str] | None = None) -> bool:
        """Opt the user in or out; `told` is what they match now, so only later changes are news.

        False when there is no profile to match.
        """
        values = {"subscribed": on, "at": now()} | ({"told": told} if told is not None else {})
        with self.engine.begin() as db:
            result = db.execute(update(profiles).where(profiles.c.user_id == user_id).values(**values))
        return result.rowcount > 0

    def forget(self, user_id: int) -> bool:
        """Delete, in one transaction, the profile with its subscription, what the user was told and their unsent
        notices; False when there was no profile."""
        with self.engine.begin() as db:
            result = db.execute(delete(profiles).where(profiles.c.user_id == user_id))
            db.execute(delete(outbox).where(outbox.c.user_id == user_id, outbox.c.sent_at.is_(None)))
        return result.rowcount > 0

    def subscribed(self, after: int = -(2**63), limit: int | None = None) -> list[Profile]:
        """Subscribed profiles by user id, those after `after` (a page at a time when `limit` is given)."""
        query = select(profiles).where(profiles.c.subscribed.is_(True), profiles.c.user_id > after)
        with self.engine.connect() as db:
            rows = db.execute(query.order_by(profiles.c.user_id).limit(limit)).mappings().all()
        return [Profile.model_validate(dict(row)) for row in rows]

    def pages(self) -> Iterator[list[Profile]]:
        """Every subscribed profile, PAGE at a time: memory stays flat however many users there are."""
        after = -(2**63)
        while batch := self.subscribed(after, PAGE):
            yield batch
            after = batch[-1].user_id
