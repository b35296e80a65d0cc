"""An LLM answer keeps only what its passages say: every sentence cites a retrieved passage, and every figure in it
(amount, percentage, date, count) is written in a passage it cites."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.retrieve import Passage

_CITED = re.compile(r"\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")  # [1], also [1, 2]
# Within a line, a sentence ends at . ! ? followed by a space, or at a Chinese full stop.
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？])")
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
    neither a passage it cites nor the question holds; paragraphs and lines keep their breaks."""
    result = Grounded(text="")
    asked = figures(question)
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", body):
        lines = []
        for line in paragraph.splitlines():
            kept = [s for s in (s.strip() for s in _SENTENCE.split(line)) if s and _backed(s, cited, asked, result)]
            if kept:
                lines.append(_join(kept))
        if lines:
            paragraphs.append("\n".join(lines))
    result.text = "\n\n".join(paragraphs)
    return result


def _backed(sentence: str, cited: list[Passage], asked: set[float], tally: Grounded) -> bool:
    cited_numbers = (int(n) for group in _CITED.findall(sentence) for n in group.split(","))
    numbers = [n for n in cited_numbers if 1 <= n <= len(cited)]
    if not numbers:
        tally.uncited += 1
        return False
    written = set().union(*(figures(cited[n - 1].text) for n in numbers)) | asked
    if not figures(sentence) <= written:
        tally.unsupported += 1
        return False
    return True


def _join(sentences: list[str]) -> str:
    """Sentences of one line back together: a space between them, none after a Chinese full stop."""
    text = sentences[0]
    for sentence in sentences[1:]:
        text += ("" if text.endswith(("。", "！", "？")) else " ") + sentence
    return text
