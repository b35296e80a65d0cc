"""The WeCom bot: turns callbacks into questions for the assistant and answers into streams and cards."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass, field

from bot.channels.wecom.render import ACTIONS, answer_card, answer_markdown, notice_card
from bot.channels.wecom.streams import Stream, Streams, stream_reply
from bot.core.assistant import Assistant
from bot.core.models import Answer
from bot.core.texts import text
from knowledge.settings import Settings

log = logging.getLogger(__name__)

HISTORY_TURNS = 4  # earlier questions a follow-up may lean on
AT_ONCE = 1.0  # seconds to wait for an answer before replying with an unfinished stream
MENTION = re.compile(r"^(@\S+\s*)+")  # "@RobotA hello" in a group: the mention is not part of the question
_CLICK_TITLES = {"up": "feedback_thanks", "down": "feedback_thanks", "sources": "sources"}


@dataclass
class WeComBot:
    """Per-user history and the answers whose cards can still be clicked."""

    assistant: Assistant
    history: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)

    async def __call__(self, message: dict, streams: Streams) -> dict | None:
        """The Handler of both transports."""
        user = str(message.get("from", {}).get("userid", ""))
        if message.get("msgtype") == "text":
            return await self._ask(user, MENTION.sub("", message["text"]["content"]).strip(), streams)
        if message.get("msgtype") == "event":
            return self._click(message.get("event", {}).get("template_card_event", {}))
        return None

    async def _ask(self, user: str, question: str, streams: Streams) -> dict | None:
        if not question:
            return None
        stream_id, task_id = uuid.uuid4().hex, uuid.uuid4().hex
        turns = self.history.setdefault(user, [])

        async def draft(text: str) -> None:
            streams.update(stream_id, text)

        streams.open(stream_id)
        answering = asyncio.create_task(self.assistant.answer(question, turns[-HISTORY_TURNS:], on_draft=draft))
        turns.append(question)
        done, _ = await asyncio.wait({answering}, timeout=AT_ONCE)
        if done:
            self._finish(streams, stream_id, task_id, answering.result())
        else:
            answering.add_done_callback(lambda task: self._late(task, streams, stream_id, task_id))
        return stream_reply(stream_id, streams.refresh(stream_id) or Stream())

    def _late(self, task: asyncio.Task, streams: Streams, stream_id: str, task_id: str) -> None:
        """Finish the stream of an answer that outlasted the first reply, or say it failed."""
        if task.cancelled() or task.exception() is not None:
            log.error(
                "wecom answer for stream %s failed: %r", stream_id, None if task.cancelled() else task.exception()
            )
            streams.update(stream_id, text("zh", "tg_error"), finish=True)
            return
        self._finish(streams, stream_id, task_id, task.result())

    def _finish(self, streams: Streams, stream_id: str, task_id: str, answer: Answer) -> None:
        """Complete the stream with the answer, its sources and its card."""
        self.answers[task_id] = answer
        streams.update(stream_id, answer_markdown(answer), finish=True, card=answer_card(answer, task_id))

    def _click(self, event: dict) -> dict | None:
        action, _, task_id = str(event.get("event_key", "")).partition(":")
        answer = self.answers.get(task_id)
        if action not in ACTIONS or answer is None:
            log.info("wecom card click %r for an unknown or expired answer: ignored", event.get("event_key"))
            return None
        log.info("wecom card click %s on answer %s", action, task_id)
        return notice_card(answer, task_id, _CLICK_TITLES.get(action, "button_human"))


def run_wecom(settings: Settings) -> int:
    """`python -m bot wecom`: long connection when bot id + secret are set, otherwise the callback server."""
    from aiohttp import web

    from bot.channels.wecom.callback import Callback, callback_app
    from bot.channels.wecom.crypto import WeComCrypto
    from bot.channels.wecom.longconn import LongConnection
    from bot.core.components import build_assistant

    bot = WeComBot(build_assistant(settings))
    if settings.wecom_bot_id and settings.wecom_secret:
        connection = LongConnection(
            settings.wecom_long_connection_url, settings.wecom_bot_id, settings.wecom_secret.get_secret_value(), bot
        )
        asyncio.run(connection.run(asyncio.Event()))
        return 0
    if settings.wecom_token is None or settings.wecom_aes_key is None:
        log.error(
            "wecom: set WECOM_TOKEN and WECOM_AES_KEY (callback) or WECOM_BOT_ID and WECOM_SECRET (long connection)"
        )
        return 2
    crypto = WeComCrypto(settings.wecom_token.get_secret_value(), settings.wecom_aes_key.get_secret_value())
    app = callback_app(Callback(crypto, bot), settings.wecom_path)
    web.run_app(app, host=settings.wecom_listen, port=settings.wecom_port)
    return 0
