"""Event posters with a QR code of the bot's deep link `https://t.me/<bot>?start=event_<code>`.

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

from bot.staff.poster import make_poster, write_png, write_svg
from knowledge.settings import Settings

EVENT_PREFIX = "event_"
MAX_PAYLOAD = 64  # Telegram's limit on a /start payload
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]+")
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")  # Telegram usernames: 5-32 characters
ERROR_LEVEL = "m"  # survives a crease or a glare spot on a printed poster
POSTER_KINDS = (".png", ".svg")


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


def poster_paths(event: str, out: Path | None) -> list[Path]:
    """Where the poster goes: `out` (PNG or SVG, by its suffix), else qr-EVENT.png and qr-EVENT.svg here."""
    if out is None:
        return [Path(f"qr-{event}{suffix}") for suffix in POSTER_KINDS]
    if out.suffix.lower() not in POSTER_KINDS:
        raise QrError(f"--out {out}: a poster is written as .png or .svg")
    return [out]


def write_poster(link: str, outs: list[Path], name: str | None = None, font: Path | None = None) -> list[Path]:
    """Write the event poster of `link` to each path, PNG or SVG by suffix; returns the paths."""
    poster = make_poster(qr_code(link), link, name)
    return [write_svg(poster, out) if out.suffix.lower() == ".svg" else write_png(poster, out, font) for out in outs]


async def bot_username(settings: Settings) -> str:
    """The bot's username from getMe (the token identifies the bot); QrError without a token."""
    if settings.telegram_bot_token is None:
        raise QrError("give the bot's username with --bot, or set TELEGRAM_BOT_TOKEN to ask Telegram for it")
    async with Bot(settings.telegram_bot_token.get_secret_value(), base_url=settings.telegram_base_url) as bot:
        return bot.username  # starting the Bot calls getMe


def run_qr(
    settings: Settings,
    event: str,
    out: Path | None,
    bot: str | None,
    *,
    name: str | None = None,
    font: Path | None = None,
) -> int:
    """`python -m bot qr`: write the event's poster; exit code 2 with the reason on a bad code, path or bot."""
    try:
        event_payload(event)  # before asking Telegram anything
        outs = poster_paths(event, out)
        link = event_link(bot or asyncio.run(bot_username(settings)), event)
    except (QrError, TelegramError) as exc:
        print(f"python -m bot qr: {exc}", file=sys.stderr)
        return 2
    for written in write_poster(link, outs, name, font):
        print(f"{written}: {link}")
    return 0
