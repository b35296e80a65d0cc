"""What every handler may need before doing its work: one sentence in the user's language, and the staff-only guard."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import ContextTypes

from bot.channels.telegram import render
from bot.channels.telegram.session import conversation, services, ui_language
from bot.conversation.replies import say as say_in

log = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


async def say(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str, **values: object) -> None:
    """Reply with one sentence from bot/core/texts/ in the user's language, naming the programme."""
    if update.effective_message is not None:
        reply = say_in(ui_language(update, context), key, programme=conversation(context).programme, **values)
        await update.effective_message.reply_html(render.reply_messages(reply)[0])


def staff_only(handler: Handler) -> Handler:
    """Run `handler` for ADMIN_USER_IDS only; anyone else gets a polite refusal, and the attempt is logged."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if not is_staff(update, context):
            log.warning("refused staff command %r from user %s", handler.__name__, user.id if user else None)
            await say(update, context, "tg_not_staff")
            return
        await handler(update, context)

    return guarded


def is_staff(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Whether the update comes from one of ADMIN_USER_IDS."""
    user = update.effective_user
    return user is not None and user.id in services(context).settings.admin_user_ids
