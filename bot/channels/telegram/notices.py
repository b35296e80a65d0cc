"""Messages the bot sends on its own in Telegram: after each publish (and each day) queue the notices, then send
the outbox through the bot's rate limiter, the same pacer as answers (~27/s overall, one a second per chat)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.channels.telegram import render
from bot.channels.telegram.session import services
from bot.conversation.notify import Delivery, drain, on_publish
from bot.conversation.outbox import Queued

log = logging.getLogger(__name__)


async def send(bot: Bot, message: Queued) -> Delivery:
    """One queued message to its chat; a chat that blocked the bot or is gone is never tried again."""
    try:
        await bot.send_message(message.chat_id, render.escape(message.body))
    except (Forbidden, BadRequest):
        log.warning("notice dropped chat=%s key=%s", message.chat_id, message.key, exc_info=True)
        return Delivery.GONE
    except TelegramError:
        log.warning("notice not sent, tried again later chat=%s key=%s", message.chat_id, message.key, exc_info=True)
        return Delivery.RETRY
    return Delivery.SENT


async def watch(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Forever: match profiles against each new generation, then send what is queued; a failure waits a round."""
    found, last = services(application), None
    firms = found.firms
    while True:
        try:
            last = await asyncio.to_thread(on_publish, found.assistant, firms.profiles, firms.outbox, last)
            await drain(firms.outbox, lambda message: send(application.bot, message))
        except Exception:  # a database or network hiccup must not end the notices for good
            log.exception("notices round failed")
        await asyncio.sleep(found.settings.notice_poll_seconds)
