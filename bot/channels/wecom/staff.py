"""Staff in a WeCom group: hand-off notes posted by the group's webhook, staff replies relayed by response_url.

Staff answer a note by mentioning the bot in their group with the note's number: `@bot #123456 reply`.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass

from bot.channels.wecom.reach import deliver, post
from bot.channels.wecom.render import markdown_message, staff_markdown
from bot.conversation.identity import number, qualified
from bot.conversation.replies import Reply, say
from bot.conversation.service import ConversationService, Who

log = logging.getLogger(__name__)

STAFF_ANSWER = re.compile(r"#(\d{6})\s+(.+)", re.DOTALL)


def _note_id(code: int) -> int:
    """The number a hand-off note with this code is recorded under (beside Telegram's staff message ids)."""
    return number(qualified("wecom", f"handoff/{code}"))


@dataclass
class StaffDesk:
    """Hand-offs to a WeCom staff group: `webhook` posts there, messages from `chat` are staff replies."""

    service: ConversationService
    webhook: str | None = None
    chat: str | None = None

    async def hand_off(self, who: Who, reason_key: str) -> Reply | None:
        """Post the note to the staff group; what the user is told (None when no staff group is configured)."""
        if self.webhook is None:
            return None
        code = 100_000 + secrets.randbelow(900_000)
        note = staff_markdown(self.service.staff_note(who, reason_key), code)
        if not await post(self.webhook, markdown_message(note)):
            return say(self.service.language(who), "tg_error")
        return self.service.handed_off(who, _note_id(code))

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
        delivered = await deliver(self.service.identities, handoff.chat_id, reply)
        log.info("wecom staff reply to hand-off #%s delivered=%s", code, delivered)
        return say("en", "staff_delivered" if delivered else "wecom_staff_undelivered", who=handoff.who)
