"""The Telegram application: built from settings, the assistant made once at start, served by polling or webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import Application, Defaults

from bot.channels.telegram import render
from bot.channels.telegram.delivery import RetryingRequest
from bot.channels.telegram.handlers import register
from bot.channels.telegram.notices import watch
from bot.channels.telegram.ratelimit import TELEGRAM_PACING, CountingRateLimiter, Pacing
from bot.channels.telegram.session import FloodGate, Services, services
from bot.channels.telegram.webhook import serve_webhook
from bot.conversation.firm import Firms
from bot.conversation.handoffs import other_staff
from bot.conversation.identity import NUMERIC
from bot.conversation.outbox import Clock, Outbox, utc_now
from bot.conversation.profiles import Profiles
from bot.conversation.records import Records
from bot.conversation.saved_answers import serve_saved
from bot.conversation.service import ConversationService
from bot.conversation.state import Conversations
from bot.core.assistant import Assistant
from bot.core.components import build_assistant
from bot.ops.site import new_metrics, start_operator_site
from knowledge.programme import Programme
from knowledge.settings import Settings

log = logging.getLogger(__name__)

# Updates handled at once. A handler holds its slot while its reply waits for the overall pace: with PTB's 256, a
# crowd's greetings waiting for the pace held every slot and questions were not even read until those left.
CONCURRENT_UPDATES = 4096
STOP_NOTICES_SECONDS = 10.0  # a stopping bot waits this long for the notices batch being sent (50 at 30/s: ~2 s)


def build_application(
    settings: Settings,
    make_assistant: Callable[[Settings], Assistant] = build_assistant,
    programme: Programme | None = None,
    *,
    pacing: Pacing = TELEGRAM_PACING,
    clock: Clock = utc_now,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bot, ready for `run_polling`, or for `serve_webhook` when a webhook is configured; nothing is loaded or
    contacted until it starts. `programme`: whom it speaks for when the assistant was not built from folders;
    `pacing`: Telegram's per-chat limits (tests not about them pass none); `clock`: today for deadlines (tests
    move it)."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = new_metrics(settings, "telegram")

    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        assistant = make_assistant(settings)
        answers = serve_saved(assistant, settings)  # staff's saved answers, served like curated.yaml's
        engine = answers.engine
        conversation = ConversationService(
            settings,
            assistant,
            Records(engine),
            Conversations(engine),
            max_question_chars=settings.telegram_max_question_chars,
            handoffs=settings.telegram_staff_chat_id is not None or other_staff(settings, NUMERIC) is not None,
            programme=programme,
        )
        flood = FloodGate(settings.telegram_flood_messages, settings.telegram_flood_seconds)
        outbox = Outbox(engine, clock=clock, lease=timedelta(seconds=settings.notice_lease_seconds))
        firms = Firms(conversation, Profiles(engine), outbox)
        found = Services(conversation=conversation, flood=flood, answers=answers, firms=firms)
        application.bot_data["services"] = found
        # /healthz, /readyz, /metrics on HTTP_PORT: the image's HEALTHCHECK calls /healthz in every mode.
        assistant.observer = metrics
        application.bot_data["operator"] = await start_operator_site(settings, metrics, assistant)
        await application.bot.set_my_commands(render.bot_commands("en"))
        await application.bot.set_my_commands(render.bot_commands("zh"), language_code="zh")
        application.bot_data["stop_notices"] = stop = asyncio.Event()
        application.bot_data["notices"] = asyncio.create_task(watch(application, stop))
        log.info("telegram bot @%s started", application.bot.username)

    async def post_stop(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Before the bot's connection closes: let the notices finish the batch they are sending."""
        application.bot_data["stop_notices"].set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(application.bot_data["notices"]), STOP_NOTICES_SECONDS)

    async def post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        notices = application.bot_data["notices"]
        notices.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await notices
        services(application).records.close()
        await application.bot_data["operator"].cleanup()

    builder = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .request(RetryingRequest())
        .rate_limiter(CountingRateLimiter(metrics.rate_limited, pacing, max_retries=3))
        .concurrent_updates(CONCURRENT_UPDATES)
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
    )
    if settings.telegram_webhook_url:
        # webhook.py serves updates: PTB's own server compares secrets with !=
        builder = builder.updater(None)
    application = builder.build()
    register(application, settings)
    return application


def run_telegram(settings: Settings) -> int:
    """`python -m bot telegram`: serve until interrupted, by long polling or on a webhook when one is configured."""
    if settings.telegram_bot_token is None:
        print("python -m bot telegram: set TELEGRAM_BOT_TOKEN", file=sys.stderr)
        return 2
    application = build_application(settings)
    if settings.telegram_webhook_url:
        asyncio.run(serve_webhook(application, settings))
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0
