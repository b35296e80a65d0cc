"""Staff for WeCom users: a WeCom group (notes posted by its webhook, replies relayed like any message to a chat),
else another channel's staff group in the same deployment (notes and replies through the outbox).

Staff answer a note in the WeCom group by mentioning the bot with the note's number: `@bot #123456 reply`.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from dataclasses import dataclass

from bot.channels.wecom.reach import Reach, post
from bot.channels.wecom.render import markdown_message, staff_markdown
from bot.conversation import handoffs
from bot.conversation.identity import number, qualified
from bot.conversation.notify import Delivery
from bot.conversation.outbox import Outbox, Queued
from bot.conversation.replies import Reply, say
from bot.conversation.service import ConversationService, StaffNote, Who
from knowledge.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = handoffs.WECOM
STAFF_ANSWER = re.compile(r"#(\d{6})\s+(.+)", re.DOTALL)


def _note_id(code: int) -> int:
    """The number a hand-off note with this code is recorded under (beside Telegram's staff message ids)."""
    return number(qualified(CHANNEL, f"handoff/{code}"))


def staffed(settings: Settings) -> bool:
    """Whether a staff group takes WeCom users' hand-offs: WeCom's own, or the Telegram bot's."""
    return settings.wecom_staff_webhook is not None or handoffs.other_staff(settings, CHANNEL) is not None


@dataclass
class StaffDesk:
    """Hand-offs to a WeCom staff group (`webhook` posts there, messages from `chat` are staff replies), else to
    `other_staff`, the staff group of the deployment's Telegram bot, through `outbox` (which also brings Telegram
    users' notes for the WeCom group)."""

    service: ConversationService
    reach: Reach
    outbox: Outbox
    webhook: str | None = None
    chat: str | None = None
    other_staff: int | None = None

    async def hand_off(self, who: Who, reason_key: str) -> Reply | None:
        """Post the note to the staff group; what the user is told (None when no staff group is configured)."""
        if self.webhook is None:
            if self.other_staff is None:
                return None
            return handoffs.queue_note(self.service, self.outbox, who, reason_key, self.other_staff)
        code = await self._post(self.service.staff_note(who, reason_key))
        if code is None:
            return say(self.service.language(who), "tg_error")
        return self.service.handed_off(who, _note_id(code))

    async def _post(self, note: StaffNote) -> int | None:
        """Post a hand-off note to the WeCom staff group; the number staff answer it by (None: not posted)."""
        code = 100_000 + secrets.randbelow(900_000)
        posted = self.webhook is not None and await post(self.webhook, markdown_message(staff_markdown(note, code)))
        return code if posted else None

    async def send(self, message: Queued) -> Delivery:
        """An outbox message for WeCom: a Telegram user's hand-off note to the staff group, anything else to its
        chat."""
        note = handoffs.note_of(message)
        if note is None:
            return await self.reach.send(message)
        code = await self._post(note)
        if code is None:
            return Delivery.RETRY
        handoffs.posted(self.service, message, _note_id(code))
        return Delivery.SENT

    async def relay(self, message: str) -> Reply:
        """A staff member's `#code reply` in the staff group: deliver it; what staff are told."""
        found = STAFF_ANSWER.search(message)
        if found is None:
            return say("en", "wecom_staff_usage")
        code, answer = found.group(1), found.group(2).strip()
        relayed = self.service.staff_reply(_note_id(int(code)), answer)
        if relayed is None:
            return say("en", "wecom_staff_unknown", code=code)
        handoff, reply = relayed
        if handoffs.elsewhere(self.service, handoff, CHANNEL):  # a Telegram user: the Telegram bot sends it
            handoffs.forward(self.outbox, handoff, reply, f"wecom/{code}/{uuid.uuid4().hex}")
            return say("en", "staff_forwarded", who=handoff.who)
        delivered = await self.reach.deliver(handoff.chat_id, reply)
        log.info("wecom staff reply to hand-off #%s delivered=%s", code, delivered)
        return say("en", "staff_delivered" if delivered else "wecom_staff_undelivered", who=handoff.who)
