"""/equipment, /patents, /solutions <need>: listing cards a page at a time, "more" paging by button."""

from __future__ import annotations

import asyncio
import hashlib

from telegram import Chat, Update
from telegram.ext import ContextTypes

from bot.channels.telegram import render
from bot.channels.telegram.session import dialogue_part, services, set_dialogue_part, ui_language
from bot.core.listings import Kind, find
from bot.core.texts import text
from knowledge.language import Language
from knowledge.retrieve import IndexMissing
from knowledge.store import StoreUnavailable

PART = "searches"  # the listing searches' share of the chat's dialogue slot: key -> need
KEPT = 5  # searches whose "more" buttons still work


def _remember(update: Update, context: ContextTypes.DEFAULT_TYPE, need: str) -> str:
    """Keep a search for its "more" button; returns the short key the button carries."""
    key = hashlib.blake2s(need.encode(), digest_size=4).hexdigest()
    kept = {k: v for k, v in (dialogue_part(update, context, PART) or {}).items() if k != key}
    set_dialogue_part(update, context, PART, dict([*kept.items(), (key, need)][-KEPT:]))
    return key


def _recall(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> str | None:
    return (dialogue_part(update, context, PART) or {}).get(key)


async def _show(
    chat: Chat, context: ContextTypes.DEFAULT_TYPE, kind: Kind, need: str, key: str, page: int, language: Language
) -> None:
    found = services(context)
    try:
        shown = await asyncio.to_thread(
            find, found.assistant.searcher, kind, need, page, found.settings.listing_columns
        )
    except (IndexMissing, StoreUnavailable) as exc:
        sentence = "index_missing" if isinstance(exc, IndexMissing) else "store_down"
        await chat.send_message(render.plain_message(language, sentence))
        return
    if not shown.cards:
        await chat.send_message(render.plain_message(language, "ls_none"))
        return
    more = render.more_keyboard(kind, page + 1, key, language) if shown.more else None
    await chat.send_message(render.listing_message(shown, language), reply_markup=more)


async def search(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/<kind> <need>`: the first page of matching cards; without a need, how to ask."""
    command = (update.effective_message.text or "").split(maxsplit=1)[0]
    kind: Kind = command.lstrip("/").split("@")[0].lower()  # type: ignore[assignment]  # registered per kind
    language = ui_language(update, context)
    need = " ".join(context.args or [])
    if not need:
        await update.effective_chat.send_message(render.plain_message(language, f"ls_usage_{kind}"))
        return
    await _show(update.effective_chat, context, kind, need, _remember(update, context, need), 1, language)


async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "more" button (`more:<kind>:<page>:<key>`): the next page, the button moving down to it."""
    query = update.callback_query
    _, kind, page, key = query.data.split(":")
    language = ui_language(update, context)
    need = _recall(update, context, key)
    if need is None:
        await query.answer(text(language, "ls_gone"))
        return
    await query.answer()
    await query.edit_message_text(query.message.text_html)  # without its button, which moves to the next page
    await _show(update.effective_chat, context, kind, need, key, int(page), language)  # type: ignore[arg-type]
