"""State the handlers share: the services made at start (the conversation layer among them), per-user flood control,
and the translation of an update into the conversation layer's `Who`."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.conversation.actions import Action, decode
from bot.conversation.firm import Firms
from bot.conversation.records import Records
from bot.conversation.saved_answers import SavedAnswers
from bot.conversation.service import ConversationService, Who
from bot.core.assistant import Assistant
from knowledge.language import Language
from knowledge.settings import Settings


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

    conversation: ConversationService
    flood: FloodGate
    answers: SavedAnswers
    firms: Firms
    reload: asyncio.Task[Any] | None = field(default=None)

    @property
    def settings(self) -> Settings:
        """The bot's settings."""
        return self.conversation.settings

    @property
    def assistant(self) -> Assistant:
        """The answering core."""
        return self.conversation.assistant

    @property
    def records(self) -> Records:
        """What staff see: questions, feedback, hand-offs."""
        return self.conversation.records


def services(context: ContextTypes.DEFAULT_TYPE | Application[Any, Any, Any, Any, Any, Any]) -> Services:
    """The services stored in `bot_data` at start."""
    return context.bot_data["services"]


def conversation(context: ContextTypes.DEFAULT_TYPE) -> ConversationService:
    """The channel-neutral conversation the handlers translate to and from."""
    return services(context).conversation


def who(update: Update) -> Who:
    """The chat and user of an update, as the conversation layer knows them."""
    chat, user = update.effective_chat, update.effective_user
    name = user.full_name + (f" (@{user.username})" if user.username else "") if user else ""
    return Who(
        chat_id=chat.id if chat else 0,
        user_id=user.id if user else None,
        app_language=user.language_code if user else None,
        name=name,
    )


def pressed(update: Update) -> Action:
    """The action of the button pressed (handlers are routed by the action's pattern, so it decodes)."""
    action = decode(update.callback_query.data or "")
    assert action is not None
    return action


def ui_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Language:
    """The language chosen with /lang, else the one of the user's Telegram app."""
    return conversation(context).language(who(update))
