"""Typed commands for channels without a command menu of their own (WeCom, a console): `/schemes`, `/equipment
microscope`. The firm profile (firm.py) and the listing searches (listings.py), by name, as a channel-neutral table.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from bot.conversation import listings
from bot.conversation.firm import Firms
from bot.conversation.replies import Reply, say
from bot.conversation.service import Who
from bot.core.listings import KINDS, Kind
from bot.core.texts import text

COMMAND = re.compile(r"^/([a-z]+)(?:\s+(.*))?$", re.DOTALL | re.IGNORECASE)

Command = Callable[[Firms, Who, str], Awaitable[Reply]]


async def _profile(firms: Firms, who: Who, _: str) -> Reply:
    return firms.show(who)


async def _forget(firms: Firms, who: Who, _: str) -> Reply:
    return firms.forget(who)


async def _schemes(firms: Firms, who: Who, _: str) -> Reply:
    return firms.schemes(who)


async def _subscribe(firms: Firms, who: Who, _: str) -> Reply:
    return firms.subscribe(who, on=True)


async def _unsubscribe(firms: Firms, who: Who, _: str) -> Reply:
    return firms.subscribe(who, on=False)


async def _deadlines(firms: Firms, who: Who, _: str) -> Reply:
    return firms.deadlines(who)


async def _help(firms: Firms, who: Who, _: str) -> Reply:
    language = firms.service.language(who)
    lines = [f"/{name} — {text(language, f'tg_cmd_{name}')}" for name in ("eligibility", *COMMANDS)]
    return Reply(language=language, text="\n".join([text(language, "cmd_help_head", firms.service.programme), *lines]))


def _listing(kind: Kind) -> Command:
    async def search(firms: Firms, who: Who, need: str) -> Reply:
        return await listings.search(firms.service, who, kind, need)

    return search


PRIVATE = {"profile", "forget", "schemes", "subscribe", "unsubscribe", "deadlines"}  # a firm's profile: never in groups
COMMANDS: dict[str, Command] = {
    "help": _help, "profile": _profile, "forget": _forget, "schemes": _schemes, "subscribe": _subscribe,
    "unsubscribe": _unsubscribe, "deadlines": _deadlines, **{kind: _listing(kind) for kind in KINDS},
}  # fmt: skip


async def run(firms: Firms, who: Who, typed: str) -> Reply | None:
    """The reply to a typed command of the table; None when the text is none of them (a question, another
    command). The profile's commands answer in a single chat only (`who` a user's own chat)."""
    found = COMMAND.match(typed.strip())
    if found is None or (name := found.group(1).lower()) not in COMMANDS:
        return None
    if name in PRIVATE and who.chat_id != who.user_id:
        return say(firms.service.language(who), "pm_private_only")
    return await COMMANDS[name](firms, who, found.group(2) or "")
