"""Messages the bot sends on its own in Telegram: notices, reminders, hand-off notes and staff replies from other
channels, sent from the outbox through the bot's rate limiter, the same pacer as answers (30/s overall, after waiting
answers; 1/s per chat)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.channels.telegram import render
from bot.channels.telegram.session import services
from bot.conversation import handoffs, notify
from bot.conversation.identity import NUMERIC
from bot.conversation.notify import Delivery
from bot.conversation.outbox import Queued
from bot.conversation.service import ConversationService

log = logging.getLogger(__name__)


async def send(bot: Bot, message: Queued, service: ConversationService | None = None) -> Delivery:
    """One queued message to its chat; a chat that blocked the bot or is gone is never tried again. A hand-off
    note is filed under the message it became, so staff can reply to it (`service`: where hand-offs are kept)."""
    note = handoffs.note_of(message)
    try:
        body = render.handoff_message(note) if note else render.escape(message.body)
        sent = await bot.send_message(message.chat_id, body)
    except (Forbidden, BadRequest):
        log.warning("notice dropped chat=%s key=%s", message.chat_id, message.key, exc_info=True)
        return Delivery.GONE
    except TelegramError:
        log.warning("notice not sent, tried again later chat=%s key=%s", message.chat_id, message.key, exc_info=True)
        return Delivery.RETRY
    if service is not None:
        handoffs.posted(service, message, sent.message_id)
    return Delivery.SENT


async def watch(application: Application[Any, Any, Any, Any, Any, Any], stop: asyncio.Event) -> None:
    """Until `stop`: queue notices and reminders, send what is queued for Telegram's chats (see notify.watch)."""
    bot_services = services(application)

    async def sending(message: Queued) -> Delivery:
        return await send(application.bot, message, bot_services.conversation)

    await notify.watch(bot_services.firms, sending, stop, NUMERIC)
