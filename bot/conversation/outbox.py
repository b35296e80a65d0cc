"""The persisted outbox: messages the bot sends on its own, queued once by key and marked sent one by one.

A replica claims a batch, sends each message through the channel's pacer and marks it sent straight after; a
replica that dies mid-batch leaves claimed rows that another (or its restart) takes over once `lease` has passed.
The only window for a repeat is a crash between Telegram accepting a message and the mark being written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Connection, Engine, and_, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.conversation.identity import NUMERIC, QUALIFIED
from bot.conversation.tables import identities, outbox

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """A time as stored in the `at` columns."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Message(BaseModel):
    """One message to send: `key` names the event it reports, so it is queued once however often it is decided."""

    key: str
    user_id: int
    chat_id: int
    body: str


class Queued(Message):
    """A message taken from the outbox to send now."""

    id: int


def _for(channel: str | None) -> ColumnElement[bool]:
    """The outbox rows whose chat is on `channel` (None: every channel): each channel sends only its own."""
    if channel is None:
        return true()
    if channel == NUMERIC:
        return outbox.c.chat_id < QUALIFIED
    return outbox.c.chat_id.in_(select(identities.c.id).where(identities.c.key.startswith(f"{channel}:")))


class Outbox:
    """Queue, claim and mark messages in the bot's database."""

    def __init__(self, engine: Engine, clock: Clock = utc_now, lease: timedelta = timedelta(minutes=5)) -> None:
        self.engine = engine
        self.clock = clock
        self.lease = lease

    def insert(self, messages: list[Message]) -> None:
        """Queue messages; one whose key is already queued or sent is left out."""
        with self.engine.begin() as db:
            self.insert_in(db, messages)

    def insert_in(self, db: Connection, messages: list[Message]) -> None:
        """`insert` within the caller's transaction, so the messages commit with what decided them."""
        if not messages:
            return
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        at = stamp(self.clock())
        rows = [message.model_dump() | {"at": at} for message in messages]
        db.execute(dialect.insert(outbox).on_conflict_do_nothing(index_elements=["key"]), rows)  # executemany

    def claim(self, limit: int, channel: str | None = None) -> list[Queued]:
        """Up to `limit` unsent messages to `channel`'s chats nobody else is sending, oldest first, now claimed by
        the caller."""
        moment = self.clock()
        free = or_(outbox.c.claimed_at.is_(None), outbox.c.claimed_at < stamp(moment - self.lease))
        with self.engine.begin() as db:
            unsent = and_(outbox.c.sent_at.is_(None), free, _for(channel))
            ids = select(outbox.c.id).where(unsent).order_by(outbox.c.id).limit(limit)
            if self.engine.dialect.name == "postgresql":
                ids = ids.with_for_update(skip_locked=True)  # two replicas never claim the same row
            chosen = db.execute(ids).scalars().all()
            if not chosen:
                return []
            # Claimed again only if still free: on SQLite another replica may have read the same ids meanwhile.
            token = uuid.uuid4().hex
            mine = and_(outbox.c.id.in_(chosen), outbox.c.sent_at.is_(None), free)
            db.execute(update(outbox).where(mine).values(claimed_at=stamp(moment), claimed_by=token))
            taken = select(outbox).where(outbox.c.claimed_by == token).order_by(outbox.c.id)
            rows = db.execute(taken).mappings().all()
        return [Queued.model_validate(dict(row)) for row in rows]

    def sent(self, message_id: int) -> None:
        """Mark one message sent, so no replica sends it again."""
        with self.engine.begin() as db:
            db.execute(update(outbox).where(outbox.c.id == message_id).values(sent_at=stamp(self.clock())))

    def release(self, message_id: int) -> None:
        """Give a claimed message back (sending failed): the next drain tries it again."""
        with self.engine.begin() as db:
            db.execute(update(outbox).where(outbox.c.id == message_id).values(claimed_at=None))

    def pending(self) -> int:
        """How many messages are not sent yet."""
        with self.engine.connect() as db:
            return db.execute(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))).scalar_one()

    def withdraw_in(self, db: Connection, user_ids: list[int], prefix: str, keep: set[str]) -> None:
        """Within the caller's transaction: drop these users' unsent messages whose key starts with `prefix`, but
        those in `keep` (reminders no longer due: a window that closed or moved, a match that ended)."""
        stale = and_(outbox.c.user_id.in_(user_ids), outbox.c.sent_at.is_(None), outbox.c.key.startswith(prefix))
        db.execute(outbox.delete().where(stale, outbox.c.key.not_in(keep)))

    def drop_user(self, user_id: int) -> None:
        """Withdraw a user's unsent messages (after /forget nothing more reaches them)."""
        with self.engine.begin() as db:
            db.execute(outbox.delete().where(and_(outbox.c.user_id == user_id, outbox.c.sent_at.is_(None))))
