"""A scheme's rules as staff write them: conditions over facts, each with the clause that says so (see `knowledge.rules`
for the file format)."""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from knowledge.facts import FACTS, FactKind, Facts, FactSpec, Scalar, Subject
from knowledge.language import Language

Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in"]
OPS: tuple[str, ...] = get_args(Op)
KIND_OPS: dict[FactKind, tuple[str, ...]] = {"bool": OPS[:2], "number": OPS[:6], "choice": (*OPS[:2], *OPS[6:])}
_APPLY: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda fact, values: fact in values,
    "not_in": lambda fact, values: fact not in values,
}


def _describe_kind(spec: FactSpec) -> str:
    if spec.kind == "choice":
        return f"one of: {', '.join(spec.choices)}"
    return "true or false" if spec.kind == "bool" else "a number"


def _check_scalar(spec: FactSpec, value: Scalar) -> None:
    fits = {
        "bool": isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "choice": value in spec.choices,
    }[spec.kind]
    if not fits:
        raise ValueError(f"value '{value}' does not fit {spec.name} ({_describe_kind(spec)})")


def _kleene_or(values: Iterable[bool | None]) -> bool | None:
    """True if any is True, False if all are False, else unknown."""
    values = list(values)
    return True if True in values else (False if all(v is False for v in values) else None)


class Comparison(BaseModel):
    """`fact op value`: true, false, or unknown when the fact was not said."""

    model_config = ConfigDict(extra="forbid")

    fact: str
    op: Op
    value: Scalar | list[Scalar]

    @field_validator("fact")
    @classmethod
    def _known_fact(cls, fact: str) -> str:
        if fact not in FACTS:
            close = difflib.get_close_matches(fact, FACTS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ValueError(f"unknown fact '{fact}' ({hint}known: {', '.join(FACTS)})")
        return fact

    @field_validator("op", mode="before")
    @classmethod
    def _known_op(cls, op: object) -> object:
        if op not in OPS:
            raise ValueError(f"operator '{op}' is not one of {', '.join(OPS)}")
        return op

    @field_validator("op")
    @classmethod
    def _op_fits_fact(cls, op: str, info: ValidationInfo) -> str:
        spec = FACTS.get(info.data.get("fact", ""))
        if spec and op not in KIND_OPS[spec.kind]:
            raise ValueError(
                f"operator '{op}' does not apply to {spec.name} ({_describe_kind(spec)}); "
                f"use {', '.join(KIND_OPS[spec.kind])}"
            )
        return op

    @field_validator("value")
    @classmethod
    def _value_fits_fact(cls, value: Scalar | list[Scalar], info: ValidationInfo) -> Scalar | list[Scalar]:
        spec, op = FACTS.get(info.data.get("fact", "")), info.data.get("op")
        if spec is None or op is None:
            return value
        if op in ("in", "not_in") and not (isinstance(value, list) and value):
            raise ValueError(f"'{op}' needs a list of values, e.g. [{', '.join(spec.choices[:2])}]")
        if op not in ("in", "not_in") and isinstance(value, list):
            raise ValueError(f"'{op}' needs one value, not a list")
        for item in value if isinstance(value, list) else [value]:
            _check_scalar(spec, item)
        return value

    def holds(self, facts: Facts) -> bool | None:
        """Whether the comparison holds for these facts; None when the fact is unknown."""
        stated = getattr(facts, self.fact)
        return None if stated is None else _APPLY[self.op](stated, self.value)


class Localized(BaseModel):
    """A text in English, Chinese or both."""

    model_config = ConfigDict(extra="forbid")

    en: str | None = None
    zh: str | None = None

    @model_validator(mode="after")
    def _some_text(self) -> Localized:
        if not (self.en or self.zh):
            raise ValueError("give the text in en, zh or both")
        return self

    def get(self, language: Language) -> str:
        """The text in `language`, else in the other one."""
        preferred = self.en if language == "en" else self.zh
        return preferred or self.en or self.zh or ""


class Keywords(BaseModel):
    """Words users name the scheme by, per language."""

    model_config = ConfigDict(extra="forbid")

    en: list[str] = Field(default_factory=list)
    zh: list[str] = Field(default_factory=list)


class Condition(Comparison):
    """One requirement of a scheme, with the clause it comes from."""

    clause: str = Field(min_length=1)
    says: Localized | None = None
    when: Comparison | None = None
    unless: Comparison | None = None
    policy: str | None = None

    def outcome(self, facts: Facts) -> bool | None:
        """Met, not met, or unknown; a false `when` or a true `unless` means met."""
        parts: list[bool | None] = [self.holds(facts)]
        if self.when is not None:
            when = self.when.holds(facts)
            parts.append(None if when is None else not when)
        if self.unless is not None:
            parts.append(self.unless.holds(facts))
        return _kleene_or(parts)

    def comparisons(self) -> list[Comparison]:
        """The condition itself and its `when`/`unless` tests."""
        return [self, *(c for c in (self.when, self.unless) if c is not None)]

    def wording(self, language: Language) -> str:
        """The policy's words for this condition, or `fact op value` when the file gives none."""
        return self.says.get(language) if self.says else f"{self.fact} {self.op} {self.value}"


class Window(BaseModel):
    """When a scheme takes applications, and how to apply: a link or a contact."""

    model_config = ConfigDict(extra="forbid")

    opens: date
    closes: date
    apply: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.closes < self.opens:
            raise ValueError(f"the window closes ({self.closes}) before it opens ({self.opens})")
        return self


class Scheme(BaseModel):
    """One scheme's eligibility rules, as written in a rule file."""

    model_config = ConfigDict(extra="forbid")

    scheme: str
    title: Localized
    policy: str
    applies_to: Subject
    benefit: Localized | None = None
    keywords: Keywords = Field(default_factory=Keywords)
    conditions: list[Condition] = Field(min_length=1)
    window: Window | None = None

    @field_validator("scheme")
    @classmethod
    def _slug(cls, scheme: str) -> str:
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", scheme):
            raise ValueError(f"scheme '{scheme}' must be a short id of lowercase letters, digits and dashes")
        return scheme

    def names(self) -> list[str]:
        """Every way users may name the scheme: its keywords and titles in both languages."""
        return [name for name in {*self.keywords.en, *self.keywords.zh, self.title.en, self.title.zh} if name]

    def policy_of(self, condition: Condition) -> str:
        """The document a condition's clause is in."""
        return condition.policy or self.policy
