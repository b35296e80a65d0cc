"""WeCom rendering of an answer: markdown with numbered sources, and a button card (👍/👎, sources, a person).

Kept in one module so that it can move onto the channel-neutral conversation layer when that lands.
"""

from __future__ import annotations

from bot.channels.wecom.streams import truncate
from bot.core.models import Answer
from bot.core.texts import text

# Button keys come back in template_card_event.event_key as "<action>:<task id>".
ACTIONS = ("up", "down", "sources", "human")
_LABELS = {
    "up": "button_helpful",
    "down": "button_unhelpful",
    "sources": "button_sources",
    "human": "button_human",
}


def sources_markdown(answer: Answer) -> str:
    """The answer's sources, numbered as the answer cites them."""
    lines = [f"**{text(answer.language, 'sources')}**"]
    for number, source in enumerate(answer.sources, 1):
        where = f"{source.path} row {source.row}" if source.row else source.path
        lines.append(f"{number}. {source.title} ({where})")
    return "\n".join(lines)


def answer_markdown(answer: Answer) -> str:
    """The answer text followed by its sources, cut to the platform's stream limit."""
    body = answer.answer if not answer.sources else f"{answer.answer}\n\n{sources_markdown(answer)}"
    return truncate(body)


def answer_card(answer: Answer, task_id: str) -> dict:
    """A button_interaction card under the answer."""
    return {
        "card_type": "button_interaction",
        "main_title": {
            "title": text(answer.language, "sources"),
            "desc": answer.sources[0].title if answer.sources else "",
        },
        "task_id": task_id,
        "button_list": [
            {
                "text": text(answer.language, _LABELS[action]),
                "style": 1 if action == "up" else 2,
                "key": f"{action}:{task_id}",
            }
            for action in ACTIONS
        ],
    }


def notice_card(answer: Answer, task_id: str, title_key: str) -> dict:
    """The card replaced after a click: a notice with no buttons left to press twice."""
    return {
        "response_type": "update_template_card",
        "template_card": {
            "card_type": "text_notice",
            "main_title": {"title": text(answer.language, title_key)},
            "sub_title_text": sources_markdown(answer) if answer.sources else "",
            "task_id": task_id,
        },
    }
