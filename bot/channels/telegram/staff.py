"""Staff side of the bot: handing a user to the staff chat, relaying staff replies, reloading the knowledge base."""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot, Update
from telegram.ext import ContextTypes

from bot.channels.telegram import render
from bot.channels.telegram.session import Services, conversation, services, who
from bot.conversation import handoffs
from bot.conversation.actions import Action, Kind
from bot.conversation.identity import NUMERIC
from bot.core.curated import curated_problem
from bot.core.texts import text
from bot.staff.checks import check_scorer, saved_checks
from knowledge.indexing import Ingest
from knowledge.language import Language

log = logging.getLogger(__name__)


async def hand_off(update: Update, context: ContextTypes.DEFAULT_TYPE, reason_key: str) -> None:
    """Post the user and their recent questions to the staff chat (or queue them for the WeCom staff group when
    Telegram has none), and tell the user."""
    found, chat = services(context), update.effective_chat
    if chat is None:
        return
    service, asker, staff_chat = conversation(context), who(update), found.settings.telegram_staff_chat_id
    if staff_chat is not None:
        posted = await context.bot.send_message(
            staff_chat, render.handoff_message(service.staff_note(asker, reason_key))
        )
        told = service.handed_off(asker, posted.message_id)
    elif (elsewhere := handoffs.other_staff(found.settings, NUMERIC)) is not None:
        told = handoffs.queue_note(service, found.firms.outbox, asker, reason_key, elsewhere)
    else:
        return
    await context.bot.send_message(chat.id, render.reply_messages(told)[0])


async def relay(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A staff member replied to a handoff in the staff chat: send the reply to the user."""
    message = update.effective_message
    replied = message.reply_to_message if message else None
    if message is None or replied is None or not message.text:
        return
    relayed = conversation(context).staff_reply(replied.message_id, message.text)
    if relayed is None:
        return
    handoff, reply = relayed
    told = "staff_delivered"
    if handoffs.elsewhere(conversation(context), handoff, NUMERIC):  # a user of another channel: it sends the reply
        handoffs.forward(services(context).firms.outbox, handoff, reply, f"{replied.message_id}:{message.message_id}")
        told = "staff_forwarded"
    else:
        await context.bot.send_message(handoff.chat_id, render.reply_messages(reply)[0])
    # Under the confirmation, which replies to the staff message: "Save as answer" finds the reply text there.
    buttons = render.keyboard([[save_action(replied.message_id, "en")]])
    await message.reply_html(render.plain_message("en", told, who=handoff.who), reply_markup=buttons)


def save_action(note_id: int, language: Language) -> Action:
    """The "Save as answer" button under a relayed reply to the hand-off note `note_id`."""
    return Action(kind=Kind.SAVE, args=(str(note_id),), label=text(language, "tg_save_button"))


async def reload_and_report(bot: Bot, found: Services, chat_id: int, language: Language, force: bool) -> None:
    """Ingest KNOWLEDGE_SOURCES in a worker thread (answers keep flowing), then report to `chat_id`; an index that
    answers fewer golden questions (checks.yaml) than the served one is not published unless `force`."""
    searcher = found.assistant.searcher
    scorer = check_scorer(found.settings, searcher.embeddings, serving=searcher, saved=found.answers)
    ingest = Ingest(
        searcher.store,
        searcher.embeddings,
        scorer=scorer,
        more_checks=saved_checks(found.answers),
        curated_problem=curated_problem,  # as ingest.py: a broken curated.yaml is listed as failed
    )
    try:
        report = await asyncio.to_thread(ingest.run, found.settings.knowledge_sources, force=force)
    except Exception as exc:  # staff must hear about any failure (lock held, store down, bad folder...)
        log.exception("reload failed")
        await bot.send_message(
            chat_id, render.plain_message(language, "tg_reload_error", error=str(exc) or type(exc).__name__)
        )
        return
    await bot.send_message(chat_id, render.reload_message(report, language))
