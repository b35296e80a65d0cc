"""The firm profile in Telegram: /profile and its edit buttons, /forget, /schemes, /subscribe, /unsubscribe,
/deadlines and the save offer's buttons (bot/conversation/firm.py holds the logic; these only render)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.channels.telegram.reply import send
from bot.channels.telegram.session import pressed, services, who


async def show(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/profile: every saved fact, where it came from, a button to edit each."""
    await send(update.effective_chat, services(context).firms.show(who(update)))


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/forget: the profile, its subscription and any unsent notice go at once."""
    await send(update.effective_chat, services(context).firms.forget(who(update)))


async def schemes(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/schemes: every scheme's verdict for the profile, best first, with a Subscribe button."""
    await send(update.effective_chat, services(context).firms.schemes(who(update)))


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/subscribe and the Subscribe button under /schemes."""
    if update.callback_query is not None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(update.callback_query.message.text_html)  # its button goes
    await send(update.effective_chat, services(context).firms.subscribe(who(update), on=True))


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unsubscribe: no more notices; the profile stays."""
    await send(update.effective_chat, services(context).firms.subscribe(who(update), on=False))


async def deadlines(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/deadlines: the upcoming application windows of the schemes the profile qualifies for."""
    await send(update.effective_chat, services(context).firms.deadlines(who(update)))


async def decide(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The save offer's buttons (`pf:yes` / `pf:no`): the offer loses its buttons, the outcome is said."""
    query = update.callback_query
    await query.answer()
    await query.edit_message_text(query.message.text_html)
    [answer] = pressed(update).args
    await send(update.effective_chat, services(context).firms.decide(who(update), save=answer == "yes"))


async def edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edit button on /profile (`pfe:<fact>`): ask for the new value."""
    await update.callback_query.answer()
    [fact] = pressed(update).args
    await send(update.effective_chat, services(context).firms.edit(who(update), fact))


def editing(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """True while the user is typing a new value for a profile fact."""
    return services(context).firms.editing(who(update))


async def edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The typed new value of the fact being edited."""
    reply = await services(context).firms.edited(who(update), update.effective_message.text or "")
    await send(update.effective_chat, reply)
