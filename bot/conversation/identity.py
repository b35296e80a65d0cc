"""Channel-qualified ids: a chat or user of a channel with string ids ("wecom:zhangsan") as the number stored for it.

Every table keys chats and users on 64-bit integers, which Telegram's ids are. A string id is mapped to a number
in a range Telegram never uses (2**62 and up; Telegram's ids stay below 2**53), by a hash: no migration, no lookup
on the hot path, and Telegram's rows and ids unchanged. The `identities` table keeps each number's key, so a
record says which channel it came from, and a hash collision is refused instead of merging two people.
"""

from __future__ import annotations

import hashlib
import logging

from pydantic import BaseModel
from sqlalchemy import Engine, select

from bot.conversation.tables import identities, now, upsert

log = logging.getLogger(__name__)

QUALIFIED = 1 << 62  # the first number of string ids; below it: Telegram's numeric ids as they are
NUMERIC = "telegram"  # the channel whose ids are numbers, stored as they are


def qualified(channel: str, native: str) -> str:
    """The key of a chat or user: the channel's name and its own id ("wecom:zhangsan")."""
    if not channel.isalnum() or not native:
        raise ValueError(f"not a channel-qualified id: {channel!r}:{native!r}")
    return f"{channel}:{native}"


def number(key: str) -> int:
    """The number a channel-qualified key is stored under: 2**62 plus 61 bits of its BLAKE2b hash."""
    if ":" not in key:
        raise ValueError(f"not a channel-qualified id: {key!r}")
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return QUALIFIED | int.from_bytes(digest) >> 3


class Address(BaseModel):
    """Where a channel can still reach a chat after its reply window, and since when."""

    address: str
    at: str


class Identities:
    """The keys behind qualified numbers, and the latest address of each chat."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def register(self, key: str, address: str | None = None) -> int:
        """The number for `key`, recorded (with the chat's newest address, when given); ValueError on a collision."""
        found = number(key)
        values: dict[str, object] = {"id": found, "key": key, "at": now()}
        if address is not None:
            values |= {"address": address, "address_at": now()}
        with self.engine.begin() as db:
            held = db.scalar(select(identities.c.key).where(identities.c.id == found))
            if held is not None and held != key:
                log.error("identity collision: %r and %r hash to %d", held, key, found)
                raise ValueError(f"{key!r} collides with {held!r}")
            db.execute(upsert(self.engine, identities, **values))
        return found

    def key(self, chat_id: int) -> str | None:
        """The channel-qualified key of a number, None for Telegram's (and unknown) numbers."""
        with self.engine.connect() as db:
            return db.scalar(select(identities.c.key).where(identities.c.id == chat_id))

    def channel(self, chat_id: int) -> str | None:
        """The channel a chat is on (None for an unknown string id)."""
        if chat_id < QUALIFIED:
            return NUMERIC
        found = self.key(chat_id)
        return found.split(":", 1)[0] if found else None

    def address(self, chat_id: int) -> Address | None:
        """The latest address recorded for a chat, if any."""
        query = select(identities.c.address, identities.c.address_at).where(identities.c.id == chat_id)
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return Address(address=row.address, at=row.address_at) if row and row.address else None

    def spend(self, chat_id: int, address: str) -> bool:
        """Forget `address` once used (WeCom's response_url works once); False when a newer one replaced it."""
        with self.engine.begin() as db:
            changed = db.execute(
                identities.update()
                .where(identities.c.id == chat_id, identities.c.address == address)
                .values(address=None, address_at=None)
            ).rowcount
        return bool(changed)
