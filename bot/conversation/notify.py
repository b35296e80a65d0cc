"""After a publish: match every subscribed profile against the new rules and queue what changed for each user.

Each batch of profiles is one transaction with its queued messages, so a restart mid-way redoes at most one batch,
and the outbox keys (generation, user, scheme, change) keep a redone or doubly-claimed batch from queueing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import and_, update

from bot.conversation.firm import Firms
from bot.conversation.outbox import Message, Outbox, Queued, stamp
from bot.conversation.profiles import Profile, Profiles
from bot.conversation.reminders import remind
from bot.conversation.tables import announcements, profiles
from bot.core.assistant import Assistant
from bot.core.matching import notice_text, notices, signature
from knowledge.retrieve import IndexMissing
from knowledge.schemes import Scheme
from knowledge.store import StoreUnavailable

log = logging.getLogger(__name__)

SEND_BATCH = 50  # messages claimed at a time: under 2 s at Telegram's pace, what a stopping bot finishes sending


class Delivery(StrEnum):
    """What became of one message handed to a channel."""

    SENT = "sent"
    GONE = "gone"  # the user blocked the bot or the chat is gone: marked done, never tried again
    RETRY = "retry"  # the platform failed: given back for the next round
    LATER = "later"  # no way to the chat now (WeCom: no fresh response_url): kept claimed, tried after the lease


Send = Callable[[Queued], Awaitable[Delivery]]


def _claim(outbox: Outbox, generation: str, lease: timedelta) -> bool:
    """True when this replica is to match `generation`: nobody has, or a claim went stale unfinished."""
    moment = outbox.clock()
    with outbox.engine.begin() as db:
        free = and_(announcements.c.generation == generation, announcements.c.done.is_(False))
        stale = announcements.c.claimed_at < stamp(moment - lease)
        taken = db.execute(update(announcements).where(free, stale).values(claimed_at=stamp(moment))).rowcount
        if taken:
            return True
        exists = db.execute(announcements.select().where(announcements.c.generation == generation)).first()
        if exists:
            return False
        db.execute(announcements.insert().values(generation=generation, claimed_at=stamp(moment), done=False))
        return True


def _messages(
    generation: str, profile: Profile, schemes: list[Scheme], signatures: dict[str, str]
) -> tuple[list[Message], dict[str, str]]:
    found, told = notices(profile.told, profile.as_facts(), schemes, signatures)
    return [
        Message(
            key=f"{generation}:{profile.user_id}:{notice.scheme_id}:{notice.change}",
            user_id=profile.user_id,
            chat_id=profile.chat_id,
            body=notice_text(notice, profile.language),
        )
        for notice in found
    ], told


def announce(
    generation: str, store: Profiles, outbox: Outbox, schemes: list[Scheme], lease: timedelta = timedelta(minutes=5)
) -> int | None:
    """Queue every subscribed user's notices for `generation`; None when another replica has it (or had it)."""
    if not _claim(outbox, generation, lease):
        return None
    queued, signatures = 0, {scheme.scheme: signature(scheme) for scheme in schemes}
    for batch in store.pages():
        found = [(profile, *_messages(generation, profile, schemes, signatures)) for profile in batch]
        changed = [(profile, messages, told) for profile, messages, told in found if told != profile.told]
        with outbox.engine.begin() as db:
            outbox.insert_in(db, [message for _, messages, _ in changed for message in messages])
            for profile, _, told in changed:
                db.execute(update(profiles).where(profiles.c.user_id == profile.user_id).values(told=told))
        queued += sum(len(messages) for _, messages, _ in changed)
    with outbox.engine.begin() as db:
        db.execute(update(announcements).where(announcements.c.generation == generation).values(done=True))
    log.info("matched profiles generation=%s notices=%d", generation, queued)
    return queued


@dataclass(frozen=True)
class Seen:
    """What a replica has queued for: the index generation it matched, the day it reminded."""

    generation: str | None = None
    day: date | None = None


def queue(assistant: Assistant, store: Profiles, outbox: Outbox, days: Sequence[int], seen: Seen) -> Seen:
    """Queue the notices of a newly published generation, and the deadline reminders once a day (or generation)."""
    try:
        generation = assistant.searcher.info.generation
    except (IndexMissing, StoreUnavailable):
        return seen
    advisor, today = assistant.advisor, outbox.clock().date()  # the advisor follows the index: its rules
    if advisor is None:
        return Seen(generation, today)
    if generation != seen.generation:
        announce(generation, store, outbox, advisor.schemes, outbox.lease)
    if (generation, today) != (seen.generation, seen.day):
        remind(store, outbox, advisor.schemes, today, days)
    return Seen(generation, today)


async def _deliver(outbox: Outbox, send: Send, message: Queued) -> Delivery:
    outcome = await send(message)
    if outcome is Delivery.RETRY:
        await asyncio.to_thread(outbox.release, message.id)
    elif outcome is not Delivery.LATER:  # a message kept for later stays claimed: the next claim takes others
        await asyncio.to_thread(outbox.sent, message.id)
    return outcome


async def drain(
    outbox: Outbox,
    send: Send,
    stopping: Callable[[], bool] = lambda: False,
    batch: int = SEND_BATCH,
    channel: str | None = None,
) -> int:
    """Send every queued message to `channel`'s chats nobody else is sending through the channel's `send` (its
    pacer); how many sent.

    A batch is finished once begun: a bot stopping (`stopping`) marks every message it sent, and its restart repeats
    none. Only a hard kill can repeat the few requests in flight at that moment."""
    done = 0
    while not stopping() and (messages := await asyncio.to_thread(outbox.claim, batch, channel)):
        outcomes = await asyncio.gather(*(_deliver(outbox, send, message) for message in messages))
        done += sum(outcome in (Delivery.SENT, Delivery.GONE) for outcome in outcomes)
        if all(outcome is Delivery.RETRY for outcome in outcomes):
            break  # the platform refuses everything: the rest waits for the next round
    return done


async def watch(firms: Firms, send: Send, stop: asyncio.Event, channel: str) -> None:
    """Until `stop`: queue notices for each new generation and reminders each day, then send what is queued for
    `channel`'s chats; a failure waits a round. Once `stop` is set, the batch being sent is finished first."""
    settings, seen = firms.service.settings, Seen()
    while not stop.is_set():
        try:
            seen = await asyncio.to_thread(
                queue, firms.service.assistant, firms.profiles, firms.outbox, settings.reminder_days, seen
            )
            await drain(firms.outbox, send, stop.is_set, channel=channel)
        except Exception:  # a database or network hiccup must not end the notices for good
            log.exception("notices round failed channel=%s", channel)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.notice_poll_seconds)
