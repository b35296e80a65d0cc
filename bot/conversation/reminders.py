"""Deadline reminders: each day, queue for every subscribed user the reminders due for the windows they match.

A reminder's key names the user, the scheme, the closing date and the threshold (7 or 1 days by default), so it is
queued once whichever replica or restart decides it. Unsent reminders that are no longer due (the window moved or
closed, the match ended) are withdrawn in the same transaction: a changed date replaces the reminder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from bot.conversation.outbox import Message, Outbox
from bot.conversation.profiles import Profile, Profiles
from bot.core.deadlines import due, reminder_text
from bot.core.matching import matched, signature
from knowledge.schemes import Scheme, Window

log = logging.getLogger(__name__)

PREFIX = "remind:"


def _due(
    profile: Profile,
    windowed: list[tuple[Scheme, Window]],
    signatures: dict[str, str],
    today: date,
    days: Sequence[int],
) -> list[Message]:
    mine = matched(profile.as_facts(), [scheme for scheme, _ in windowed], signatures)
    found = []
    for scheme, window in windowed:
        threshold = due(window, today, days) if scheme.scheme in mine else None
        if threshold is not None:
            key = f"{PREFIX}{profile.user_id}:{scheme.scheme}:{window.closes}:{threshold}"
            body = reminder_text(scheme, window, profile.language, today)
            found.append(Message(key=key, user_id=profile.user_id, chat_id=profile.chat_id, body=body))
    return found


def remind(store: Profiles, outbox: Outbox, schemes: list[Scheme], today: date, days: Sequence[int]) -> int:
    """Queue today's reminders for every subscribed user and withdraw those no longer due; how many were due."""
    windowed = [(scheme, scheme.window) for scheme in schemes if scheme.window is not None]
    signatures = {scheme.scheme: signature(scheme) for scheme, _ in windowed}
    count = 0
    for batch in store.pages():
        messages = [m for profile in batch for m in _due(profile, windowed, signatures, today, days)]
        with outbox.engine.begin() as db:
            outbox.withdraw_in(db, [profile.user_id for profile in batch], PREFIX, {m.key for m in messages})
            outbox.insert_in(db, messages)
        count += len(messages)
    log.info("deadline reminders due day=%s reminders=%d", today, count)
    return count
