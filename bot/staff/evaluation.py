"""`python -m bot eval`: score the assistant on a question set with gold sources and facts."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from bot.core.models import Answer
from knowledge.golden import EvalQuestion


class Outcome(BaseModel):
    """How the assistant did on one question."""

    id: str
    kind: str
    lang: str
    abstain: bool
    answered: bool
    rank: int | None = Field(None, description="1-based rank of the first gold source, None if absent.")
    facts: bool | None = None
    seconds: float
    chars: int


def gold_rank(question: EvalQuestion, answer: Answer) -> int | None:
    """1-based rank of the first gold source among the answer's sources, None if absent."""
    keys = [f"{s.path}#{s.row}" if s.row is not None else s.path for s in answer.sources]
    ranks = [keys.index(gold) + 1 for gold in question.sources if gold in keys]
    return min(ranks) if ranks else None


def missing_facts(question: EvalQuestion, answer: Answer) -> list[list[str]]:
    """The required facts (each a list of alternatives) of which the answer's text holds no alternative."""
    body = answer.answer.lower()
    return [alternatives for alternatives in question.facts if not any(alt.lower() in body for alt in alternatives)]


def facts_found(question: EvalQuestion, answer: Answer) -> bool:
    """True when the answer's text holds every required fact (one alternative of each)."""
    return not missing_facts(question, answer)


async def run_eval(questions: list[EvalQuestion], ask: Callable[[str, list[str]], Awaitable[Answer]]) -> list[Outcome]:
    """Ask every question in turn, timing each."""
    outcomes = []
    for q in questions:
        started = time.perf_counter()
        answer = await ask(q.question, q.history)
        elapsed = time.perf_counter() - started
        outcomes.append(
            Outcome(
                id=q.id,
                kind=q.kind,
                lang=q.lang,
                abstain=q.abstain,
                answered=answer.answered,
                rank=None if q.abstain else gold_rank(q, answer),
                facts=None if q.abstain else (answer.answered and facts_found(q, answer)),
                seconds=elapsed,
                chars=len(answer.answer),
            )
        )
    return outcomes


def _share(values: Iterable[bool]) -> float | None:
    items = list(values)
    return round(sum(items) / len(items), 3) if items else None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def wrong(outcome: Outcome) -> bool:
    """Answered as if sure, yet out of scope, without the gold source in the top 3, or lacking a required fact."""
    if not outcome.answered:
        return False
    return outcome.abstain or not (outcome.rank and outcome.rank <= 3) or not outcome.facts


def summarise(outcomes: list[Outcome]) -> dict[str, float | int | None]:
    """recall@1/@3, MRR, facts, abstention precision and recall, confidently wrong, latency, answer length."""
    scored = [o for o in outcomes if not o.abstain]
    abstained = [o for o in outcomes if not o.answered]
    should = [o for o in outcomes if o.abstain]
    return {
        "questions": len(outcomes),
        "recall@1": _share(o.rank == 1 for o in scored),
        "recall@3": _share(o.rank is not None and o.rank <= 3 for o in scored),
        "mrr": round(sum(1 / o.rank for o in scored if o.rank) / len(scored), 3) if scored else None,
        "facts": _share(bool(o.facts) for o in scored),
        "abstain_precision": _share(o.abstain for o in abstained),
        "abstain_recall": _share(not o.answered for o in should),
        "confidently_wrong": _share(wrong(o) for o in outcomes if o.answered),
        "p50_ms": round(_percentile([o.seconds for o in outcomes], 0.5) * 1000, 1),
        "p95_ms": round(_percentile([o.seconds for o in outcomes], 0.95) * 1000, 1),
        "median_chars": int(statistics.median(o.chars for o in outcomes)) if outcomes else 0,
    }


def breakdown(outcomes: list[Outcome]) -> dict[str, dict[str, float | int | None]]:
    """The summary overall, per kind and per language."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups["all"].append(o)
        groups[f"kind={o.kind}"].append(o)
        groups[f"lang={o.lang}"].append(o)
    return {name: summarise(items) for name, items in groups.items()}


def missing_corpus(questions: list[EvalQuestion], indexed_folders: list[Path]) -> bool:
    """True when not one gold source of the questions is a file of the folders the index was built from: the
    scores would be zero because the wrong corpus is indexed, not because the answers are wrong."""
    gold = {source.split("#", 1)[0] for q in questions for source in q.sources}
    return bool(gold) and not any((folder / path).is_file() for folder in indexed_folders for path in gold)
