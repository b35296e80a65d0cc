"""State the handlers share: the services made at start, per-user flood control, and the helpers that read and
write a chat's conversation and a user's language in the shared database (any replica may get the next update)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.conversation.outbox import Outbox
from bot.conversation.profiles import Profiles
from bot.conversation.records import Records
from bot.conversation.state import ChatState, Conversations
from bot.core.assistant import Assistant
from knowledge.language import Language
from knowledge.settings import Settings

HISTORY_TURNS = 4  # earlier questions a follow-up is read with; the core looks at the last ones only


class FloodGate:
    """Per-user sliding window: at most `limit` messages in `seconds`, then one warning, then silence."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._seen: dict[int, deque[float]] = {}
        self._warned: set[int] = set()

    def check(self, user_id: int) -> Literal["ok", "warn", "drop"]:
        """Whether to handle this user's message, warn them once, or drop it."""
        now = time.monotonic()
        seen = self._seen.setdefault(user_id, deque())
        while seen and now - seen[0] > self.seconds:
            seen.popleft()
        if len(seen) < self.limit:
            seen.append(now)
            self._warned.discard(user_id)
            return "ok"
        if user_id in self._warned:
            return "drop"
        self._warned.add(user_id)
        return "warn"


@dataclass
class Services:
    """What every handler needs, built once when the application starts."""

    settings: Settings
    assistant: Assistant
    records: Records
    conversations: Conversations
    flood: FloodGate
    profiles: Profiles
    outbox: Outbox
    reload: asyncio.Task[Any] | None = field(default=None)


def services(context: ContextTypes.DEFAULT_TYPE | Application[Any, Any, Any, Any, Any, Any]) -> Services:
    """The services stored in `bot_data` at start."""
    return context.bot_data["services"]


def _chat_id(update: Update) -> int | None:
    return update.effective_chat.id if update.effective_chat else None


def chat_state(update: Update, context: ContextTypes.DEFAULT_TYPE) -> ChatState:
    """The conversation of the update's chat, as stored now."""
    chat_id = _chat_id(update)
    return services(context).conversations.get(chat_id) if chat_id is not None else ChatState()


def set_chat_state(update: Update, context: ContextTypes.DEFAULT_TYPE, **fields: Any) -> None:
    """Change some fields of the chat's conversation (see ChatState), leaving the others."""
    chat_id = _chat_id(update)
    if chat_id is not None:
        services(context).conversations.set(chat_id, **fields)


def ui_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Language:
    """The language chosen with /lang, else the one of the user's Telegram app."""
    user = update.effective_user
    chosen = services(context).conversations.language(user.id) if user else None
    if chosen is not None:
        return chosen
    code = user.language_code if user else None
    return "zh" if (code or "").lower().startswith("zh") else "en"


def set_ui_language(update: Update, context: ContextTypes.DEFAULT_TYPE, language: Language) -> None:
    """Keep the user's choice from /lang."""
    if update.effective_user is not None:
        services(context).conversations.set_language(update.effective_user.id, language)


def remember(
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, answered: bool, question_id: int
) -> int:
    """Add a recorded question to the chat's bounded history; returns how many in a row went unanswered."""
    chat_id = _chat_id(update)
    if chat_id is None:
        return 0
    return services(context).conversations.remember(chat_id, question, answered, question_id, keep=HISTORY_TURNS)


def history(update: Update, context: ContextTypes.DEFAULT_TYPE) -> list[str]:
    """The chat's recent questions, oldest first."""
    return chat_state(update, context).history


def dialogue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> dict[str, Any] | None:
    """The multi-step dialogue in progress in this chat (as last stored with `set_dialogue`), if any."""
    return chat_state(update, context).dialogue


def set_dialogue(update: Update, context: ContextTypes.DEFAULT_TYPE, data: dict[str, Any]) -> None:
    """Store the chat's dialogue in progress (JSON-serialisable); the next step may reach another replica."""
    set_chat_state(update, context, dialogue=data)


def clear_dialogue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """End the chat's dialogue in progress."""
    set_chat_state(update, context, dialogue=None)


def dialogue_part(update: Update, context: ContextTypes.DEFAULT_TYPE, name: str) -> Any:
    """One feature's share of the chat's dialogue slot (the guided check, the listing searches), if stored."""
    return (dialogue(update, context) or {}).get(name)


def set_dialogue_part(update: Update, context: ContextTypes.DEFAULT_TYPE, name: str, value: Any) -> None:
    """Store one feature's share of the dialogue slot, the others' shares kept; None removes it."""
    parts = {key: part for key, part in (dialogue(update, context) or {}).items() if key != name}
    if value is not None:
        parts[name] = value
    if parts:
        set_dialogue(update, context, parts)
    else:
        clear_dialogue(update, context)
