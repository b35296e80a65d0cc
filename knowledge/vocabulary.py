"""The programme's words for the eligibility check: its names, its city, district and areas, and its sectors' words.

A `vocabulary.yaml` at the top of a knowledge folder, beside `programmes/` (the sample ships one). The
pattern grammar that reads facts from messages is code (bot/core/eligibility/grammar.py); the words it
looks for are this data, so another programme's staff can name their own places and industries.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from knowledge.facts import Sector
from knowledge.reading import read_utf8
from knowledge.safe_yaml import key_line, load_yaml, yaml_mistake

log = logging.getLogger(__name__)

VOCABULARY_FILE = "vocabulary.yaml"

# Lower case as the reader folds messages; no regex syntax, so staff cannot break the grammar by accident.
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, pattern=r"^[^A-Z\\()\[\]{}|*+?^$]+$")]


class Places(BaseModel):
    """Place names, by what naming one says about where a company is registered."""

    model_config = ConfigDict(extra="forbid")

    city: list[Word] = Field(default_factory=list, description="The city itself: registered in the city.")
    district: list[Word] = Field(default_factory=list, description="The district and its areas.")
    elsewhere_in_city: list[Word] = Field(default_factory=list, description="The city's other districts.")

    @model_validator(mode="after")
    def _each_place_once(self) -> Places:
        lists = {"city": self.city, "district": self.district, "elsewhere_in_city": self.elsewhere_in_city}
        seen: dict[str, str] = {}
        for name, words in lists.items():
            for word in words:
                if word in seen and seen[word] != name:
                    raise ValueError(f"'{word}' is listed under both {seen[word]} and {name}")
                seen[word] = name
        return self


class SectorWords(BaseModel):
    """How a message names one sector."""

    model_config = ConfigDict(extra="forbid")

    words: list[Word] = Field(default_factory=list, description="Whole English words; a plural -s/-es is allowed.")
    stems: list[Word] = Field(default_factory=list, description="Text found anywhere in the message.")


class Vocabulary(BaseModel):
    """The words of one programme; empty: the reader knows no place and no sector."""

    model_config = ConfigDict(extra="forbid")

    programme: list[Word] = Field(
        default_factory=list, description='The programme\'s names as members say them ("a goi member", "已加入goi").'
    )
    places: Places = Field(default_factory=Places)
    sectors: dict[Sector, SectorWords] = Field(default_factory=dict)


class VocabularyError(ValueError):
    """A vocabulary file that cannot be used, and why."""


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "the file"


def parse_vocabulary(text: str) -> Vocabulary:
    """Validate a vocabulary file's text; VocabularyError names the key and the mistake."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise VocabularyError(yaml_mistake(exc)) from exc
    if not isinstance(data, dict):
        raise VocabularyError("a vocabulary file is a mapping with places: and sectors:")
    try:
        return Vocabulary.model_validate(data)
    except ValidationError as exc:
        problems = [f"line {key_line(text, e['loc'])}: {_where(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise VocabularyError("; ".join(problems)) from exc


def vocabulary_problem(path: Path) -> str | None:
    """Why ingest should report `path` as failed, or None when it is a valid vocabulary."""
    try:
        parse_vocabulary(read_utf8(path))
    except (VocabularyError, UnicodeDecodeError) as exc:
        return str(exc)
    return None


def load_vocabulary(sources: Iterable[Path]) -> Vocabulary:
    """The vocabulary at the top of the first source folder that has one; an empty one without (or if invalid)."""
    for source in sources:
        path = source / VOCABULARY_FILE
        if path.is_file():
            try:
                return parse_vocabulary(read_utf8(path))
            except (VocabularyError, UnicodeDecodeError) as exc:
                log.warning("vocabulary %s skipped, no place or sector is read: %s", path, exc)
                return Vocabulary()
    return Vocabulary()


def alternation(words: Iterable[str]) -> str:
    """The words as one regex alternation, longest first so "pudong new area" wins over "pudong"."""
    return "|".join(re.escape(word) for word in sorted(set(words), key=len, reverse=True))
