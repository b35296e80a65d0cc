"""The WeCom bot: callbacks translated into calls of the conversation layer, its replies into streams and cards."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from bot.channels.wecom.clicks import Clicks
from bot.channels.wecom.reach import Reach
from bot.channels.wecom.render import reply_card, reply_markdown
from bot.channels.wecom.staff import CHANNEL, StaffDesk, staffed
from bot.channels.wecom.streams import Stream, Streams, stream_reply
from bot.conversation import commands, guided, handoffs, notify
from bot.conversation.actions import decode
from bot.conversation.firm import Firms
from bot.conversation.identity import qualified
from bot.conversation.replies import Reply, small_talk
from bot.conversation.service import ConversationService, Who
from bot.core.texts import text
from knowledge.settings import Settings

log = logging.getLogger(__name__)

AT_ONCE = 1.0  # seconds to wait for an answer before replying with an unfinished stream
# WeCom polls a stream for 6 minutes; an answer finished later (a crowd, a slow LLM) goes as a new message instead,
# decided with a margin so that a last poll and the post never both carry it.
STREAM_LIFE = 330.0
MENTION = re.compile(r"^(@\S+\s*)+")  # "@RobotA hello" in a group: the mention is not part of the question
EVENT = re.compile(r"^/start\s+event_(\S{1,64})$")  # the text an event's poster asks founders to send


@dataclass
class WeComBot:
    """The Handler of both transports: one conversation layer, its staff desk, firm profiles and outbox, and the
    answers being written."""

    service: ConversationService
    desk: StaffDesk
    firms: Firms
    stream_life: float = STREAM_LIFE
    _answering: set[asyncio.Task] = field(default_factory=set)

    @property
    def reach(self) -> Reach:
        """The ways to a chat after its callback's reply."""
        return self.desk.reach

    @property
    def clicks(self) -> Clicks:
        """What the card buttons do."""
        return Clicks(self.service, self.desk, self.reach, self.firms)

    async def watch(self, stop: asyncio.Event) -> None:
        """Until `stop`: send what the outbox holds for WeCom's chats (notices, staff replies from Telegram) and its
        staff group (Telegram users' hand-off notes)."""
        await notify.watch(self.firms, self.desk.send, stop, CHANNEL)

    async def __call__(self, message: dict, streams: Streams) -> dict | None:
        """A text message is a question (or a staff reply, or a dialogue's answer); an event is a card click."""
        if message.get("msgtype") == "text":
            return await self._text(message, MENTION.sub("", message["text"]["content"]).strip(), streams)
        if message.get("msgtype") == "event":
            return await self._click(message)
        return None

    def _who(self, message: dict) -> Who:
        """The chat (a group's, or the user's own) and user; the callback's response_url is the chat's address."""
        user = str(message.get("from", {}).get("userid", ""))
        chat = f"chat/{message['chatid']}" if message.get("chatid") else user
        # WeCom tells no app language; its users here are mainland founders until they choose otherwise
        return self.service.who(CHANNEL, chat, user, app_language="zh", address=message.get("response_url"))

    async def _text(self, message: dict, question: str, streams: Streams) -> dict | None:
        if not question:
            return None
        if self.desk.chat is not None and message.get("chatid") == self.desk.chat:
            return finished(await self.desk.relay(question))
        who = self._who(message)
        if replies := await self._typed(who, question):
            return finished(replies[-1], intro="\n\n".join(reply_markdown(reply) for reply in replies[:-1]))
        return await self._ask(who, question, streams)

    async def _typed(self, who: Who, typed: str) -> list[Reply] | None:
        """What text that is no question gets: an event's tag, a dialogue's answer, a command (None: a question)."""
        if tagged := EVENT.match(typed):
            self.service.update(who, event=tagged.group(1))
            return [small_talk("greeting", self.service.language(who), self.service.programme)]
        if typed == "/eligibility":
            return guided.start(self.service, who)
        if guided.in_progress(self.service, who):  # a profile is kept from single chats only
            step = await guided.typed(self.service, who, typed, keep=who.chat_id == who.user_id)
            return self.firms.with_offer(who, step)
        if self.firms.editing(who):
            return [await self.firms.edited(who, typed)]
        reply = await commands.run(self.firms, who, typed)
        return None if reply is None else [reply]

    async def _ask(self, who: Who, question: str, streams: Streams) -> dict:
        """Answer in a stream: finished at once when the answer is quick, else served to WeCom's refresh polls."""
        stream_id = uuid.uuid4().hex
        streams.open(stream_id)
        task = asyncio.create_task(self._answer(who, question, streams, stream_id, time.monotonic()))
        self._answering.add(task)  # a reference, so the task is not collected mid-answer
        task.add_done_callback(self._answering.discard)
        await asyncio.wait({task}, timeout=AT_ONCE)
        return stream_reply(stream_id, streams.refresh(stream_id) or Stream())

    async def _answer(self, who: Who, question: str, streams: Streams, stream_id: str, asked_at: float) -> None:
        """The answer (with LLM drafts meanwhile), its card, and the hand-off after repeated misses; in a new message
        when WeCom has stopped polling the stream."""

        async def draft(partial: str) -> None:
            streams.update(stream_id, partial)

        try:
            asked = await self.service.ask(who, question, on_draft=draft)
            content, card = reply_markdown(asked.reply), reply_card(asked.reply, uuid.uuid4().hex)
            if asked.hand_off and (told := await self.desk.hand_off(who, "reason_unanswered")):
                content = f"{content}\n\n{told.text}"
        except Exception:  # the stream must finish whatever failed, or WeCom polls it for six minutes
            log.exception("wecom answer for stream %s failed", stream_id)
            content, card = text(self.service.language(who), "tg_error"), None
        if time.monotonic() - asked_at > self.stream_life:
            log.info("wecom answer for stream %s after %.0f s: sent as a new message", stream_id, self.stream_life)
            streams.update(stream_id, text(self.service.language(who), "wecom_answer_below"), finish=True)
            await self.reach.deliver(who.chat_id, Reply(language=self.service.language(who), text=content))
            return
        streams.update(stream_id, content, finish=True, card=card)

    async def _click(self, message: dict) -> dict | None:
        event = message.get("event", {}).get("template_card_event", {})
        action = decode(str(event.get("event_key", "")))
        handler = self.clicks.handler(action.kind) if action else None
        if action is None or handler is None:
            log.info("wecom card click %r is not a button of ours: ignored", event.get("event_key"))
            return None
        log.info("wecom card click %s", action.data)
        return await handler(self._who(message), action, str(event.get("task_id", "")))


