"""WeCom rendering of the conversation layer's replies: markdown with numbered sources, and template cards whose
buttons carry each `Action`'s data (it comes back as the click's event_key)."""

from __future__ import annotations

from bot.channels.wecom.streams import truncate
from bot.conversation import listings
from bot.conversation.actions import Action
from bot.conversation.replies import Reply
from bot.conversation.service import StaffNote
from bot.core.models import Answer, Source
from bot.core.texts import text
from knowledge.language import Language

MAX_BUTTONS = 6  # a button_interaction card's button_list
CARD_TEXT_BYTES = 2048  # a card is a glance: longer text goes to the stream or a response_url post
_PRIMARY = ("fb:", "el:")  # feedback and the guided check's choices are the buttons to press; others are grey


def sources_markdown(sources: list[Source], language: Language) -> str:
    """Sources numbered as the answer cites them."""
    lines = [f"**{text(language, 'sources')}**"]
    for number, source in enumerate(sources, 1):
        where = f"{source.path} row {source.row}" if source.row else source.path
        lines.append(f"{number}. {source.title} ({where})")
    return "\n".join(lines)


def answer_markdown(answer: Answer) -> str:
    """The answer text followed by its sources."""
    if not answer.sources:
        return answer.answer
    return f"{answer.answer}\n\n{sources_markdown(answer.sources, answer.language)}"


def _shown(rows: list[list[Action]]) -> tuple[list[Action], list[Action]]:
    """The buttons that fit on a card and those left off: the first ones and the last (Skip, More) stay."""
    actions = [action for row in rows for action in row]
    if len(actions) <= MAX_BUTTONS:
        return actions, []
    return [*actions[: MAX_BUTTONS - 1], actions[-1]], actions[MAX_BUTTONS - 1 : -1]


def reply_markdown(reply: Reply) -> str:
    """A reply's text, cut to the platform's message limit: an answer with sources, listing cards, or plain; the
    choices that did not fit on its card are named, to be typed."""
    if reply.answer is not None:
        return truncate(answer_markdown(reply.answer))
    if reply.cards is not None:
        cards = listings.shown(reply.cards, reply.language)
        return truncate("\n\n".join("\n".join([f"**{c.heading}**", *c.lines, f"*— {c.where}*"]) for c in cards))
    _, left_off = _shown(reply.actions)
    if left_off:
        more = text(reply.language, "wecom_or_type", options="、".join(action.label for action in left_off))
        return truncate(f"{reply.text}\n{more}")
    return truncate(reply.text)


def _buttons(rows: list[list[Action]]) -> list[dict]:
    actions, _ = _shown(rows)
    return [
        {"text": action.label, "style": 1 if action.data.startswith(_PRIMARY) else 2, "key": action.data}
        for action in actions
    ]


def reply_card(reply: Reply, task_id: str, body: str = "", title: str | None = None) -> dict | None:
    """The buttons of a reply as a button_interaction card (None without buttons), with `body` and `title`."""
    if not reply.actions:
        return None
    heading = {"title": title or text(reply.language, "wecom_choose")}
    if reply.answer is not None and title is None:
        sources = reply.answer.sources
        heading = {"title": text(reply.language, "sources"), "desc": sources[0].title if sources else ""}
    card = {"card_type": "button_interaction", "main_title": heading, "task_id": task_id}
    card["button_list"] = _buttons(reply.actions)
    if body:
        card["sub_title_text"] = truncate(body, CARD_TEXT_BYTES)
    return card


def notice_card(task_id: str, title: str, body: str = "") -> dict:
    """A card without buttons: what a clicked card becomes when nothing is left to press."""
    card = {"card_type": "text_notice", "main_title": {"title": title}, "task_id": task_id}
    if body:
        card["sub_title_text"] = truncate(body, CARD_TEXT_BYTES)
    return card


def update(card: dict) -> dict:
    """The passive reply to a click that replaces the clicked card."""
    return {"response_type": "update_template_card", "template_card": card}


def markdown_message(content: str) -> dict:
    """A markdown message for a response_url or a group webhook."""
    return {"msgtype": "markdown", "markdown": {"content": truncate(content)}}


def staff_markdown(note: StaffNote, code: int) -> str:
    """The hand-off note in the staff group, with the number staff answer it by (staff read English)."""
    lines = [text("en", "wecom_handoff_staff", who=note.who, reason=note.reason, code=code)]
    if note.recent:
        lines += ["", f"**{text('en', 'handoff_recent')}**", *(f"- {question[:300]}" for question in note.recent)]
    return "\n".join(lines)
