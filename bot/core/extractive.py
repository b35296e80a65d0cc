"""The no-LLM answer: the passages that answer the question, quoted, with where they came from."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import groupby

from bot.core.asks import asked_for, holds
from bot.core.texts import text
from knowledge.language import Language
from knowledge.lexical import tokenize
from knowledge.retrieve import Passage
from knowledge.suspicious import without_instructions

BUDGET = 600  # characters: what a phone shows without scrolling
CANDIDATES = 5
MARGIN = 0.12  # a passage this far below the best one is noise, not evidence
# Sensible guesses at what staff call the columns a card must show; any other column still
# shows when it matches the question.
CARD_FIELDS = (
    r"title|name|instrument|patent|solution|名称|标题|设备|专利|场景",
    r"owner|company|partner|holder|provider|单位|企业|公司|所属|伙伴",
    r"campus|location|where|address|site|地点|位置|园区",
    r"fee|price|cost|budget|charge|rate|费用|价格|收费|预算",
    r"book|contact|apply|email|phone|联系|预约|申请|邮箱|电话",
)
KEY_LINE_CHARS = 80
# Sentence ends, but not the dot of a list number ("1. it is…") or a decimal.
_SENTENCE = re.compile(r"(?<=[。！？；])|(?<=\D[.!?;])\s+|\n+")


def _overlap(question_terms: set[str], line: str) -> int:
    return len(question_terms & set(tokenize(line)))


def _card(passage: Passage, terms: set[str], wanted: list[str], budget: int) -> str:
    """A listing row as a card: its key columns first, then the lines the question asks about, then the rest,
    as far as its room goes (half the screen when a close second row shares it)."""
    lines = [line for line in passage.text.splitlines() if line.strip()]
    rank = {line: len(CARD_FIELDS) + 1 for line in lines}
    for line in lines:
        column = line.split(":", 1)[0].lower()
        priority = next((i for i, pattern in enumerate(CARD_FIELDS) if re.search(pattern, column)), None)
        # A long value under a key-sounding column ("partner_provides: 120,000 labelled images, ...") describes;
        # it does not identify the row.
        if priority is not None and len(line) <= KEY_LINE_CHARS:
            rank[line] = priority
        elif _overlap(terms, line) or holds(wanted, line):
            rank[line] = len(CARD_FIELDS)
    chosen: list[str] = []
    for line in sorted(rank, key=lambda item: (rank[item], lines.index(item))):
        if sum(len(c) + 1 for c in chosen) + len(line) <= budget:
            chosen.append(line)
    return "\n".join(sorted(chosen, key=lines.index))


def _quote(passage: Passage, terms: set[str], wanted: list[str], budget: int) -> str:
    """The passage, or when it is too long its sentences that hold what the question asks for (an amount, a date)
    and share most with it."""
    body = passage.text.strip()
    if len(body) <= budget:
        return body
    sentences = [s.strip() for s in _SENTENCE.split(body) if s and s.strip()]

    def rank(i: int) -> tuple[int, int, int]:
        return (-holds(wanted, sentences[i]), -_overlap(terms, sentences[i]), i)

    ranked = sorted(range(len(sentences)), key=rank)
    keep: list[int] = []
    for index in ranked:
        if sum(len(sentences[i]) + 3 for i in keep) + len(sentences[index]) <= budget:
            keep.append(index)
    return " … ".join(sentences[i] for i in sorted(keep))


def cite(passages: list[Passage], language: Language) -> str:
    """Where quoted passages come from: title, clauses or row, date."""
    first = passages[0]
    if first.row is not None:
        places = [text(language, "row", row=first.row)]
    else:
        places = list(dict.fromkeys(p.section.split(" > ")[-1] for p in passages if p.section))
    places = [place for place in places if place != first.title]
    date = f" ({text(language, 'as_of')} {first.effective})" if first.effective else ""
    return "— " + " › ".join([first.title, *(["; ".join(places)] if places else [])]) + date


def _readable(passage: Passage) -> Passage:
    """The passage without paragraphs that speak to an AI assistant: a planted instruction is never quoted."""
    clean = without_instructions(passage.text)
    return passage if clean == passage.text else passage.model_copy(update={"text": clean})


def _evidence(passages: list[Passage], wanted: list[str]) -> list[Passage]:
    """Passages close enough to the best one, the best one's document first: the conditions
    of a scheme sit in sibling clauses, a near-tie from another document is usually noise.
    When the question asks for an amount (a date...), a close passage that holds none comes after those that do."""
    best = passages[0]
    # A sibling clause of the best passage's document counts from further down: it is more often the condition
    # or the amount that goes with it than noise is.
    close = [
        p
        for p in passages[:CANDIDATES]
        if p.score >= best.score - MARGIN * (2 if p.source_key == best.source_key else 1)
    ]
    lead = next((p for p in close if holds(wanted, p.text)), close[0])  # without `wanted`, nothing holds it
    return sorted(close, key=lambda p: (not holds(wanted, p.text), p.source_key != lead.source_key))


def _holding_sibling(
    best: Passage,
    known: list[Passage],
    terms: set[str],
    wanted: list[str],
    document_of: Callable[[Passage], list[Passage]],
) -> Passage | None:
    """The clause of the best passage's document that holds what the question asks for and shares most of its words,
    ranked as the best passage: the figure asked for is often a sibling of the clause that matched ("每个月多少"
    beside the conditions). Not for an answer under a question heading: an FAQ's other answers are to other
    questions ("what is the deadline for the fund?" is not answered by the expiry of a housing rule)."""
    if (best.section or "").split(" > ")[-1].rstrip().endswith(("?", "？")):
        return None
    seen = {p.id for p in known}
    holding = [p for p in document_of(best) if p.id not in seen and holds(wanted, p.text)]
    if not holding:
        return None
    return max(holding, key=lambda p: _overlap(terms, p.text)).model_copy(update={"score": best.score})


def _body(
    passage: Passage, section: list[Passage], terms: set[str], wanted: list[str], room: int
) -> tuple[str, set[str]]:
    """What to quote for a passage: its whole section when that fits (conditions sit in sibling
    clauses), else the clause itself; and the chunk ids that quote covers."""
    if passage.kind == "listing":
        return _card(passage, terms, wanted, room), {passage.id}
    whole = "\n\n".join(p.text.strip() for p in section)
    if len(section) > 1 and len(whole) <= room:
        return whole, {p.id for p in section}
    return _quote(passage, terms, wanted, room), {passage.id}


def compose(
    question: str,
    language: Language,
    passages: list[Passage],
    section_of: Callable[[Passage], list[Passage]],
    document_of: Callable[[Passage], list[Passage]],
) -> str:
    """Quote the best passages (a card for a listing row) that fit a phone screen, grouped by source. When the
    question asks for a value (an amount, a date...) that no close passage holds, the best passage's document is
    searched for a clause that does."""
    terms, wanted = set(tokenize(question)), asked_for(question)
    chosen: list[tuple[Passage, str]] = []
    covered: set[str] = set()
    used = 0
    evidence = _evidence(passages, wanted)
    missing = wanted and not any(holds(wanted, p.text) for p in evidence)
    if missing and (sibling := _holding_sibling(passages[0], passages, terms, wanted, document_of)):
        evidence = _evidence([passages[0], sibling, *passages[1:]], wanted)
    # Close rows of a listing share the screen: the asker compares them ("which one, and what does it cost?").
    card_room = BUDGET // min(2, max(1, sum(p.kind == "listing" for p in evidence)))
    for passage in map(_readable, evidence):
        if passage.id in covered:
            continue
        room = BUDGET - used - len(cite([passage], language)) - 4
        room = min(room, card_room) if passage.kind == "listing" else room
        body, ids = _body(passage, [_readable(p) for p in section_of(passage)], terms, wanted, room)
        # A lead-in without its list ("…all of the following are true:") confuses more than it tells.
        fragment = len(body) < min(60, len(passage.text)) or body.rstrip().endswith((":", "："))
        if not body or (chosen and fragment):
            continue
        chosen.append((passage, body))
        covered |= ids
        used += len(body) + len(cite([passage], language)) + 4
    order = {p.source_key: rank for rank, (p, _) in reversed(list(enumerate(chosen)))}
    chosen.sort(key=lambda item: (order[item[0].source_key], item[0].chunk))
    blocks = []
    for _, group in groupby(chosen, key=lambda item: item[0].source_key):
        items = list(group)
        bodies = "\n\n".join(body for _, body in items)
        blocks.append(f"{bodies}\n{cite([p for p, _ in items], language)}")
    return "\n\n".join(blocks)
