"""The programme's identity as data: `programme.yaml` at the top of a knowledge folder.

The bot names the programme, its district and its service contact from this file, and offers its greeting topics
with their example questions; without it, it speaks neutrally ("the programme", no contact). Ingest validates the
file (a mistake is listed with its key and line) and the bot rereads it when a new index is published. Format:

    name: {en: Pudong Group Open Innovation programme, zh: 浦东集团开放创新项目}
    short_name: {en: GOI, zh: GOI}
    district: {en: Pudong New Area, zh: 浦东新区}      # optional: where firms must be registered
    city: {en: Shanghai, zh: 上海}                     # optional
    contact:                                          # optional: whom users are referred to
      office: {en: GOI Service Centre, zh: GOI服务中心}
      email: service@example.org                      # optional
    topics:                                           # optional: buttons under the greeting, in this order
      - id: housing                                   # lowercase letters, digits, underscores
        label: {en: Housing support, zh: 住房支持}
        question: {en: What rent subsidy do young talents get?, zh: 青年人才的租房补贴有多少？}

A topic with id `eligibility` starts the guided eligibility check instead of asking its question.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.language import Language
from knowledge.reading import read_utf8
from knowledge.safe_yaml import key_line, load_yaml, yaml_mistake

log = logging.getLogger(__name__)

PROGRAMME_FILE = "programme.yaml"


class ProgrammeError(ValueError):
    """An invalid programme.yaml: the message names the file, the key and the line."""


class Strict(BaseModel):
    """Unknown keys are mistakes (a misspelt key would otherwise be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(Strict):
    """The same words in English and Chinese; both are required (users get either)."""

    en: str = Field(min_length=1, max_length=200)
    zh: str = Field(min_length=1, max_length=200)

    def get(self, language: Language) -> str:
        """The words in `language`."""
        return self.en if language == "en" else self.zh


class Contact(Strict):
    """Whom users are referred to when the documents do not answer."""

    office: Bilingual
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(None, max_length=40)


class Topic(Strict):
    """A button under the greeting, and the example question it asks."""

    id: str = Field(pattern=r"^[a-z0-9_]{1,30}$")
    label: Bilingual
    question: Bilingual


class Programme(Strict):
    """Who the assistant speaks for; every field optional, neutral wording for what is missing."""

    name: Bilingual | None = None
    short_name: Bilingual | None = None
    district: Bilingual | None = None
    city: Bilingual | None = None
    contact: Contact | None = None
    topics: list[Topic] = Field(default_factory=list, max_length=8)

    def topic(self, topic_id: str) -> Topic | None:
        """The topic with this id, if the programme has one."""
        return next((topic for topic in self.topics if topic.id == topic_id), None)


def parse_programme(path: Path) -> Programme:
    """The programme described by `path`; ProgrammeError with the key and line of every mistake."""
    try:
        text = read_utf8(path)
        raw = load_yaml(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgrammeError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ProgrammeError(f"{path}: {yaml_mistake(exc)}") from None
    if not isinstance(raw, dict):
        raise ProgrammeError(f"{path}: expected keys such as name:, short_name:, contact:, topics:")
    try:
        programme = Programme.model_validate(raw)
    except ValidationError as exc:  # every mistake at once: staff fix the file in one go
        problems = [
            f"line {key_line(text, error['loc'])}: {'.'.join(map(str, error['loc']))}: {error['msg']}"
            for error in exc.errors()
        ]
        raise ProgrammeError(f"{path}, {'; '.join(problems)}") from None
    ids = [topic.id for topic in programme.topics]
    if len(set(ids)) != len(ids):
        raise ProgrammeError(f"{path}: topics: an id is used twice ({', '.join(ids)})")
    return programme


def load_programme(folders: list[Path]) -> Programme:
    """The programme of the first folder that has a programme.yaml; neutral when none has."""
    for folder in folders:
        path = (folder if folder.is_dir() else folder.parent) / PROGRAMME_FILE
        if path.is_file():
            return parse_programme(path)
    return Programme()


def programme_problem(path: Path) -> str | None:
    """Ingest's check: what is wrong with a programme.yaml, None when it is valid."""
    try:
        parse_programme(path)
    except ProgrammeError as exc:
        return str(exc).removeprefix(f"{path}").lstrip(":, ") or str(exc)
    return None
