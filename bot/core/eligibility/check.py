"""Facts checked against the rule files, clause by clause: qualifies, does not, or cannot tell yet."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from knowledge.facts import FACTS, Facts
from knowledge.schemes import Condition, Scheme


class Outcome(StrEnum):
    """What the rules say about one scheme."""

    QUALIFIES = "qualifies"
    DOES_NOT_QUALIFY = "does_not_qualify"
    CANNOT_TELL = "cannot_tell"


class Verdict(BaseModel):
    """One scheme checked against the facts."""

    scheme: Scheme
    outcome: Outcome
    deciding: list[Condition] = Field(description="The unmet conditions; or the undecided ones, nearest first.")
    missing: list[str] = Field(description="Facts that would decide the undecided conditions.")
    conflicts: dict[str, list[str]] = Field(description="Contradictory facts an undecided condition needs.")
    decided: int = Field(description="How many conditions the facts settled.")

    @property
    def informative(self) -> bool:
        """True when the facts settled a condition or contradict each other on one."""
        return self.decided > 0 or bool(self.conflicts)


def _closeness(condition: Condition, facts: Facts) -> int:
    """0 when conflicting facts block the condition, 1 when some of its facts are known, else 2."""
    names = [c.fact for c in condition.comparisons()]
    if any(name in facts.conflicts for name in names):
        return 0
    return 1 if any(getattr(facts, name) is not None for name in names) else 2


def _verdict(facts: Facts, scheme: Scheme) -> Verdict:
    outcomes = [(condition, condition.outcome(facts)) for condition in scheme.conditions]
    unmet = [condition for condition, met in outcomes if met is False]
    undecided = sorted((c for c, met in outcomes if met is None), key=lambda c: _closeness(c, facts))
    unknown = {c.fact for condition in undecided for c in condition.comparisons() if getattr(facts, c.fact) is None}
    outcome = Outcome.DOES_NOT_QUALIFY if unmet else Outcome.CANNOT_TELL if undecided else Outcome.QUALIFIES
    return Verdict(
        scheme=scheme,
        outcome=outcome,
        deciding=unmet or undecided,
        missing=[fact for fact in FACTS if fact in unknown and fact not in facts.conflicts],
        conflicts={fact: values for fact, values in facts.conflicts.items() if fact in unknown},
        decided=len(outcomes) - len(undecided),
    )


def check(facts: Facts, schemes: list[Scheme]) -> list[Verdict]:
    """A verdict per scheme: qualifies, does not (with the unmet conditions) or can't tell (with what's missing)."""
    return [_verdict(facts, scheme) for scheme in schemes]
