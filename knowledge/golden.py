"""Golden questions: a question with the sources and facts a right answer has, or none when it must abstain.

The format of the evaluation sets' `questions.yaml`, and of the `checks.yaml` a knowledge folder may hold: ingest
scores the checks on a new index before publishing it (see knowledge/checks.py).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from knowledge.language import detect_language
from knowledge.reading import read_utf8
from knowledge.safe_yaml import load_yaml_items, yaml_mistake


class QuestionsError(ValueError):
    """A questions file that cannot be used: the line of the entry and the mistake."""


class EvalQuestion(BaseModel):
    """One entry of a questions file."""

    model_config = ConfigDict(extra="forbid")  # a misspelt `source:` must not silently make a question abstain

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    lang: str = Field("", description="en or zh; detected from the question when left out.")
    kind: str = "fact"
    sources: list[str] = Field(
        default_factory=list, description="Any one must rank in the top 3: `path` or `path#row`; none: abstain."
    )
    facts: list[list[str]] = Field(
        default_factory=list, description="Each inner list: one of its alternatives must be in the answer."
    )
    history: list[str] = Field(default_factory=list)

    @field_validator("facts")
    @classmethod
    def _no_empty_fact(cls, facts: list[list[str]]) -> list[list[str]]:
        if any(not alternatives or not all(a.strip() for a in alternatives) for alternatives in facts):
            raise ValueError("each fact is a non-empty list of non-empty alternatives")
        return facts

    def model_post_init(self, context: object) -> None:  # noqa: ARG002 - pydantic's signature
        """The language of the question when the entry does not say."""
        self.lang = self.lang or detect_language(self.question)

    @property
    def abstain(self) -> bool:
        """The right behaviour is to say "I don't know"."""
        return not self.sources


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_questions(text: str) -> list[EvalQuestion]:
    """Validate a questions file's text; QuestionsError names the entry's line and the mistake."""
    try:
        items = load_yaml_items(text)
    except yaml.YAMLError as exc:
        raise QuestionsError(yaml_mistake(exc)) from exc
    except TypeError as exc:
        raise QuestionsError(str(exc)) from exc
    questions: list[EvalQuestion] = []
    seen: dict[str, int] = {}
    for line, item in items:
        if not isinstance(item, dict):
            raise QuestionsError(f"line {line}: an entry is a mapping with id:, question:, sources:, facts:")
        try:
            question = EvalQuestion.model_validate(item)
        except ValidationError as exc:
            raise QuestionsError(f"line {line}: {_problem(exc)}") from None
        if question.id in seen:
            raise QuestionsError(f"line {line}: id '{question.id}' is already used on line {seen[question.id]}")
        seen[question.id] = line
        questions.append(question)
    return questions


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a questions file; QuestionsError (with the file's name and the line) when it is not valid."""
    try:
        return parse_questions(read_utf8(path))
    except QuestionsError as exc:
        raise QuestionsError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionsError(f"{path}: cannot be read: {exc}") from None
