"""The conversation layer every channel shares: button data, and the console channel over it."""

from __future__ import annotations

import pytest

from bot.conversation.actions import MAX_DATA, Action, Kind, decode, encode


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        (Kind.FEEDBACK, ("12", "1")),
        (Kind.SOURCES, ("7",)),
        (Kind.HUMAN, ("7",)),
        (Kind.TOPIC, ("housing",)),
        (Kind.LANGUAGE, ("zh",)),
        (Kind.CHOICE, ("degree", "phd")),
        (Kind.MORE, ("patents", "2", "0a1b2c3d")),
    ],
)
def test_every_button_decodes_to_what_it_was_made_from(kind: Kind, args: tuple[str, ...]) -> None:
    data = encode(kind, *args)
    assert len(data.encode()) <= MAX_DATA
    assert decode(data) == Action(kind=kind, args=args)


@pytest.mark.parametrize(
    "forged",
    ["fb:12:2", "fb:x:1", "src:1:2", "lang:fr", "topic:Housing", "more:cars:1:ab", "el:degree:a b", "nope:1", ""],
)
def test_forged_or_stale_button_data_is_refused(forged: str) -> None:
    assert decode(forged) is None


def test_button_data_that_would_not_fit_is_refused_when_made() -> None:
    with pytest.raises(ValueError, match="CHOICE"):
        encode(Kind.CHOICE, "degree", "x" * 80)
    with pytest.raises(ValueError, match="FEEDBACK"):
        encode(Kind.FEEDBACK, 12, "yes")
