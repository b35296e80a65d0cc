"""An LLM answer keeps only what its passages say: every sentence cites a retrieved passage, and every figure in it
(amount, percentage, date, count) is written in a passage it cites."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from knowledge.retrieve import Passage

_CITED = re.compile(r"\[(\d{1,2})\]")
# A sentence ends at . ! ? (followed by a space) or at Chinese full stops, or at a line break (list items).
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？])|\n+")
_NUMBER = re.compile(r"(\d+(?:[.,]\d+)*)\s*(million|mn|billion|bn|thousand|k\b|万|亿|千)?", re.I)
_SCALE = {
    "million": 1e6,
    "mn": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "thousand": 1e3,
    "k": 1e3,
    "万": 1e4,
    "亿": 1e8,
    "千": 1e3,
}


@dataclass
class Grounded:
    """What is left of a reply, and how many sentences went for want of a citation or of a cited figure."""

    text: str
    uncited: int = 0
    unsupported: int = 0
    kept: list[str] = field(default_factory=list)


def _value(digits: str, scale: str | None) -> float:
    # "1,640,000" is a thousands separator; "1,5" (one comma, not three digits after it) a decimal comma.
    if "," in digits and not re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", digits):
        digits = digits.replace(",", ".", 1)
    return round(float(digits.replace(",", "")) * _SCALE.get((scale or "").lower(), 1.0), 6)


def figures(text: str) -> set[float]:
    """Every number written in `text`, as a value: "1.64 million" and "1,640,000" are one figure."""
    found = set()
    for digits, scale in _NUMBER.findall(_CITED.sub(" ", text)):
        try:
            found.add(_value(digits.strip(".,"), scale))
        except ValueError:
            continue
    return found


def ground(body: str, cited: list[Passage], question: str) -> Grounded:
    """Drop each sentence of `body` (citations numbered into `cited`) that cites nothing, or states a figure that
    neither a passage it cites nor the question holds."""
    result = Grounded(text="")
    asked = figures(question)
    for sentence in (s.strip() for s in _SENTENCE.split(body)):
        if not sentence:
            continue
        numbers = [int(n) for n in _CITED.findall(sentence) if 1 <= int(n) <= len(cited)]
        if not numbers:
            result.uncited += 1
            continue
        written = set().union(*(figures(cited[n - 1].text) for n in numbers)) | asked
        if not figures(sentence) <= written:
            result.unsupported += 1
            continue
        result.kept.append(sentence)
    result.text = _join(result.kept)
    return result


_LIST_ITEM = re.compile(r"^([-*•]|\d+[.)、])\s")


def _join(sentences: list[str]) -> str:
    """Sentences back into text: a list item on a line of its own, no space after a Chinese full stop."""
    text = ""
    for sentence in sentences:
        if text and _LIST_ITEM.match(sentence):
            text += "\n"
        elif text and not text.endswith(("。", "！", "？")):
            text += " "
        text += sentence
    return text
