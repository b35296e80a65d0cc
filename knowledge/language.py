"""Language of a text, as the assistant needs it: Chinese or English."""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["en", "zh"]

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def detect_language(text: str) -> Language:
    """Return "zh" when Han characters outweigh Latin words, else "en"."""
    han = len(_HAN.findall(text))
    # One Han character carries about as much as one English word; 2x weighting keeps a
    # Chinese question with an English product name ("NMR 多少钱") Chinese.
    return "zh" if han * 2 >= len(_LATIN_WORD.findall(text)) and han > 0 else "en"
