"""Knowledge gaps: questions the bot did not answer, that got 👎 or were handed to staff, grouped by meaning, biggest
group first."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.conversation.records import Gap
from bot.core.models import Answer
from knowledge.language import detect_language

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.embeddings import Embeddings
    from rich.table import Table

    from bot.conversation.records import Records
    from bot.core.assistant import Assistant
    from knowledge.retrieve import Passage
    from knowledge.settings import Settings

log = logging.getLogger(__name__)

NEAREST = 3  # passages that decide whether a gap's closest content is in the other language: as many as a golden
# question's source must rank among

# Cosine similarity of the bundled model above which two questions count as one; `bench/gaps.py` prints the
# grouping purity on the eval sets' questions at this and neighbouring values.
SAME_MEANING = 0.7


class GapGroup(BaseModel):
    """Questions of one meaning that the bot failed at: the most asked phrasing first."""

    question: str
    phrasings: list[str]
    count: int
    last_asked: str
    unanswered: int
    disliked: int
    handed_off: int
    reply_mode: str
    sources: list[str]
    disliked_sources: list[str]  # of the answers that got 👎
    answered_now: bool | None = None  # None: not re-asked
    needs_document: bool | None = None  # re-asked, nothing in the documents came close: a curated answer or a
    # new document is the fix, not a rewording
    other_language: bool | None = None  # re-asked and still open, and the closest passages are all in the other
    # language: the question likely names something the documents name differently there (a glossary entry's fix)


def _unit(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)


def cluster(vectors: np.ndarray, threshold: float = SAME_MEANING) -> list[int]:
    """Leader clustering: each vector joins the first leader at least `threshold` alike, else leads a new group."""
    import numpy as np

    leaders: list[int] = []
    labels: list[int] = []
    for i, vector in enumerate(vectors):
        if leaders:
            alike = vectors[leaders] @ vector
            best = int(np.argmax(alike))
            if alike[best] >= threshold:
                labels.append(best)
                continue
        leaders.append(i)
        labels.append(len(leaders) - 1)
    return labels


def wording(question: str) -> str:
    """A question with case and spacing ignored: two that differ only there are one wording."""
    return " ".join(question.lower().split())


def _distinct(gaps: list[Gap]) -> dict[str, list[Gap]]:
    """Gaps by their normalised wording, most asked wording first: each wording is embedded once."""
    by_text: dict[str, list[Gap]] = {}
    for gap in gaps:
        by_text.setdefault(wording(gap.question), []).append(gap)
    return dict(sorted(by_text.items(), key=lambda item: -len(item[1])))


def _group(members: list[list[Gap]]) -> GapGroup:
    flat = [gap for same in members for gap in same]
    latest = max(flat, key=lambda gap: gap.at)
    return GapGroup(
        question=members[0][0].question,
        phrasings=[same[0].question for same in members],
        count=len(flat),
        last_asked=latest.at,
        unanswered=sum(not gap.answered for gap in flat),
        disliked=sum(gap.disliked for gap in flat),
        handed_off=sum(gap.handed_off for gap in flat),
        disliked_sources=sorted({path for gap in flat if gap.disliked for path in gap.sources}),
        reply_mode=latest.mode,
        sources=latest.sources,
    )


def group_gaps(gaps: list[Gap], embeddings: Embeddings, threshold: float = SAME_MEANING) -> list[GapGroup]:
    """Gaps grouped by meaning with the bundled model: near-duplicates in either language share a group."""
    wordings = _distinct(gaps)
    if not wordings:
        return []
    vectors = _unit(embeddings.embed_documents([same[0].question for same in wordings.values()]))
    groups: dict[int, list[list[Gap]]] = {}
    for label, same in zip(cluster(vectors, threshold), wordings.values(), strict=True):
        groups.setdefault(label, []).append(same)
    recent_first = sorted((_group(members) for members in groups.values()), key=lambda g: g.last_asked, reverse=True)
    return sorted(recent_first, key=lambda group: -group.count)


def fixed(group: GapGroup, answer: Answer) -> bool:
    """Whether the answer a group's question gets now closes the gap: answered, and not only from documents whose
    answer got 👎 (the same confident answer again is no fix)."""
    bad, used = set(group.disliked_sources), {source.path for source in answer.sources}
    return answer.answered and (answer.curated or not bad or not used <= bad)


async def recheck(groups: list[GapGroup], assistant: Assistant) -> None:
    """Re-ask each group's question against the current index and saved answers (quotes, no LLM: cheap, and what
    the documents hold decides) and note whether it is answered now."""
    for group in groups:
        answer = await asyncio.to_thread(assistant.answer_extractive, group.question)
        group.answered_now = fixed(group, answer)
        group.needs_document = not answer.answered and not answer.sources
        nearest = await asyncio.to_thread(assistant.retrieve, group.question, [])
        group.other_language = not group.answered_now and _elsewhere(group.question, nearest[:NEAREST])
    log.info("gaps: %d of %d groups answered now", sum(bool(g.answered_now) for g in groups), len(groups))


def _elsewhere(question: str, passages: list[Passage]) -> bool:
    """Whether every passage is in the other language than the question."""
    return bool(passages) and all(passage.language != detect_language(question) for passage in passages)


def _table(groups: list[GapGroup], title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("#", "question", "times", "last asked", "phrasings", "sources", "answered now"):
        table.add_column(column, justify="right" if column in ("#", "times") else "left")
    for number, group in enumerate(groups, 1):
        now = {None: "–", True: "yes", False: "no"}[group.answered_now]
        now += " (needs a document)" * bool(group.needs_document)
        now += " (a name in the other language? add it to glossary.yaml)" * bool(group.other_language)
        others = " · ".join(group.phrasings[1:4]) + (" …" if len(group.phrasings) > 4 else "")
        row = (str(number), group.question, str(group.count), group.last_asked, others, ", ".join(group.sources), now)
        table.add_row(*row)
    return table


def _csv(groups: list[GapGroup]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    counts = ["times", "last_asked", "unanswered", "disliked", "handed_off"]
    flags = ["answered_now", "needs_document", "other_language"]
    writer.writerow(["question", *counts, *flags, "phrasings", "sources"])
    for g in groups:
        shown = [
            "" if flag is None else str(flag).lower() for flag in (g.answered_now, g.needs_document, g.other_language)
        ]
        phrasings, sources = " | ".join(g.phrasings), " | ".join(g.sources)
        figures = [g.count, g.last_asked, g.unanswered, g.disliked, g.handed_off]
        writer.writerow([g.question, *figures, *shown, phrasings, sources])
    return out.getvalue()


async def grouped_gaps(
    records: Records, assistant: Assistant, days: int, event: str | None, recheck_now: bool = True
) -> list[GapGroup]:
    """The gaps recorded since `days` ago (at `event`) grouped with the assistant's model; each group re-asked
    against the current index and saved answers when `recheck_now`."""
    gaps = await asyncio.to_thread(records.gaps, days, event)
    groups = await asyncio.to_thread(group_gaps, gaps, assistant.searcher.embeddings)
    if recheck_now:
        await recheck(groups, assistant)
    return groups


def load_groups(settings: Settings, days: int, event: str | None, recheck_now: bool = True) -> list[GapGroup]:
    """The grouped gaps from the bot's database, each re-asked (without the LLM) when `recheck_now`."""
    from bot.conversation.records import Records
    from bot.conversation.saved_answers import serve_saved
    from bot.core.components import build_assistant

    assistant = build_assistant(settings)
    records = Records(serve_saved(assistant, settings).engine)
    try:
        return asyncio.run(grouped_gaps(records, assistant, days, event, recheck_now))
    finally:
        records.close()


def run_gaps(settings: Settings, days: int, event: str | None, output: str) -> int:
    """`python -m bot gaps`: the grouped gaps as a table, JSON or CSV."""
    groups = load_groups(settings, days, event)
    if output == "json":
        print(json.dumps([group.model_dump() for group in groups], ensure_ascii=False))
    elif output == "csv":
        print(_csv(groups), end="")
    else:
        from rich.console import Console

        scope = f" at event {event}" if event else ""
        Console().print(_table(groups, f"Knowledge gaps in the last {days} days{scope}: {len(groups)} groups"))
    return 0
