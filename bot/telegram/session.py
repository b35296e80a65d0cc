"""State the handlers share: the services made at start, the user's language, per-user flood control."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.assistant import Assistant
from bot.telegram.records import Records
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
    flood: FloodGate
    reload: asyncio.Task[Any] | None = field(default=None)


def services(context: ContextTypes.DEFAULT_TYPE | Application[Any, Any, Any, Any, Any, Any]) -> Services:
    """The services stored in `bot_data` at start."""
    return context.bot_data["services"]


def ui_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Language:
    """The language chosen with /lang, else the one of the user's Telegram app."""
    chosen = context.user_data.get("language") if context.user_data is not None else None
    if chosen in ("en", "zh"):
        return chosen
    code = update.effective_user.language_code if update.effective_user else None
    return "zh" if (code or "").lower().startswith("zh") else "en"


def remember(context: ContextTypes.DEFAULT_TYPE, question: str, answered: bool) -> int:
    """Add a question to the chat's bounded history; returns how many questions in a row went unanswered."""
    chat = context.chat_data if context.chat_data is not None else {}
    chat["history"] = [*chat.get("history", []), question][-HISTORY_TURNS:]
    chat["misses"] = 0 if answered else chat.get("misses", 0) + 1
    return chat["misses"]


def history(context: ContextTypes.DEFAULT_TYPE) -> list[str]:
    """The chat's recent questions, oldest first."""
    return list((context.chat_data or {}).get("history", []))


def dialogue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> dict[str, Any] | None:  # noqa: ARG001
    """The multi-step dialogue in progress in this chat (as last stored with `set_dialogue`), if any."""
    return (context.chat_data or {}).get("dialogue")


def set_dialogue(update: Update, context: ContextTypes.DEFAULT_TYPE, data: dict[str, Any]) -> None:  # noqa: ARG001
    """Store the chat's dialogue in progress (JSON-serialisable), to be moved to the shared store as it is."""
    if context.chat_data is not None:
        context.chat_data["dialogue"] = data


def clear_dialogue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:  # noqa: ARG001
    """End the chat's dialogue in progress."""
    if context.chat_data is not None:
        context.chat_data.pop("dialogue", None)


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
