"""The guided eligibility check, channel-free: which fact to ask next, and what an answer says.

The state is a small JSON-able `Interview` a channel stores per chat between messages. Questions
come from the checker: only facts still missing for a scheme the rules cannot decide yet, the
fact most schemes wait for first. The rules decide the outcome, as in free questions.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from bot.core.eligibility import EligibilityAdvisor, FactReader, Outcome, check, extract_facts, normalize
from bot.core.models import Answer
from bot.core.texts import identity, text
from knowledge.facts import FACTS, Facts, Scalar, Subject
from knowledge.language import Language
from knowledge.programme import Programme
from knowledge.schemes import Scheme

log = logging.getLogger(__name__)

WHO = "who"  # the first question, when the rules cover both companies and people: whose facts to ask for
SKIP_WORDS = {"skip", "pass", "don't know", "dont know", "not sure", "跳过", "不知道", "不清楚"}
YES_WORDS = {"yes", "y", "yeah", "yep", "true", "是", "是的", "对", "有", "已经是", "已上市"}
NO_WORDS = {"no", "n", "nope", "false", "否", "不是", "没有", "不", "无", "未上市"}
_BARE_NUMBER = re.compile(r"^\s*(?:about |around |约|大约)?(\d+(?:\.\d+)?)\s*(?:%|人|岁|个月|月|年)?\s*$")


class Interview(BaseModel):
    """What a chat has answered so far; stored between messages as plain JSON."""

    language: Language
    subject: Subject | None = None
    facts: dict[str, Scalar] = Field(default_factory=dict)
    skipped: list[str] = Field(default_factory=list)
    asking: str | None = None


@dataclass(frozen=True)
class Prompt:
    """A question to show: its text and, for a choice, the (label, value) options; free text otherwise."""

    fact: str
    text: str
    options: list[tuple[str, str]]
    skippable: bool = True


def _facts(interview: Interview) -> Facts:
    return Facts.model_validate(interview.facts)


def _schemes(interview: Interview, schemes: list[Scheme]) -> list[Scheme]:
    return [s for s in schemes if interview.subject is None or s.applies_to == interview.subject]


def _next_fact(interview: Interview, schemes: list[Scheme]) -> str | None:
    """The missing fact the most undecided schemes wait for; None when nothing more would decide anything."""
    waiting: dict[str, int] = {}
    for verdict in check(_facts(interview), _schemes(interview, schemes)):
        if verdict.outcome is Outcome.CANNOT_TELL:
            for fact in verdict.missing:
                if fact not in interview.skipped:
                    waiting[fact] = waiting.get(fact, 0) + 1
    order = list(FACTS)
    return min(waiting, key=lambda fact: (-waiting[fact], order.index(fact)), default=None)


def question(fact: str, language: Language, programme: Programme | None) -> str:
    """How the guided check asks for a fact, from the fact's definition (knowledge/facts.py)."""
    return FACTS[fact].ask[language].format(**identity(language, programme))


def shown_value(fact: str, value: Scalar, language: Language) -> str:
    """A fact's value as the user would say it: yes/no, a choice's label, a number."""
    if isinstance(value, bool):
        return text(language, "iv_button_yes" if value else "iv_button_no")
    if fact in FACTS and FACTS[fact].kind == "choice":
        return text(language, f"choice_{value}")
    return str(value)


def _prompt(fact: str, language: Language, programme: Programme | None) -> Prompt:
    """The question for a fact, and the buttons that answer it."""
    asked = text(language, "iv_ask_who") if fact == WHO else question(fact, language, programme)
    if fact == WHO:
        options = [(text(language, f"iv_subject_{s.value}"), s.value) for s in (Subject.COMPANY, Subject.PERSON)]
    elif FACTS[fact].kind == "bool":
        options = [(text(language, "iv_button_yes"), "1"), (text(language, "iv_button_no"), "0")]
    elif FACTS[fact].kind == "choice":
        options = [(text(language, f"choice_{choice}"), choice) for choice in FACTS[fact].choices]
    else:
        options = []
    return Prompt(fact, asked, options, skippable=fact != WHO)


