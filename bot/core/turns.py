"""The turns of a conversation as the core reads them: their limits, whether a question leans on the turns before
it, and which turns it is about."""

from __future__ import annotations

import re

from knowledge.lexical import tokenize

# Input limits every channel gets (SECURITY.md): a question, and the turns before it that a follow-up may lean on.
MAX_QUESTION_CHARS = 1000
MAX_TURN_CHARS = 1000
HISTORY_TURNS = 4

# Words that point back at the previous turn ("that one", "and for PhDs?", "那…呢", "它"); a question
# without them that is long enough to stand alone is a new topic, however weakly it matches anything.
_BACK = re.compile(
    r"\b(it|its|that|this|those|these|they|them|one|same|there|then|and|also|what about|how about)\b"
    r"|^(ok|so|and|but)\b|[它那这该其]|呢[？?]?$|还有|另外|同样"
)


def points_back(question: str) -> bool:
    """True when a question names something of an earlier turn ("that one", "and for PhDs?", "那…呢")."""
    return bool(_BACK.search(question.strip().lower()))


def refers_back(question: str) -> bool:
    """True when a question leans on the conversation: it points back, or is too short to stand alone."""
    # Content words in English ("how much if we finish phase 2?" has two); characters in Chinese.
    short = len(tokenize(question)) <= 4 if question.isascii() else len(question) <= 14
    return short or points_back(question)


def topic_of(history: list[str]) -> str:
    """The turns a follow-up is about: the last one that stands on its own, and any follow-ups after it ("how much
    is a one-bedroom?", "and the deposit?" before "how long can I stay?")."""
    start = next((i for i in range(len(history) - 1, -1, -1) if not refers_back(history[i])), 0)
    return "\n".join(history[start:])


def bounded(question: str, history: list[str]) -> tuple[str, list[str]]:
    """The question and the last turns of history cut to their limits: what a channel passes in never costs more
    than a short conversation (a 1 MB history item took the HTTP server from 380 MB to 4.4 GB)."""
    turns = [turn[:MAX_TURN_CHARS] for turn in history[-HISTORY_TURNS:]]
    return question[:MAX_QUESTION_CHARS], turns
