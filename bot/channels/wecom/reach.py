"""Writing to a WeCom chat outside a callback's reply: the chat's latest response_url, or a group's webhook.

WeCom gives a bot no other way to write later: a response_url comes with each message or click and works once,
within an hour. The conversation layer keeps each chat's newest one as its address; sending spends it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import aiohttp

from bot.channels.wecom.render import markdown_message, reply_markdown
from bot.conversation.identity import Identities
from bot.conversation.replies import Reply

log = logging.getLogger(__name__)

RESPONSE_URL_LIFE = timedelta(hours=1)


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


async def deliver(identities: Identities, chat_id: int, reply: Reply) -> bool:
    """Send a reply to a chat by its latest unspent response_url, if it is less than an hour old."""
    address = identities.address(chat_id)
    if address is None or datetime.fromisoformat(address.at) < datetime.now(UTC) - RESPONSE_URL_LIFE:
        log.info("wecom chat %s has no fresh response_url: not delivered", chat_id)
        return False
    if not identities.spend(chat_id, address.address):  # another replica used it meanwhile
        return False
    return await post(address.address, markdown_message(reply_markdown(reply)))
