"""Our own webhook server: Telegram's updates on an aiohttp route whose secret token is checked in constant time.

python-telegram-bot's built-in server compares the secret with `!=`, so the Application is built without an Updater
and this route feeds its update queue (PTB's "custom webhook" pattern).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from knowledge.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
APPLICATION = web.AppKey("application", Application)
SECRET = web.AppKey("secret", bytes)


def _secret_matches(given: str, expected: bytes) -> bool:
    # compare_digest takes as long for a near miss as for a wild guess, so the secret cannot be found byte by byte;
    # a missing header never matches, even if the secret were set empty
    return bool(given) and hmac.compare_digest(given.encode("utf-8", errors="replace"), expected)


async def receive_update(request: web.Request) -> web.Response:
    """`POST <webhook path>`: queue Telegram's update; 403 without the right secret token, 400 for a bad body."""
    if not _secret_matches(request.headers.get(SECRET_HEADER, ""), request.app[SECRET]):
        log.warning("webhook request from %s without the right secret token refused", request.remote)
        raise web.HTTPForbidden()
    application = request.app[APPLICATION]
    try:
        data = json.loads(await request.read())
        update = Update.de_json(data, application.bot)
    except Exception as exc:  # de_json raises whatever a malformed dict trips on: KeyError, TypeError, ...
        log.warning("webhook request with a body that is not an update refused: %s", type(exc).__name__)
        raise web.HTTPBadRequest() from exc
    await application.update_queue.put(update)
    return web.Response()


def _webhook(settings: Settings) -> tuple[str, str]:
    """TELEGRAM_WEBHOOK_URL and its secret (settings refuse a URL without one)."""
    if settings.telegram_webhook_url is None or settings.telegram_webhook_secret is None:
        raise ValueError("TELEGRAM_WEBHOOK_URL is not set")
    return settings.telegram_webhook_url, settings.telegram_webhook_secret.get_secret_value()


def webhook_app(application: AnyApplication, path: str, secret: str) -> web.Application:
    """The aiohttp app serving `path` with `application`'s update queue."""
    app = web.Application()
    app[APPLICATION] = application
    app[SECRET] = secret.encode()
    app.router.add_post(path, receive_update)
    return app


@asynccontextmanager
async def webhook_site(application: AnyApplication, settings: Settings) -> AsyncIterator[None]:
    """The URL's path served on TELEGRAM_WEBHOOK_LISTEN:TELEGRAM_WEBHOOK_PORT and registered with Telegram."""
    url, secret = _webhook(settings)
    runner = web.AppRunner(webhook_app(application, urlsplit(url).path or "/", secret))
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.telegram_webhook_listen, settings.telegram_webhook_port).start()
        await application.bot.set_webhook(url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
        log.info("webhook served on %s", runner.addresses)
        yield
    finally:
        await runner.cleanup()


@asynccontextmanager
async def webhook_running(application: AnyApplication, settings: Settings) -> AsyncIterator[None]:
    """The bot started on its webhook as `python -m bot telegram` starts it; on exit the site closes, pending updates
    are answered and the state saved. The webhook stays registered: other replicas may still be serving it."""
    async with application, AsyncExitStack() as stack:
        await application.post_init(application)  # type: ignore[misc]
        stack.push_async_callback(application.post_shutdown, application)  # type: ignore[arg-type]
        stack.push_async_callback(application.post_stop, application)  # type: ignore[arg-type]
        await application.start()
        stack.push_async_callback(application.stop)
        await stack.enter_async_context(webhook_site(application, settings))
        yield


async def serve_webhook(application: AnyApplication, settings: Settings) -> None:
    """Serve the bot on its webhook until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with webhook_running(application, settings):
        await stop.wait()
