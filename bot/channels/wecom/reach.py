"""Writing to a WeCom chat outside a callback's reply: the chat's latest response_url, else the long connection's
active push (aibot_send_msg), and a staff group's webhook.

A response_url comes with each message or click and works once, within an hour; the conversation layer keeps each
chat's newest one as its address and sending spends it. In long-connection mode the bot may also push markdown to a
chat whose user has written to it before, at any time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from bot.channels.wecom.render import markdown_message, reply_markdown
from bot.conversation.identity import Identities
from bot.conversation.notify import Delivery
from bot.conversation.outbox import Queued
from bot.conversation.replies import Reply

log = logging.getLogger(__name__)

RESPONSE_URL_LIFE = timedelta(hours=1)
GROUP = "chat/"  # the native id of a group chat is "chat/<chatid>", of a single chat the user's id

# Given WeCom's chatid, chat_type (1 single, 2 group) and a message body: True once WeCom accepted it.
Push = Callable[[str, int, dict], Awaitable[bool]]


async def post(url: str, body: dict) -> bool:
    """POST a message to a response_url or a group webhook; True when WeCom answers errcode 0."""
    try:
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning("wecom post to %s failed: %s", url.split("?")[0], error)
        return False
    if answer.get("errcode") != 0:
        log.warning("wecom post to %s refused: %s", url.split("?")[0], answer)
    return answer.get("errcode") == 0


@dataclass
class Reach:
    """The ways to a chat after its callback's reply: `push` is the long connection's, when that is the mode."""

    identities: Identities
    push: Push | None = None

    async def deliver(self, chat_id: int, reply: Reply) -> bool:
        """Send a reply to a chat; False when no way to it is open now."""
        return await self.markdown(chat_id, reply_markdown(reply))

    async def send(self, message: Queued) -> Delivery:
        """An outbox message (a notice, a staff reply from another channel's staff group): tried again after the
        outbox's lease when the chat cannot be reached now (its user writes again, the long connection is back)."""
        return Delivery.SENT if await self.markdown(message.chat_id, message.body) else Delivery.LATER

    async def markdown(self, chat_id: int, content: str) -> bool:
        """Send markdown by the chat's fresh response_url, else by active push."""
        body = markdown_message(content)
        return await self._by_response_url(chat_id, body) or await self._pushed(chat_id, body)

    async def _by_response_url(self, chat_id: int, body: dict) -> bool:
        address = self.identities.address(chat_id)
        if address is None or datetime.fromisoformat(address.at) < datetime.now(UTC) - RESPONSE_URL_LIFE:
            return False
        if not self.identities.spend(chat_id, address.address):  # another replica used it meanwhile
            return False
        return await post(address.address, body)

    async def _pushed(self, chat_id: int, body: dict) -> bool:
        key = self.identities.key(chat_id)
        if self.push is None or key is None:
            log.info("wecom chat %s has no fresh response_url and no long connection: not delivered", chat_id)
            return False
        native = key.split(":", 1)[1]
        if native.startswith(GROUP):
            return await self.push(native.removeprefix(GROUP), 2, body)
        return await self.push(native, 1, body)
