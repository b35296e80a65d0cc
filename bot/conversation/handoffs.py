"""Hand-offs across channels in one deployment: a user on one channel, staff in another channel's staff group.

Channels never call each other (each may run in its own process): both directions go through the outbox, which
each channel drains for its own chats. A note for the staff group is queued under a provisional number and filed
under the staff message it became once posted; a staff reply for a user elsewhere is queued to the user's chat.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict

from bot.conversation.identity import NUMERIC, number, qualified
from bot.conversation.outbox import Message, Outbox, Queued
from bot.conversation.records import Handoff
from bot.conversation.replies import Reply
from bot.conversation.service import ConversationService, StaffNote, Who
from knowledge.settings import Settings

log = logging.getLogger(__name__)

NOTE = "note:"  # outbox key prefix of a hand-off note on its way to a staff group, then its provisional number
WECOM = "wecom"  # the channel whose staff group is a webhook: filed as its chat STAFF in the outbox
STAFF = "#staff"  # a native id no WeCom user or group has


def other_staff(settings: Settings, channel: str) -> int | None:
    """The staff group of the deployment's other channel, as the outbox chat its notes are queued to: where
    `channel`'s users are handed when `channel` has no staff group of its own (None: nowhere)."""
    if channel != NUMERIC and settings.telegram_bot_token is not None and settings.telegram_staff_chat_id is not None:
        return settings.telegram_staff_chat_id
    if channel != WECOM and settings.wecom_staff_webhook is not None and settings.wecom_staff_chat_id is not None:
        return number(qualified(WECOM, STAFF))
    return None


def queue_note(service: ConversationService, outbox: Outbox, who: Who, reason_key: str, staff_chat: int) -> Reply:
    """Hand the chat to a staff group another channel serves: the note is queued for it; what the user is told."""
    provisional = number(qualified("note", uuid.uuid4().hex))
    note = json.dumps(asdict(service.staff_note(who, reason_key)), ensure_ascii=False)
    told = service.handed_off(who, provisional)
    user = who.user_id if who.user_id is not None else who.chat_id
    outbox.insert([Message(key=f"{NOTE}{provisional}", user_id=user, chat_id=staff_chat, body=note)])
    log.info("hand-off of chat %s queued for staff chat %s", who.chat_id, staff_chat)
    return told


def note_of(message: Queued) -> StaffNote | None:
    """The hand-off note a queued message carries, for the staff group's channel to render; None for others."""
    return StaffNote(**json.loads(message.body)) if message.key.startswith(NOTE) else None


def posted(service: ConversationService, message: Queued, staff_message_id: int) -> None:
    """A queued message is now in its chat as `staff_message_id`: if it is a hand-off note, staff replies to it
    reach the user from now on."""
    if message.key.startswith(NOTE):
        service.records.move_handoff(int(message.key.removeprefix(NOTE)), staff_message_id)


def elsewhere(service: ConversationService, handoff: Handoff, channel: str) -> bool:
    """Whether the handed-off user is on another channel than `channel` (where the staff member answered)."""
    return service.identities.channel(handoff.chat_id) != channel


def forward(outbox: Outbox, handoff: Handoff, reply: Reply, key: str) -> None:
    """Queue a staff reply for a user on another channel; `key` names the staff message, so it is queued once."""
    outbox.insert([Message(key=f"staff:{key}", user_id=handoff.chat_id, chat_id=handoff.chat_id, body=reply.text)])
    log.info("staff reply %s queued for chat %s", key, handoff.chat_id)
