"""The pattern grammar of facts in free text: numbers in three notations, the phrase fragments, the readers.

The programme's words (places, sectors) are data, `knowledge.vocabulary`; the rules that combine both are
`facts.RULES`. Kept as code on purpose: these are regular expressions, tested by a table of sentences.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from knowledge.facts import Scalar
from knowledge.vocabulary import Places, SectorWords, alternation

_EN_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
               "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
               "fifty": 50}  # fmt: skip
_ZH_DIGITS = {char: digit for digit, char in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_MONEY_UNITS = {"万": 0.01, "百万": 1, "千万": 10, "亿": 100, "k": 0.001, "thousand": 0.001, "million": 1, "mn": 1,
                "m": 1, "billion": 1000, "bn": 1000}  # fmt: skip

NUM = (
    r"(?P<n>\d+(?:\.\d+)?(?![\d.])|[零〇一二两三四五六七八九十百千]+|半|(?<![a-z])(?:"
    + "|".join(_EN_NUMBERS)
    + r")(?![a-z]))"
)
PCT = r"(?P<n>\d+(?:\.\d+)?)\s*%"
LESS = r"(?P<q>less than |under |almost |nearly |不到|不满|未满|近|快)?"
FOUNDED = r"(?:found|establish|regist|incorporat|set up|start|launch)\w*"
ZH_FOUNDED = r"(?:成立|注册|创立|创办)"
COMPANY = r"(?:company|startup|start-up|firm|business|venture|enterprise)"
PEOPLE = r"(?:people|ppl|employees|staff|persons|workers|ftes?|team members|heads)"
RD = r"(?:r\s*&\s*d|research(?: and development)?)"
HOME_EN = r"(?:a\s+|an\s+|any\s+|my\s+|our\s+)?(?:home|flat|apartment|house|property)"

# Words that follow "in" but name no place.
NOT_PLACES = {"the", "a", "an", "our", "my", "this", "that", "china", "prc", "mainland", "same", "another"}


Read = Callable[[re.Match[str], date], Scalar]


def _number(token: str) -> float:
    """A number in digits, English words or Chinese numerals (十八, 三十七, 两, 半)."""
    if token[0].isdigit():
        return float(token)
    if token in _EN_NUMBERS:
        return _EN_NUMBERS[token]
    if token == "半":
        return 0.5
    total, digit = 0, 0
    for char in token:
        if char in _ZH_DIGITS:
            digit = _ZH_DIGITS[char]
        else:
            total, digit = total + (digit or 1) * _ZH_UNITS[char], 0
    return total + digit


def number(match: re.Match[str], _: date) -> float:
    """The number in group `n`."""
    return _number(match.group("n"))


def _qualified(match: re.Match[str]) -> bool:
    return match.groupdict().get("q") is not None


def years(match: re.Match[str], today: date) -> float:
    """A duration in years; "less than N" reads as just under N."""
    unit = match.groupdict().get("u") or "year"
    years = number(match, today) / (12 if unit.startswith(("month", "月")) else 1)
    return round(years - 0.01, 2) if _qualified(match) else years


def months(match: re.Match[str], today: date) -> int:
    """A duration in whole months; "less than N months" reads as N - 1."""
    months = int(number(match, today) * (12 if match.group("u").startswith(("year", "年")) else 1))
    return months - 1 if _qualified(match) else months


def since(match: re.Match[str], today: date) -> int:
    """Years from a founding year to today, counted in calendar years."""
    return max(today.year - int(match.group("y")), 0)


def million_rmb(match: re.Match[str], today: date) -> float:
    """An amount in millions of RMB; without a unit it is in yuan."""
    unit = match.groupdict().get("u")
    return number(match, today) * (_MONEY_UNITS[unit] if unit else 1e-6)


def place(places: Places, name: str) -> dict[str, Scalar]:
    """What naming a company's place says about the district and the city."""
    if name in places.city:
        return {"registered_in_city": True}
    if name in places.district:
        return {"registered_in_district": True}
    if name in places.elsewhere_in_city:
        return {"registered_in_district": False, "registered_in_city": True}
    return {} if name in NOT_PLACES else {"registered_in_district": False}


def not_place(places: Places, name: str) -> dict[str, Scalar]:
    """What "not in <place>" says: only a district or the city itself rules anything out."""
    if name in places.city:
        return {"registered_in_district": False, "registered_in_city": False}
    return {"registered_in_district": False} if name in places.district else {}


def sector_pattern(words: SectorWords) -> str:
    """A sector's words: whole English words even next to Chinese ("ic设计", "影像ai"), where \\b sees no
    boundary, with a plural allowed; stems anywhere."""
    whole = [rf"(?<![a-z])(?:{alternation(words.words)})(?:s|es)?(?![a-z])"] if words.words else []
    return "|".join(whole + ([alternation(words.stems)] if words.stems else []))


@dataclass(frozen=True)
class Rule:
    """A pattern and the facts a match of it states."""

    pattern: re.Pattern[str]
    read: Callable[[re.Match[str], date], dict[str, Scalar]]


def stating(fact: str, value: Read | Scalar, *patterns: str) -> tuple[Rule, ...]:
    """Rules that state `fact`: a fixed value, or one read from the match."""

    def read(match: re.Match[str], today: date) -> dict[str, Scalar]:
        return {fact: value(match, today) if callable(value) else value}

    return tuple(Rule(re.compile(pattern), read) for pattern in patterns)


def locating(reader: Callable[[str], dict[str, Scalar]], *patterns: str) -> tuple[Rule, ...]:
    """Rules whose match names a place (group `p`), read by `reader`."""
    return tuple(Rule(re.compile(pattern), lambda match, _: reader(match.group("p"))) for pattern in patterns)
