"""The bot's database: its tables, and the engine every replica opens on the same DATABASE_URL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    make_url,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from knowledge.settings import Settings

log = logging.getLogger(__name__)

DATABASE_FILE = "telegram.sqlite3"  # the bot's state when DATABASE_URL is unset (the name predates other channels)

metadata = MetaData()

# `at` columns hold ISO 8601 UTC text: it sorts, compares and cuts into days the same way on SQLite and PostgreSQL,
# and files written before the move to SQLAlchemy read unchanged.
questions = Table(
    "questions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", String(32), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("user_id", BigInteger),
    Column("event", String(64)),
    Column("language", String(8), nullable=False),
    Column("question", Text, nullable=False),
    Column("answered", Boolean, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("sources", JSON, nullable=False),
)
feedback = Table(
    "feedback",
    metadata,
    Column("question_id", Integer, ForeignKey("questions.id"), primary_key=True),
    Column("user_id", BigInteger, primary_key=True),
    Column("helpful", Boolean, nullable=False),
    Column("at", String(32), nullable=False),
)
handoffs = Table(
    "handoffs",
    metadata,
    Column("staff_message_id", BigInteger, primary_key=True, autoincrement=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("user_id", BigInteger),
    Column("language", String(8), nullable=False),
    Column("who", Text, nullable=False),
    Column("at", String(32), nullable=False),
    Column("question_id", Integer),  # the question the user was handed over on (a knowledge gap); added in issue 14
)
chats = Table(
    "chats",
    metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("history", JSON, nullable=False, default=list),
    Column("misses", Integer, nullable=False, default=0),
    Column("event", String(64)),
    Column("last_question", Integer),
    Column("dialogue", JSON),
    Column("at", String(32), nullable=False),
)
users = Table(
    "users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("language", String(8)),
    Column("at", String(32), nullable=False),
)
# Chats and users of channels whose ids are strings (WeCom "zhangsan"): the number every other table stores for
# the channel-qualified key (bot/conversation/identity.py), and where the channel can still reach the chat after
# its reply window (`address`, e.g. WeCom's latest response_url, as of `address_at`). Telegram's own numeric ids
# are stored as they are and have no row here.
identities = Table(
    "identities",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("key", String(200), nullable=False, unique=True),
    Column("address", Text),
    Column("address_at", String(32)),
    Column("at", String(32), nullable=False),
)
# A firm profile (issue 15): the rule facts a user chose to save, where each came from, and whether the user wants
# to hear about new matches. `told` is what the user was last told they match (scheme id -> signature), so a
# change is announced once whichever replica or restart notices it.
profiles = Table(
    "profiles",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("language", String(8), nullable=False),
    Column("facts", JSON, nullable=False),
    Column("origins", JSON, nullable=False),
    Column("subscribed", Boolean, nullable=False, default=False),
    Column("told", JSON, nullable=False, default=dict),
    Column("at", String(32), nullable=False),
)
# Messages the bot decided to send on its own (match notices, deadline reminders), kept until sent: `key` names
# the event so deciding it twice (two replicas, a restart) queues it once; `claimed_at` lets a replica that died
# mid-send have its rows taken over after a lease.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("user_id", BigInteger, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("claimed_at", String(32)),
    Column("claimed_by", String(32)),  # the claim's random token: which rows this claim got
    Column("sent_at", String(32)),
    Column("at", String(32), nullable=False),
)
# Index generations whose profiles were matched: one replica matches each; another takes over a stale claim.
announcements = Table(
    "announcements",
    metadata,
    Column("generation", String(64), primary_key=True),
    Column("claimed_at", String(32), nullable=False),
    Column("done", Boolean, nullable=False, default=False),
)

# Curated answers staff saved from the chat or imported (issue 14): served like curated.yaml entries by every
# replica. `revisions` holds one counter per table whose rows replicas cache: bumped in the same transaction as
# any change to them, read before each question (one primary-key lookup).
saved_answers = Table(
    "saved_answers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("language", String(8), nullable=False),  # the answer's
    Column("alternatives", JSON, nullable=False, default=list),  # other phrasings of the question, either language
    Column("saved_by", Text, nullable=False),
    Column("at", String(32), nullable=False),
)
revisions = Table(
    "revisions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("revision", Integer, nullable=False),
)


def now() -> str:
    """The time to store in an `at` column."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets the bot read while a write is in progress; the timeout waits out another writer instead of failing.
    # synchronous=NORMAL, the usual WAL pairing: no fsync per commit (a power cut may lose the last few, not the file).
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def connect(url: str) -> Engine:
    """An engine on `url` with every table created; SQLite files get WAL mode."""
    dialect = make_url(url).get_dialect().name
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"DATABASE_URL: {dialect} is not supported; use SQLite or PostgreSQL")
    # A pooled PostgreSQL connection may have been dropped by the server or a proxy: test it before use.
    engine = create_engine(url, pool_pre_ping=dialect == "postgresql")
    if dialect == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Replicas starting together would race to create the same tables; one at a time, the rest find them.
            connection.execute(text("SELECT pg_advisory_xact_lock(72002)"))
        metadata.create_all(connection)
        _add_new_columns(connection)
    return engine


def _add_new_columns(connection: Connection) -> None:
    """Columns added to a table after databases were made with it: nullable ones, added in place."""
    present = inspect(connection)
    for table in metadata.sorted_tables:
        have = {column["name"] for column in present.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have and column.nullable:
                kind = column.type.compile(connection.dialect)
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
                log.info("database: added column %s.%s", table.name, column.name)


def _insert(engine: Engine) -> Any:
    """The dialect's INSERT, which has ON CONFLICT."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


def upsert(engine: Engine, table: Table, **values: object) -> Insert:
    """INSERT `values`, or UPDATE the other columns of the row with the same primary key."""
    statement = _insert(engine)(table).values(**values)
    keys = [column.name for column in table.primary_key]
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in values if name not in keys}
    )


def count_revision(engine: Engine, name: str) -> Insert:
    """Add one to the `revisions` counter `name` (created at 1)."""
    statement = _insert(engine)(revisions).values(name=name, revision=1)
    return statement.on_conflict_do_update(index_elements=["name"], set_={"revision": revisions.c.revision + 1})


def database_url(settings: Settings) -> str:
    """DATABASE_URL, else SQLite in DATA_DIR (one machine)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return f"sqlite:///{settings.data_dir.resolve() / DATABASE_FILE}"
