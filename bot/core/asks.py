"""What a question asks for (an amount, a date, a duration, a contact) and whether a sentence holds one.

Read from the question's form, in English and Chinese, not from any corpus's words: a short answer keeps the
sentence that carries what was asked even when another shares more of the question's words.
"""

from __future__ import annotations

import re

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_ZH_NUMBER = r"[\d一二两三四五六七八九十百千]+"

# kind -> (the question asks for it, a text holds it)
ASKS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "amount": (
        re.compile(
            r"how much|how many (?:yuan|rmb)|\b(?:cost|costs|fee|fees|price|prices|charge|charges|amount|cap|rate|"
            r"maximum|max|budget|share|percentage|percent)\b"
            r"|多少(?![天年个月周小时次人家])|费用|价格|收费|金额|比例|上限|最高|最多",
            re.IGNORECASE,
        ),
        re.compile(
            rf"(?:rmb|cny|usd|eur|¥|￥|\$)\s?{_NUMBER}|{_NUMBER}\s*(?:yuan|rmb|元|万|亿|million|thousand|k\b|%)"
            rf"|{_ZH_NUMBER}(?:万|千)?元",
            re.IGNORECASE,
        ),
    ),
    "date": (
        re.compile(
            r"\bwhen\b|deadline|which date|what date|until when|\bdue\b|什么时候|何时|截止|哪天|几号|日期|几月",
            re.IGNORECASE,
        ),
        re.compile(
            rf"\b\d{{4}}-\d{{1,2}}-\d{{1,2}}\b|\b\d{{1,2}}\s+{_MONTH}\s+\d{{4}}|\b{_MONTH}\s+\d{{1,2}}\b"
            r"|\d{4}年\d{1,2}月|\d{1,2}月\d{1,2}日|每年\d{1,2}月|\bq[1-4]\b|第[一二三四]季度",
            re.IGNORECASE,
        ),
    ),
    "duration": (
        re.compile(
            r"how long|how many (?:years|months|weeks|days|hours)|\bduration\b|\bperiod\b"
            r"|多久|多长时间|几年|几个月|多少天|多少个月",
            re.IGNORECASE,
        ),
        re.compile(
            rf"{_NUMBER}\s*(?:working\s+|calendar\s+)?(?:years?|months?|weeks?|days?|hours?)\b"
            rf"|{_ZH_NUMBER}\s*个?(?:年|月|周|天|日|工作日|小时)",
            re.IGNORECASE,
        ),
    ),
    "contact": (
        re.compile(
            r"\bcontact|\be-?mail|\bphone|\bcall\b|who (?:do|should|can) i|where (?:do|can|should) i|how (?:do|can) i "
            r"(?:apply|book|register|submit)"
            r"|联系|邮箱|电话|找谁|向谁|(?:哪里|在哪)(?:申请|预约|提交|办理)|(?:怎么|如何)(?:申请|预约|办理)",
            re.IGNORECASE,
        ),
        re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\+?\d[\d ()-]{6,}\d|https?://|www\.", re.IGNORECASE),
    ),
}


def asked_for(question: str) -> list[str]:
    """The kinds of value the question asks for (none for an open question)."""
    return [kind for kind, (asks, _) in ASKS.items() if asks.search(question)]


def holds(kinds: list[str], text: str) -> bool:
    """Whether the text holds a value of one of those kinds."""
    return any(ASKS[kind][1].search(text) for kind in kinds)
