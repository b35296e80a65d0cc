"""Whether retrieved passages are evidence enough to answer: the gate between an answer, an unsure one and
"I don't know", with thresholds fitted by `bench/fit.py` from the development sets (knowledge/fitted.json)."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.fitted import Thresholds, fitted
from knowledge.language import Language
from knowledge.retrieve import Passage


@dataclass(frozen=True)
class Evidence:
    """What the best passage says about a question, in measures that mean the same on any corpus."""

    score: float  # meaning plus the question's own words found (Passage.score)
    lexical: float  # the share of the question's information (IDF-weighted words) the passage holds
    unrelated: bool  # same language as the question, and none of its words: a neighbour in meaning only
    unknown_version: bool  # the question names a version ("3.0") that no document mentions


def evidence(language: Language, passages: list[Passage], unknown_versions: list[str]) -> Evidence | None:
    """The evidence of the best passage, or None when nothing was found."""
    if not passages:
        return None
    best = passages[0]
    # In the question's own language a passage sharing none of its words is a neighbour in meaning only (on the
    # sample, "芯片首购奖励" found the voucher rules: it has no such reward). Across languages that is normal.
    unrelated = best.language == language and best.lexical == 0
    return Evidence(best.score, best.lexical, unrelated, bool(unknown_versions))


class Gate(Thresholds):
    """The thresholds, applied to the evidence of a question's best passage."""

    def shows(self, found: Evidence | None) -> bool:
        """Whether there is anything worth quoting at all."""
        return found is not None and found.score >= self.min_score

    def sure(self, found: Evidence | None) -> bool:
        """Whether the quotes may be presented as the answer."""
        if found is None or not self.shows(found) or found.unrelated or found.unknown_version:
            return False
        return found.score >= self.confident_score or found.lexical >= self.confident_lexical


def fitted_gate() -> Gate:
    """The gate bench/fit.py chose."""
    return Gate.model_validate(fitted().model_dump())
