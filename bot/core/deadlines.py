"""Application windows of the schemes a profile matches: which are still open, and which reminder is due today."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bot.core.matching import clauses
from bot.core.texts import text
from knowledge.language import Language
from knowledge.schemes import Scheme, Window


def upcoming(schemes: Sequence[Scheme], today: date) -> list[tuple[Scheme, Window]]:
    """The schemes whose window has not closed yet, soonest closing first."""
    found = [(s, s.window) for s in schemes if s.window is not None and s.window.closes >= today]
    return sorted(found, key=lambda pair: (pair[1].closes, pair[0].scheme))


def due(window: Window, today: date, days: Sequence[int]) -> int | None:
    """The reminder due today: the smallest of `days` the closing is within; None when closed or none is reached.

    A bot that was down past one threshold sends the next one only, so a user never gets two reminders at once."""
    left = (window.closes - today).days
    reached = [n for n in days if 0 <= left <= n]
    return min(reached) if reached else None


def window_line(scheme: Scheme, window: Window, language: Language, today: date) -> str:
    """One window for /deadlines: the scheme, its dates, the days left and how to apply."""
    key = "pm_window_open" if window.opens <= today else "pm_window_later"
    left = (window.closes - today).days
    return text(language, key, title=scheme.title.get(language), opens=window.opens, closes=window.closes,
                days=left, apply=window.apply)  # fmt: skip


def reminder_text(scheme: Scheme, window: Window, language: Language, today: date) -> str:
    """The reminder that a matched scheme's window closes soon, with the clauses matched and how to apply."""
    return text(language, "pm_reminder", title=scheme.title.get(language), closes=window.closes,
                days=(window.closes - today).days, clauses=clauses(scheme, language), apply=window.apply)  # fmt: skip
