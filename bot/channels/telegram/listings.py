"""/equipment, /patents, /solutions <need>: listing cards a page at a time (bot/conversation/listings.py)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.channels.telegram.reply import send
from bot.channels.telegram.session import conversation, pressed, who
from bot.conversation import listings
from bot.core.listings import Kind


async def search(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/<kind> <need>`: the first page of matching cards; without a need, how to ask."""
    command = (update.effective_message.text or "").split(maxsplit=1)[0]
    kind: Kind = command.lstrip("/").split("@")[0].lower()  # type: ignore[assignment]  # registered per kind
    reply = await listings.search(conversation(context), who(update), kind, " ".join(context.args or []))
    await send(update.effective_chat, reply)


async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "more" button: the next page, the button moving down to it."""
    query, service, asker = update.callback_query, conversation(context), who(update)
    kind, page, key = pressed(update).args
    if notice := listings.expired(service, asker, key):
        await query.answer(notice)
        return
    await query.answer()
    await query.edit_message_text(query.message.text_html)  # without its button, which moves to the next page
    reply = await listings.more(service, asker, kind, int(page), key)  # type: ignore[arg-type]  # by its pattern
    if reply is not None:
        await send(update.effective_chat, reply)
