"""Closing knowledge gaps from a chat, channel-neutral: gaps and saved answers a page at a time, and a staff reply
to a hand-off saved as a curated answer with the other phrasings of its gap group."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from bot.conversation.records import Records
from bot.conversation.saved_answers import NewAnswer, SavedAnswer, SavedAnswers
from bot.core.assistant import Assistant
from bot.staff.gaps import GapGroup, grouped_gaps, recheck, wording
from knowledge.glossary import GlossaryError, add_group, glossary_path

log = logging.getLogger(__name__)

GAPS_PER_PAGE = 5
ANSWERS_PER_PAGE = 8
GAP_DAYS = 30  # how far back /gaps looks, and where a saved answer's other phrasings come from

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list; `first` is the position of its first item (1-based)."""

    items: list[T]
    page: int
    pages: int
    total: int
    first: int


def _page(items: list[T], page: int, size: int) -> Page[T]:
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 1), pages)
    start = (page - 1) * size
    return Page(items[start : start + size], page, pages, len(items), start + 1)


async def gaps_page(records: Records, assistant: Assistant, page: int, days: int = GAP_DAYS) -> Page[GapGroup]:
    """One page of the grouped gaps, biggest first; only the page's groups are re-asked (cheap to page through)."""
    groups = await grouped_gaps(records, assistant, days, None, recheck_now=False)
    shown = _page(groups, page, GAPS_PER_PAGE)
    await recheck(shown.items, assistant)
    return shown


def answers_page(answers: SavedAnswers, page: int) -> Page[SavedAnswer]:
    """One page of the saved answers, newest first."""
    return _page(answers.all()[::-1], page, ANSWERS_PER_PAGE)


async def gap_group(records: Records, assistant: Assistant, number: int, days: int = GAP_DAYS) -> GapGroup | None:
    """The gap group listed as `number` (1-based) by /gaps, if there still is one."""
    groups = await grouped_gaps(records, assistant, days, None, recheck_now=False)
    return groups[number - 1] if 0 < number <= len(groups) else None


def add_to_glossary(sources: list[Path], typed: str) -> tuple[Path, list[str]]:
    """Add names typed as `NAME = OTHER NAME [= ...]` as one glossary group in the knowledge folder: the file and the
    names. GlossaryError (the file untouched) when fewer than two names are given or the glossary would be invalid;
    the bot uses the group from the next index generation (/reload)."""
    names = [" ".join(name.split()) for name in typed.split("=")]
    if len(names) < 2 or not all(names):
        raise GlossaryError("give two or more names separated by =")
    path = glossary_path(sources)
    add_group(path, names)
    log.info("glossary %s: added %s", path, names)
    return path, names


async def save_reply(
    records: Records, answers: SavedAnswers, assistant: Assistant, note_id: int, reply: str, saved_by: str
) -> tuple[SavedAnswer, bool] | None:
    """Save a staff reply to the hand-off posted as `note_id` as the answer to the user's question, with the other
    phrasings of its gap group as alternatives: the saved answer, and False when the question already had one (kept,
    so two staff pressing the button save it once); None when the hand-off names no question."""
    handoff = await asyncio.to_thread(records.handoff, note_id)
    question = (
        await asyncio.to_thread(records.question, handoff.question_id) if handoff and handoff.question_id else None
    )
    if question is None:
        return None
    same = wording(question)
    if existing := next((a for a in await asyncio.to_thread(answers.all) if wording(a.question) == same), None):
        return existing, False
    groups = await grouped_gaps(records, assistant, GAP_DAYS, None, recheck_now=False)
    group = next((g for g in groups if same in {wording(p) for p in g.phrasings}), None)
    others = [p for p in group.phrasings if wording(p) != same] if group else []
    new = NewAnswer(question=question, answer=reply, alternatives=others)
    answer_id = await asyncio.to_thread(answers.add, new, saved_by)
    log.info("hand-off %s saved as answer %s by %s", note_id, answer_id, saved_by)
    saved = await asyncio.to_thread(answers.get, answer_id)
    return (saved, True) if saved is not None else None
