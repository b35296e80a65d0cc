"""Resource finder: instruments, patents and solutions from the listings, found by need, as cards a page at a time.

A listing file's kind (equipment, patents, solutions) is guessed from its name; a card's fields
from its column names, with the same guesses as the extractive answer's cards (bot/core/extractive.py),
unless LISTING_COLUMNS names the columns for that file.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel

from bot.core.extractive import CARD_FIELDS
from knowledge.retrieve import HybridSearcher, Passage

Kind = Literal["equipment", "patents", "solutions"]
KINDS: dict[Kind, re.Pattern[str]] = {
    "equipment": re.compile(r"instrument|equipment|device|facilit|仪器|设备"),
    "patents": re.compile(r"patent|专利"),
    "solutions": re.compile(r"solution|scenario|challenge|场景|需求|方案"),
}
PER_PAGE = 3
MAX_RESULTS = 9  # three pages: further down the ranking the rows no longer match the need
CANDIDATES = 40
VALUE_CHARS = 300
# What a card shows below its title, in this order, with at most so many columns each (booking: all that match):
# who may book, how, whom to contact. "what" is the one guess the extractive cards do not need.
ROLES: dict[str, str] = {
    "what": r"what|descri|summary|abstract|challenge|purpose|field|industry|sector|用途|简介|描述|功能|需求|领域|行业",
    "owner": CARD_FIELDS[1],
    "where": CARD_FIELDS[2],
    "fee": CARD_FIELDS[3],
    "booking": CARD_FIELDS[4] + r"|licen|terms|许可",
}
LIMITS = {"what": 2, "owner": 1, "where": 1, "fee": 1}
Columns = dict[str, dict[str, str]]  # file name or path -> role -> column names, comma-separated


class Card(BaseModel):
    """One listing row as shown: its title and (column, value) pairs, where it comes from."""

    title: str
    fields: list[tuple[str, str]]
    source: str
    row: int | None = None


class Page(BaseModel):
    """One page of cards for a need; `more` when a next page exists."""

    cards: list[Card]
    page: int
    more: bool


def kind_of(source: str) -> Kind | None:
    """The kind of a listing file, guessed from its name."""
    name = PurePosixPath(source).name.lower()
    return next((kind for kind, pattern in KINDS.items() if pattern.search(name)), None)


def _row(passage: Passage) -> dict[str, str]:
    """A listing row's 'Column: value' lines as a mapping."""
    pairs = (line.split(":", 1) for line in passage.text.splitlines() if ":" in line)
    return {column.strip(): value.strip() for column, value in pairs if value.strip()}


def _chosen(names: str, columns: list[str]) -> list[str]:
    wanted = [name.strip() for name in names.split(",")]
    return [column for column in columns if column in wanted]


def card(passage: Passage, columns: Columns | None = None) -> Card:
    """The row as a card: title, then what it is, owner, where, fee and booking, from the row's own columns.

    The title is the column LISTING_COLUMNS names, else the one ingest took the row's title from;
    each other role takes the columns configured for it, else the ones its guess matches.
    """
    values = _row(passage)
    configured = (columns or {}).get(passage.source) or (columns or {}).get(PurePosixPath(passage.source).name, {})
    titles = _chosen(configured["title"], list(values)) if "title" in configured else []
    title = values[titles[0]] if titles else passage.title
    used = {column for column, value in values.items() if value == title}
    fields: list[tuple[str, str]] = []
    for role, pattern in ROLES.items():
        if role in configured:
            found = _chosen(configured[role], list(values))
        else:
            found = [c for c in values if c not in used and re.search(pattern, c.lower())][: LIMITS.get(role)]
        used.update(found)
        fields += [(column, values[column][:VALUE_CHARS]) for column in found]
    return Card(title=title, fields=fields, source=passage.source, row=passage.row)


def find(searcher: HybridSearcher, kind: Kind, need: str, page: int = 1, columns: Columns | None = None) -> Page:
    """Page `page` (from 1) of the listing rows of `kind` that best match the need."""
    found = [p for p in searcher.search(need, k=CANDIDATES, kind="listing") if kind_of(p.source) == kind]
    ranked = found[:MAX_RESULTS]
    start = (page - 1) * PER_PAGE
    cards = [card(passage, columns) for passage in ranked[start : start + PER_PAGE]]
    return Page(cards=cards, page=page, more=start + PER_PAGE < len(ranked))
