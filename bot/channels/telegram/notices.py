"""Notices the bot sends on its own: match profiles when a new index is published, then drain the outbox.

Messages go through the bot's rate limiter, the same pacer as answers (~30/s overall, one at a time per chat).
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.channels.telegram.session import Services, services
from bot.conversation.notify import announce
from bot.conversation.outbox import Outbox, Queued
from knowledge.retrieve import IndexMissing
from knowledge.store import StoreUnavailable

log = logging.getLogger(__name__)

BATCH = 200  # messages claimed at a time: several seconds' worth at Telegram's overall pace


async def _send(bot: Bot, outbox: Outbox, message: Queued) -> bool:
    """Send one message and mark it; a chat that blocked the bot or is gone is marked too, never retried."""
    try:
        await bot.send_message(message.chat_id, html.escape(message.body))
    except (Forbidden, BadRequest):
        log.warning("notice dropped chat=%s key=%s", message.chat_id, message.key, exc_info=True)
    except TelegramError:
        log.warning("notice not sent, retried later chat=%s key=%s", message.chat_id, message.key, exc_info=True)
        outbox.release(message.id)
        return False
    outbox.sent(message.id)
    return True


async def deliver(bot: Bot, outbox: Outbox) -> int:
    """Send every queued notice nobody else is sending; the number sent."""
    sent = 0
    while batch := await asyncio.to_thread(outbox.claim, BATCH):
        results = await asyncio.gather(*(_send(bot, outbox, message) for message in batch))
        sent += sum(results)
        if not any(results):
            break  # Telegram refuses everything: leave the rest for the next round
    return sent


def _match(found: Services, last: str | None) -> str | None:
    """Queue notices for a newly published generation; the generation now matched (or still `last`)."""
    assistant = found.assistant
    try:
        generation = assistant.searcher.info.generation
    except (IndexMissing, StoreUnavailable):
        return last
    advisor = assistant.advisor
    if generation == last or advisor is None:
        return generation
    announce(generation, found.profiles, found.outbox, advisor.schemes, found.outbox.lease)
    return generation


async def watch(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Forever: match profiles against each new generation, then send what is queued; errors wait a round."""
    found = services(application)
    last: str | None = None
    while True:
        try:
            last = await asyncio.to_thread(_match, found, last)
            await deliver(application.bot, found.outbox)
        except Exception:  # a database or network hiccup must not end the notices for good
            log.exception("notices round failed")
        await asyncio.sleep(found.settings.notice_poll_seconds)