def next_prompt(
    interview: Interview, schemes: list[Scheme], programme: Programme | None = None
) -> tuple[Interview, Prompt | None]:
    """The interview with the question it now asks, and that question; no question means it is done."""
    subjects = {scheme.applies_to for scheme in schemes}
    if interview.subject is None and len(subjects) > 1:
        fact: str | None = WHO
    else:
        fact = _next_fact(interview, schemes)
    updated = interview.model_copy(update={"asking": fact})
    return updated, _prompt(fact, interview.language, programme) if fact else None


def _with(interview: Interview, values: dict[str, Scalar]) -> Interview | None:
    """The interview with new facts added; None when they are impossible (a negative headcount)."""
    try:
        facts = Facts.model_validate({**interview.facts, **values})
    except ValidationError:
        return None
    known = facts.model_dump(mode="json", exclude_none=True, exclude={"conflicts"})
    return interview.model_copy(update={"facts": known})


def choose(interview: Interview, value: str) -> Interview | None:
    """A button answer to the question being asked; None when it does not fit (a button from an older question)."""
    fact = interview.asking
    if fact == WHO and value in tuple(Subject):
        return interview.model_copy(update={"subject": Subject(value)})
    if fact is None or fact == WHO:
        return None
    spec = FACTS[fact]
    if spec.kind == "bool" and value in ("0", "1"):
        return _with(interview, {fact: value == "1"})
    if spec.kind == "choice" and value in spec.choices:
        return _with(interview, {fact: value})
    return None


def skip(interview: Interview) -> Interview | None:
    """Leave the fact being asked unknown, not to be asked again; None when there is nothing to skip."""
    if interview.asking in (None, WHO):
        return None
    return interview.model_copy(update={"skipped": [*interview.skipped, interview.asking]})


def _said(reply: str, fact: str) -> Scalar | None:
    """A one-word or one-number answer to the question about `fact`."""
    word = normalize(reply).strip(" .!。！")
    spec = FACTS[fact]
    if spec.kind == "bool" and word in YES_WORDS | NO_WORDS:
        return word in YES_WORDS
    number = _BARE_NUMBER.match(word)
    if spec.kind == "number" and number:
        return float(number.group(1))
    return None


async def _read(reply: str, chat: BaseChatModel | None, today: date | None, reader: FactReader) -> Facts:
    """The facts a reply states: by the LLM when there is one (the patterns if it fails), else the patterns."""
    if chat is not None:
        try:
            return await extract_facts(chat, reply, today)
        except Exception:  # any model or network failure: the patterns still read the common phrasings
            log.warning("fact extraction by the LLM failed; reading the reply with the patterns", exc_info=True)
    return reader.read(reply, today)


async def answer(
    interview: Interview,
    reply: str,
    chat: BaseChatModel | None = None,
    today: date | None = None,
    reader: FactReader | None = None,
) -> Interview | None:
    """A typed answer: "skip", a bare value for the asked fact, or a sentence whose facts are all taken.

    `reader` knows the programme's places and sectors (the advisor's); without it none are read."""
    fact = interview.asking
    if fact is None:
        return None
    if normalize(reply).strip(" .!。！") in SKIP_WORDS:
        return skip(interview)
    value = _said(reply, fact) if fact != WHO else None
    if value is not None:
        return _with(interview, {fact: value})
    stated = (await _read(reply, chat, today, reader or FactReader())).model_dump(
        exclude_none=True, exclude={"conflicts"}
    )
    if fact == WHO:  # "we're a 3-year-old chip startup" answers whom the questions are about, and more
        subjects = {FACTS[name].subject for name in stated}
        updated = _with(interview, stated) if len(subjects) == 1 else None
        return updated.model_copy(update={"subject": subjects.pop()}) if updated else None
    return _with(interview, stated) if fact in stated else None


def result(interview: Interview, advisor: EligibilityAdvisor, today: date | None = None) -> Answer:
    """Every scheme for the facts gathered: qualifies, does not (the deciding clause cited), or cannot tell."""
    facts = _facts(interview)
    verdicts = check(facts, _schemes(interview, advisor.schemes))
    order = (Outcome.QUALIFIES, Outcome.DOES_NOT_QUALIFY, Outcome.CANNOT_TELL)
    verdicts.sort(key=lambda verdict: order.index(verdict.outcome))
    question = text(interview.language, "tg_cmd_eligibility")
    return advisor.report(question, verdicts, facts, interview.language, today)
