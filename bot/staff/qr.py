"""QR codes for event posters: the bot's deep link `https://t.me/<bot>?start=event_<code>`.

Scanning it opens the bot, and /start tags the chat with the event so the staff report can count it.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import segno
from telegram import Bot
from telegram.error import TelegramError

from knowledge.settings import Settings

EVENT_PREFIX = "event_"
MAX_PAYLOAD = 64  # Telegram's limit on a /start payload
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]+")
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")  # Telegram usernames: 5-32 characters
ERROR_LEVEL = "m"  # survives a crease or a glare spot on a printed poster
SCALE = 10  # pixels per module: about 4 cm wide at 300 dpi for a typical link
BORDER = 4  # the quiet zone the QR standard asks for


class QrError(ValueError):
    """An event code, bot name or token that cannot make a working link."""


def event_payload(code: str) -> str:
    """The /start payload of an event; QrError when Telegram would refuse it."""
    if not _PAYLOAD.fullmatch(code):
        raise QrError(f"event code {code!r} may only use letters A-Z a-z, digits, _ and - (Telegram start payload)")
    if len(EVENT_PREFIX + code) > MAX_PAYLOAD:
        limit = MAX_PAYLOAD - len(EVENT_PREFIX)
        raise QrError(f"event code {code!r} is {len(code)} characters; at most {limit} fit in a start payload")
    return EVENT_PREFIX + code


def event_link(bot_username: str, code: str) -> str:
    """The deep link that starts the bot with the event's payload; QrError for a bad username or code."""
    username = bot_username.removeprefix("@")
    if not _USERNAME.fullmatch(username):
        raise QrError(f"bot username {bot_username!r} is not a Telegram username (5-32 letters, digits, _)")
    return f"https://t.me/{username}?start={event_payload(code)}"


def qr_code(link: str) -> segno.QRCode:
    """The QR symbol for `link`, as the poster prints it."""
    return segno.make(link, error=ERROR_LEVEL, boost_error=False)


def write_png(link: str, out: Path) -> Path:
    """Write the QR code of `link` as a PNG; returns the path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    qr_code(link).save(out, kind="png", scale=SCALE, border=BORDER)
    return out


async def bot_username(settings: Settings) -> str:
    """The bot's username from getMe (the token identifies the bot); QrError without a token."""
    if settings.telegram_bot_token is None:
        raise QrError("give the bot's username with --bot, or set TELEGRAM_BOT_TOKEN to ask Telegram for it")
    async with Bot(settings.telegram_bot_token.get_secret_value(), base_url=settings.telegram_base_url) as bot:
        return bot.username  # starting the Bot calls getMe


def run_qr(settings: Settings, event: str, out: Path | None, bot: str | None) -> int:
    """`python -m bot qr`: write the event's QR code; exit code 2 with the reason on a bad code or bot."""
    try:
        event_payload(event)  # before asking Telegram anything
        link = event_link(bot or asyncio.run(bot_username(settings)), event)
    except (QrError, TelegramError) as exc:
        print(f"python -m bot qr: {exc}", file=sys.stderr)
        return 2
    written = write_png(link, out or Path(f"qr-{event}.png"))
    print(f"{written}: {link}")
    return 0
