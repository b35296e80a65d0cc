"""What the assistant says, channel-neutral: a reply is plain text or an answer or listing cards, with buttons.

A channel renders a `Reply` its own way (Telegram: HTML and an inline keyboard; the console: plain text and
numbered choices). The button rows are built here, once, for every channel.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.conversation.actions import Action, Kind
from bot.conversation.smalltalk import Intent
from bot.core.interview import Prompt
from bot.core.listings import Page
from bot.core.models import Answer
from bot.core.texts import text
from knowledge.language import Language
from knowledge.programme import Programme

Rows = list[list[Action]]
LANGUAGES = (("en", "English"), ("zh", "中文"))


class Reply(BaseModel):
    """One message to the user: `text` (plain), or an `answer` with its sources, or a page of `cards`."""

    language: Language
    text: str = ""
    answer: Answer | None = None
    cards: Page | None = None
    actions: Rows = Field(default_factory=list)


def say(
    language: Language, key: str, actions: Rows | None = None, programme: Programme | None = None, **values: object
) -> Reply:
    """A reply of one sentence from bot/core/texts/ (naming the programme when it is given)."""
    return Reply(language=language, text=text(language, key, programme, **values), actions=actions or [])


def in_rows(actions: list[Action], width: int = 2) -> Rows:
    """Buttons `width` to a row."""
    return [actions[i : i + width] for i in range(0, len(actions), width)]


def answer_actions(question_id: int, answer: Answer, handoff: bool) -> Rows:
    """Under an answer: helpful / not helpful, sources, and a person when staff take hand-offs."""
    language, rows = answer.language, []
    if answer.answered:
        rows.append(
            [
                Action(kind=Kind.FEEDBACK, args=(str(question_id), "1"), label=text(language, "button_helpful")),
                Action(kind=Kind.FEEDBACK, args=(str(question_id), "0"), label=text(language, "button_unhelpful")),
            ]
        )
    more = follow_up_actions(question_id, language, bool(answer.sources), handoff)
    return [*rows, more] if more else rows


def follow_up_actions(question_id: int, language: Language, sources: bool, handoff: bool) -> list[Action]:
    """The buttons under an answer besides its feedback: sources (when it has some), and a person."""
    more = []
    if sources:
        more.append(Action(kind=Kind.SOURCES, args=(str(question_id),), label=text(language, "button_sources")))
    if handoff:
        more.append(Action(kind=Kind.HUMAN, args=(str(question_id),), label=text(language, "button_human")))
    return more


def language_actions() -> Rows:
    """The choice of interface language."""
    return [[Action(kind=Kind.LANGUAGE, args=(code,), label=name) for code, name in LANGUAGES]]


def prompt_actions(prompt: Prompt, language: Language) -> Rows:
    """A question of the guided check: its choices two per row, and Skip when it may be skipped."""
    choices = [Action(kind=Kind.CHOICE, args=(prompt.fact, value), label=label) for label, value in prompt.options]
    rows = in_rows(choices)
    if prompt.skippable:
        rows.append([Action(kind=Kind.CHOICE, args=(prompt.fact, "skip"), label=text(language, "iv_button_skip"))])
    return rows


def more_actions(kind: str, page: Page, key: str, language: Language) -> Rows:
    """The "more" button under a page of cards, when there are more."""
    if not page.more:
        return []
    return [[Action(kind=Kind.MORE, args=(kind, str(page.page + 1), key), label=text(language, "ls_more"))]]


EXAMPLES = 3  # example questions under a greeting: enough to show the range, short enough for a phone


def small_talk(intent: Intent, language: Language, programme: Programme) -> Reply:
    """A short friendly reply to small talk: what the assistant covers, example questions and the topic buttons."""
    lines = [text(language, f"st_{intent}", programme)]
    if intent in ("greeting", "about") and programme.topics:
        examples = [f"• {topic.question.get(language)}" for topic in programme.topics[:EXAMPLES]]
        lines += ["", text(language, "st_examples"), *examples]
    actions = topic_actions(programme, language) if intent in ("greeting", "about") else []
    return Reply(language=language, text="\n".join(lines), actions=actions)


def topic_actions(programme: Programme, language: Language) -> Rows:
    """The programme's topic buttons (programme.yaml) under the greeting, two per row."""
    return in_rows([Action(kind=Kind.TOPIC, args=(t.id,), label=t.label.get(language)) for t in programme.topics])
