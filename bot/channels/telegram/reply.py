"""Answering one question in a chat: typing action, streamed drafts, the answer in parts with buttons."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from telegram import Bot, Chat, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.channels.telegram import render
from bot.channels.telegram.ratelimit import CountingRateLimiter, answering
from bot.channels.telegram.session import conversation, who
from bot.channels.telegram.staff import hand_off
from bot.conversation.replies import Reply

log = logging.getLogger(__name__)

TYPING_EVERY = 4.5  # Telegram shows "typing…" for 5 s per action
# Telegram allows about one message per second in a chat and 20 per minute in a group; edits count too.
DRAFT_INTERVAL = {ChatType.PRIVATE: 1.0}
GROUP_DRAFT_INTERVAL = 3.0
MIN_DRAFT = 24  # shorter drafts only flicker (and might be the start of the LLM's "not found" marker)


@contextlib.asynccontextmanager
async def typing(bot: Bot, chat_id: int) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block ends."""

    async def keep_typing() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError:
                log.debug("typing action failed", exc_info=True)  # cosmetic: never fail an answer over it
            await asyncio.sleep(TYPING_EVERY)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Drafts:
    """An answer shown while the LLM writes it: one message, edited at most every `interval` seconds.

    Drafts are sent in the background: a draft waiting for the rate limiter must not hold up the model's stream (nor
    use up the answer's deadline), so while one is on its way newer text simply waits for the next chance. While the
    bot's overall pace is saturated (a crowd), drafts are skipped: each one would delay somebody's finished answer.
    """

    def __init__(self, message: Message, interval: float, quote: bool, idle: Callable[[], bool]) -> None:
        self.message = message
        self.interval = interval
        self.quote = quote
        self.idle = idle
        self.draft: Message | None = None
        self.shown = ""
        self.last = 0.0
        self.sending: asyncio.Task[None] | None = None

    async def update(self, plain: str) -> None:
        """Called with the reply so far; shows it unless the last draft is too recent or still on its way."""
        if len(plain.strip()) < MIN_DRAFT or time.monotonic() - self.last < self.interval:
            return
        if (self.sending is not None and not self.sending.done()) or not self.idle():
            return
        markup = render.draft_message(plain)
        if markup != self.shown:
            self.sending = asyncio.create_task(self._show(markup))

    async def _show(self, markup: str) -> None:
        try:
            if self.draft is None:
                self.draft = await self.message.reply_html(markup, do_quote=self.quote)
            else:
                await self.draft.edit_text(markup)
        except TelegramError:
            log.debug("draft not shown", exc_info=True)  # the finished answer replaces it anyway
            return
        self.shown, self.last = markup, time.monotonic()

    async def finish(self, parts: list[str], keyboard: InlineKeyboardMarkup | None) -> None:
        """Turn the draft into the answer's first part and send the rest; buttons go under the last part. In a crowd
        they leave before queued greetings and cards: somebody is waiting for each."""
        if self.sending is not None:
            await self.sending
        with answering():
            await self._send(parts, keyboard)

    async def _send(self, parts: list[str], keyboard: InlineKeyboardMarkup | None) -> None:
        for index, part in enumerate(parts):
            markup = keyboard if index == len(parts) - 1 else None
            if index == 0 and self.draft is not None:
                if part != self.shown or markup is not None:
                    # The final edit keeps the same pace as the drafts, so a fast model cannot flood the chat.
                    await asyncio.sleep(max(0.0, self.last + self.interval - time.monotonic()))
                    await self.draft.edit_text(part, reply_markup=markup)
            else:
                await self.message.reply_html(part, reply_markup=markup, do_quote=self.quote and index == 0)


async def send(chat: Chat, reply: Reply) -> None:
    """A reply of the conversation layer in the chat, its buttons under the last message."""
    messages = render.reply_messages(reply)
    for index, message in enumerate(messages):
        markup = render.keyboard(reply.actions) if index == len(messages) - 1 else None
        await chat.send_message(message, reply_markup=markup)


async def respond(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    """Answer `question` in the update's chat (as a reply in groups), drafts shown while an LLM writes."""
    message, chat = update.effective_message, update.effective_chat
    assert message is not None and chat is not None
    service, asker = conversation(context), who(update)
    if refused := service.refusal(question.strip(), service.language(asker)):
        with answering():
            await message.reply_html(render.reply_messages(refused)[0])
        return
    limiter = context.bot.rate_limiter
    idle = limiter.idle if isinstance(limiter, CountingRateLimiter) else lambda: True
    interval = DRAFT_INTERVAL.get(chat.type, GROUP_DRAFT_INTERVAL)
    drafts = Drafts(message, interval, quote=chat.type != ChatType.PRIVATE, idle=idle)
    async with typing(context.bot, chat.id):
        # In a crowd nobody gets drafts, so the reply is fetched whole: parsing it token by token costs CPU.
        asked = await service.ask(asker, question, on_draft=drafts.update if idle() else None)
    await drafts.finish(render.reply_messages(asked.reply), render.keyboard(asked.reply.actions))
    if asked.hand_off:
        await hand_off(update, context, "reason_unanswered")