def finished(reply: Reply, intro: str = "") -> dict:
    """A reply that is complete at once (after `intro`), as a finished stream with its buttons' card."""
    content = "\n\n".join(part for part in (intro, reply_markdown(reply)) if part)
    stream = Stream(content, finish=True, card=reply_card(reply, uuid.uuid4().hex))
    return stream_reply(uuid.uuid4().hex, stream)


def build_bot(settings: Settings, service: ConversationService, firms: Firms) -> WeComBot:
    """The bot over a conversation layer, with the staff group when one is configured."""
    webhook = settings.wecom_staff_webhook.get_secret_value() if settings.wecom_staff_webhook else None
    reach, elsewhere = Reach(service.identities), handoffs.other_staff(settings, CHANNEL)
    if webhook is not None and settings.wecom_staff_chat_id is not None:  # the outbox files its notes under it
        service.identities.register(qualified(CHANNEL, handoffs.STAFF))
    desk = StaffDesk(service, reach, firms.outbox, webhook, settings.wecom_staff_chat_id, elsewhere)
    return WeComBot(service, desk, firms)


async def long_connection(settings: Settings, bot: WeComBot, stop: asyncio.Event) -> None:
    """Until `stop`: serve the long connection, and send the outbox by its active push."""
    from bot.channels.wecom.longconn import LongConnection

    secret = settings.wecom_secret.get_secret_value() if settings.wecom_secret else ""
    connection = LongConnection(settings.wecom_long_connection_url, str(settings.wecom_bot_id), secret, bot)
    bot.reach.push = connection.push
    await asyncio.gather(connection.run(stop), bot.watch(stop))


def run_wecom(settings: Settings) -> int:
    """`python -m bot wecom`: long connection when bot id + secret are set, otherwise the callback server."""
    from aiohttp import web

    from bot.channels.wecom.callback import Callback, callback_app
    from bot.channels.wecom.crypto import WeComCrypto
    from bot.conversation.outbox import Outbox
    from bot.conversation.profiles import Profiles
    from bot.conversation.records import Records
    from bot.conversation.saved_answers import serve_saved
    from bot.conversation.state import Conversations
    from bot.core.components import build_assistant

    assistant = build_assistant(settings)
    engine = serve_saved(assistant, settings).engine
    service = ConversationService(
        settings, assistant, Records(engine), Conversations(engine),
        max_question_chars=settings.telegram_max_question_chars, handoffs=staffed(settings),
    )  # fmt: skip
    outbox = Outbox(engine, lease=timedelta(seconds=settings.notice_lease_seconds))
    bot = build_bot(settings, service, Firms(service, Profiles(engine), outbox))
    if settings.wecom_bot_id and settings.wecom_secret:
        asyncio.run(long_connection(settings, bot, asyncio.Event()))
        return 0
    if settings.wecom_token is None or settings.wecom_aes_key is None:
        log.error(
            "wecom: set WECOM_TOKEN and WECOM_AES_KEY (callback) or WECOM_BOT_ID and WECOM_SECRET (long connection)"
        )
        return 2
    crypto = WeComCrypto(settings.wecom_token.get_secret_value(), settings.wecom_aes_key.get_secret_value())
    app = callback_app(Callback(crypto, bot), settings.wecom_path)
    app.cleanup_ctx.append(lambda _: sending(bot))
    web.run_app(app, host=settings.wecom_listen, port=settings.wecom_port)
    return 0


async def sending(bot: WeComBot) -> AsyncIterator[None]:
    """Beside the callback server: the outbox sent by response_url (the only way in this mode), stopped (its batch
    finished) with the server."""
    stop = asyncio.Event()
    task = asyncio.create_task(bot.watch(stop))
    yield
    stop.set()
    await task
