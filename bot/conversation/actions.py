"""The buttons a reply offers, channel-neutral, and the one codec for the data a pressed button carries back.

A channel shows an `Action` as whatever its platform has (an inline button, a card button, a numbered choice) and
hands the data it gets back to `decode`. The data is short ASCII (Telegram allows 64 bytes) and comes from the
client, so it can be forged: every argument is checked against its pattern here, and ids against the chat later.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel

MAX_DATA = 64  # bytes: Telegram's limit for callback data, the smallest of the platforms'


class Kind(StrEnum):
    """What pressing a button asks for; the value is the data's prefix."""

    FEEDBACK = "fb"  # question id, 1 helpful / 0 not
    SOURCES = "src"  # question id
    HUMAN = "human"  # question id
    TOPIC = "topic"  # topic name from programme.yaml
    LANGUAGE = "lang"  # en / zh
    CHOICE = "el"  # guided eligibility check: fact, value or "skip"
    MORE = "more"  # listing kind, next page, search key
    SAVE = "save"  # staff chat, under a relayed reply: the hand-off note's message id
    GAPS = "gaps"  # staff: page of grouped knowledge gaps
    ANSWERS = "answers"  # staff: page of saved answers
    UNSAVE = "unsave"  # staff: saved answer id, the page it was listed on
    GLOSSARY = "gloss"  # staff: the number of a gap (in /gaps) whose fix is a glossary entry
    KEEP = "pf"  # keep the finished guided check's answers in the firm profile: yes / no
    EDIT = "pfe"  # change one fact of the firm profile: the fact's name
    SUBSCRIBE = "sub"  # hear about new matches and deadlines


_ARGUMENTS: dict[Kind, tuple[str, ...]] = {
    Kind.FEEDBACK: (r"\d+", r"[01]"),
    Kind.SOURCES: (r"\d+",),
    Kind.HUMAN: (r"\d+",),
    Kind.TOPIC: (r"[a-z0-9_]+",),
    Kind.LANGUAGE: (r"en|zh",),
    Kind.CHOICE: (r"[a-z_]+", r"[A-Za-z0-9_.-]+"),
    Kind.MORE: (r"equipment|patents|solutions", r"\d+", r"[0-9a-f]+"),
    Kind.SAVE: (r"\d+",),
    Kind.GAPS: (r"\d+",),
    Kind.ANSWERS: (r"\d+",),
    Kind.UNSAVE: (r"\d+", r"\d+"),
    Kind.GLOSSARY: (r"\d+",),
    Kind.KEEP: (r"yes|no",),
    Kind.EDIT: (r"[a-z_]+",),
    Kind.SUBSCRIBE: (r"on",),
}


class Action(BaseModel, frozen=True):
    """A button: what it does, its arguments, and its label in the user's language."""

    kind: Kind
    args: tuple[str, ...]
    label: str = ""

    @property
    def data(self) -> str:
        """The data the button carries back."""
        return encode(self.kind, *self.args)


def pattern(kind: Kind) -> str:
    """A regular expression matching exactly the data of `kind`'s buttons (for a channel's routing)."""
    return "^" + ":".join([re.escape(kind.value), *(f"(?:{arg})" for arg in _ARGUMENTS[kind])]) + "$"


def encode(kind: Kind, *args: object) -> str:
    """The data for a button; a ValueError when an argument does not fit its pattern or the data is too long."""
    data = ":".join([kind.value, *map(str, args)])
    if len(data.encode()) > MAX_DATA or not re.fullmatch(pattern(kind), data):
        raise ValueError(f"not {kind.name} button data: {data!r}")
    return data


def decode(data: str) -> Action | None:
    """The action a pressed button asks for; None for data this version does not make (an old or forged button)."""
    kind = next((k for k in Kind if data.startswith(f"{k.value}:")), None)
    if kind is None or not re.fullmatch(pattern(kind), data):
        return None
    return Action(kind=kind, args=tuple(data.split(":")[1:]))
