"""The structure of text without markup (a PDF's text layer, plain text): headings, clauses and running heads.

Official texts and guides carry their structure in the words ("Chapter 4.", "第三条", "2. Before you start",
"Can we still apply?"), not in markup. Marked as Markdown headings and paragraphs, a section or an FAQ entry
becomes a chunk of its own under its heading, instead of a window of lines that runs across several topics and
then matches every question a little.
"""

from __future__ import annotations

import re
from collections import Counter

_SENTENCE_ENDS = tuple(".。:：;；!！?？")
# "Chapter 4. Scenario pilots", "Part II: Funding", "第四章 场景试点", "第二节　申请".
_CHAPTER = re.compile(
    r"^[ \t]*((?:chapter|part|section)[ \t]+(?:\d+|[IVXLC]+)\b[.:：]?[^.。;；\n]{0,80}"
    r"|第[一二三四五六七八九十百零\d]+[章节编][^。；\n]{0,40})[ \t]*$",
    re.IGNORECASE,
)
# "2. Before you start: documents to prepare", "5.1 Key dates", "三、申报材料": a short numbered title, which
# does not end like a sentence (a numbered clause does: "1. Programme Members of the programme.").
_NUMBERED = re.compile(
    r"^[ \t]*(?:\d{1,2}(?:\.\d{1,2})*\.?[ \t]+[A-Z\u3400-\u9fff]|[一二三四五六七八九十]{1,3}、)[^\n]{0,60}$"
)
# An FAQ entry's question: short, capitalised, ends with a question mark.
_QUESTION = re.compile(r"^[ \t]*[A-Z\u3400-\u9fff][^\n]{3,150}[?？][ \t]*$")
# An article or a step starts a paragraph of its own: "Article 12.", "第十二条", "Step 3." (steps are then packed
# together as a list, knowledge.split).
_CLAUSE = re.compile(r"^[ \t]*(?:(?:article|step)[ \t]+\d+\b|第[一二三四五六七八九十百零\d]+[条步])", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
# Where a line starts a block of its own rather than going on with the line above.
_BLOCK = re.compile(
    r"^\s*(?:#|[-*•·]\s|\(?[a-z\d]{1,3}[.)]\s|（[一二三四五六七八九十\d]+）|[一二三四五六七八九十]{1,3}、)"
)


def _starts_break(before: str) -> bool:
    """Whether the previous line ends where a new block may start: blank, a sentence end, or a short line."""
    return len(before) < 50 or before.endswith(_SENTENCE_ENDS)


def _heading(line: str, after: str) -> str | None:
    """The line as a Markdown heading, if it reads as one: a chapter line, or a numbered title or a question that
    neither ends like a clause nor goes on in lower case on the next line (a wrapped list item)."""
    if _CHAPTER.match(line):
        return f"\n## {line.strip()}\n"
    if line.rstrip().endswith((".", "。", ";", "；", ",", "，")) or after[:1].islower():
        return None
    if _NUMBERED.match(line):
        return f"\n## {line.strip()}\n"
    if _QUESTION.match(line):
        return f"\n### {line.strip()}\n"
    return None


def _marked(lines: list[str], index: int) -> str:
    line = lines[index]
    if index and not _starts_break(lines[index - 1].rstrip()):
        return line
    after = lines[index + 1].strip() if index + 1 < len(lines) else ""
    return _heading(line, after) or (f"\n{line}" if _CLAUSE.match(line) else line)


def mark_structure(text: str) -> str:
    """Chapters and numbered titles as `##` headings, FAQ questions as `###`, clauses as paragraphs of their own.

    Not a line that continues a wrapped sentence ("...as required under\\nSection 3 of these rules"): the line
    before a heading is blank, ends a sentence, or is short (a title, another heading).
    """
    lines = text.splitlines()
    return "\n".join(_marked(lines, index) for index in range(len(lines)))


def _starts_block(line: str) -> bool:
    return bool(_BLOCK.match(line) or _CLAUSE.match(line))


def unwrap(text: str) -> str:
    """Lines broken by the page width joined again: a PDF's text layer ends a line wherever the page did, and a
    sentence cut in two would be quoted in pieces. Blocks (headings, list items, clauses) keep their own lines."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        previous = lines[-1] if lines else ""
        if not stripped or not previous.strip() or previous.lstrip().startswith("#") or _starts_block(line):
            lines.append(line)
        else:
            cjk = previous[-1:] >= "\u3400" and stripped[:1] >= "\u3400"
            lines[-1] = previous.rstrip() + ("" if cjk else " ") + stripped
    return "\n".join(lines)


def without_running_heads(pages: list[str]) -> list[str]:
    """Pages without the header and footer lines that repeat on most pages ("Guide 2025 - page 3")."""
    if len(pages) < 2:
        return pages
    edges = [[line.strip() for line in page.splitlines() if line.strip()] for page in pages]
    seen = Counter(key for lines in edges for key in {_DIGITS.sub("#", line) for line in lines[:2] + lines[-2:]})
    repeated = {key for key, count in seen.items() if count >= max(2, len(pages) / 2)}

    def kept(lines: list[str]) -> str:
        ends = set(range(2)) | set(range(len(lines) - 2, len(lines)))
        return "\n".join(line for i, line in enumerate(lines) if not (i in ends and _DIGITS.sub("#", line) in repeated))

    return [kept(lines) for lines in edges]
