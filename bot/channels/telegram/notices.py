"""Messages the bot sends on its own in Telegram: after each publish (and each day) queue notices and reminders,
then send the outbox through the bot's rate limiter, the same pacer as answers (30/s overall, 1/s per chat)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.channels.telegram import render
from bot.channels.telegram.session import services
from bot.conversation.notify import Delivery, Seen, drain, queue
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


async def watch(application: Application[Any, Any, Any, Any, Any, Any], stop: asyncio.Event) -> None:
    """Until `stop`: queue notices for each new generation and reminders each day, then send what is queued; a
    failure waits a round. Once `stop` is set, the batch being sent is finished (and marked) first."""
    found, seen = services(application), Seen()
    firms, days = found.firms, found.settings.reminder_days
    while not stop.is_set():
        try:
            seen = await asyncio.to_thread(queue, found.assistant, firms.profiles, firms.outbox, days, seen)
            await drain(firms.outbox, lambda message: send(application.bot, message), stop.is_set)
        except Exception:  # a database or network hiccup must not end the notices for good
            log.exception("notices round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), found.settings.notice_poll_seconds)
