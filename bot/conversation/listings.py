"""Listing searches in a conversation: a page of cards for a need, "more" paging by a button that names the search."""

from __future__ import annotations

import asyncio
import hashlib

from pydantic import BaseModel

from bot.conversation.replies import Reply, more_actions, say
from bot.conversation.service import ConversationService, Who
from bot.core.assistant import unavailable_key
from bot.core.listings import PER_PAGE, Kind, Page, find
from bot.core.texts import text
from knowledge.language import Language
from knowledge.retrieve import IndexMissing
from knowledge.store import StoreUnavailable


class Shown(BaseModel):
    """One listing card as text for a channel to style: its numbered title, "Label: value" lines, its source."""

    heading: str
    lines: list[str]
    where: str


def shown(page: Page, language: Language) -> list[Shown]:
    """The cards of a page, numbered on from the previous pages, column names as labels."""
    first = (page.page - 1) * PER_PAGE + 1
    return [
        Shown(
            heading=f"{first + n}. {card.title}",
            lines=[f"{column.replace('_', ' ').capitalize()}: {value}" for column, value in card.fields],
            where=card.source + (f", {text(language, 'row', row=card.row)}" if card.row is not None else ""),
        )
        for n, card in enumerate(page.cards)
    ]


PART = "searches"  # the listing searches' share of the chat's dialogue slot: key -> need
KEPT = 5  # searches whose "more" buttons still work


def _remember(service: ConversationService, who: Who, need: str) -> str:
    """Keep a search for its "more" button; returns the short key the button carries."""
    key = hashlib.blake2s(need.encode(), digest_size=4).hexdigest()
    kept = {k: v for k, v in (service.dialogue_part(who, PART) or {}).items() if k != key}
    service.set_dialogue_part(who, PART, dict([*kept.items(), (key, need)][-KEPT:]))
    return key


async def _page(service: ConversationService, who: Who, kind: Kind, need: str, key: str, page: int) -> Reply:
    language = service.language(who)
    try:
        shown = await asyncio.to_thread(
            find, service.assistant.searcher, kind, need, page, service.settings.listing_columns
        )
    except (IndexMissing, StoreUnavailable) as exc:
        return say(language, unavailable_key(exc))
    if not shown.cards:
        return say(language, "ls_none")
    return Reply(language=language, cards=shown, actions=more_actions(kind, shown, key, language))


async def search(service: ConversationService, who: Who, kind: Kind, need: str) -> Reply:
    """The first page of cards matching `need`; without a need, how to ask."""
    need = need.strip()
    if not need:
        return say(service.language(who), f"ls_usage_{kind}")
    return await _page(service, who, kind, need, _remember(service, who, need), 1)


def expired(service: ConversationService, who: Who, key: str) -> str | None:
    """The notice for a "more" button whose search is no longer kept, None when it still works."""
    known = (service.dialogue_part(who, PART) or {}).get(key)
    return None if known is not None else text(service.language(who), "ls_gone")


async def more(service: ConversationService, who: Who, kind: Kind, page: int, key: str) -> Reply | None:
    """The next page of a kept search (None when it is no longer kept: see `expired`)."""
    need = (service.dialogue_part(who, PART) or {}).get(key)
    return None if need is None else await _page(service, who, kind, need, key, page)
