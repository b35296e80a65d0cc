"""Staff side of the bot: handing a user to the staff chat, relaying staff replies, reloading the knowledge base."""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot, Update
from telegram.ext import ContextTypes

from bot.channels.telegram import render
from bot.channels.telegram.session import Services, history, services, set_chat_state, ui_language
from bot.conversation.records import Handoff
from knowledge.indexing import Ingest
from knowledge.language import Language

log = logging.getLogger(__name__)


async def hand_off(update: Update, context: ContextTypes.DEFAULT_TYPE, reason_key: str) -> None:
    """Post the user and their recent questions to the staff chat, and tell the user."""
    found = services(context)
    chat, user = update.effective_chat, update.effective_user
    if found.settings.telegram_staff_chat_id is None or chat is None:
        return
    who = user.full_name if user else str(chat.id)
    if user and user.username:
        who += f" (@{user.username})"
    language = ui_language(update, context)
    posted = await context.bot.send_message(
        found.settings.telegram_staff_chat_id, render.handoff_message(who, reason_key, history(update, context))
    )
    found.records.add_handoff(
        posted.message_id, user.id if user else None, Handoff(chat_id=chat.id, language=language, who=who)
    )
    set_chat_state(update, context, misses=0)
    await context.bot.send_message(chat.id, render.plain_message(language, "tg_handoff_done"))
    log.info("handed chat %s to staff: %s", chat.id, reason_key)


async def relay(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A staff member replied to a handoff in the staff chat: send the reply to the user."""
    message = update.effective_message
    replied = message.reply_to_message if message else None
    handoff = services(context).records.handoff(replied.message_id) if replied else None
    if message is None or handoff is None or not message.text:
        return
    await context.bot.send_message(
        handoff.chat_id, render.plain_message(handoff.language, "tg_staff_reply", text=message.text)
    )
    await message.reply_html(render.plain_message("en", "tg_staff_delivered", who=handoff.who))


async def reload_and_report(bot: Bot, found: Services, chat_id: int, language: Language) -> None:
    """Ingest KNOWLEDGE_SOURCES in a worker thread (answers keep flowing), then report to `chat_id`."""
    searcher = found.assistant.searcher
    try:
        report = await asyncio.to_thread(
            Ingest(searcher.store, searcher.embeddings).run, found.settings.knowledge_sources
        )
    except Exception as exc:  # staff must hear about any failure (lock held, store down, bad folder...)
        log.exception("reload failed")
        await bot.send_message(
            chat_id, render.plain_message(language, "tg_reload_error", error=str(exc) or type(exc).__name__)
        )
        return
    await bot.send_message(chat_id, render.reload_message(report, language))
