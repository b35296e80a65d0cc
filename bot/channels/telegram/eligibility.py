"""The guided eligibility check in Telegram: /eligibility, its buttons, typed answers (bot/conversation/guided.py)."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.channels.telegram import render
from bot.channels.telegram.reply import send
from bot.channels.telegram.session import conversation, pressed, services, who
from bot.conversation import guided
from bot.conversation.replies import Reply


def in_progress(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """True while the chat is in the guided check, so typed text answers its question."""
    return guided.in_progress(conversation(context), who(update))


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/eligibility and the eligibility topic button: a few questions, then every scheme's verdict."""
    for reply in guided.start(conversation(context), who(update)):
        await send(update.effective_chat, reply)


def _private(update: Update) -> bool:
    """A profile is saved and shown in private chats only: the answers are kept for the offer there."""
    return update.effective_chat.type == ChatType.PRIVATE


async def _send(update: Update, context: ContextTypes.DEFAULT_TYPE, reply: Reply) -> None:
    """The check's next question, or its verdicts followed by the offer to save the answers."""
    for step in services(context).firms.with_offer(who(update), reply):
        await send(update.effective_chat, step)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A choice or Skip under the question being asked; older questions' buttons are closed."""
    query, service, asker = update.callback_query, conversation(context), who(update)
    fact, value = pressed(update).args
    if notice := guided.closed(service, asker, fact):
        await query.answer(notice)
        return
    await query.answer()
    keyboard = query.message.reply_markup.inline_keyboard
    label = next(b.text for row in keyboard for b in row if b.callback_data == query.data)
    await query.edit_message_text(render.answered(query.message.text_html, label))  # and its buttons go
    await _send(update, context, guided.choose(service, asker, value, keep=_private(update)))


async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text typed while a question is open: a value, "skip", or a sentence stating facts."""
    typed = update.effective_message.text or ""
    answer = await guided.typed(conversation(context), who(update), typed, keep=_private(update))
    await _send(update, context, answer)
