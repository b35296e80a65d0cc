"""A local fake of the Telegram Bot API that checks every request against the published spec.

Tests inject user updates (messages, commands, button presses) that the bot fetches with `getUpdates` (or receives
on its webhook), and read back what the bot sent as a user would see it. Every request that Telegram would refuse,
or that breaks the spec in `../shared/telegram/bot-api-10.1.json`, is answered with a 400 (404 for an unknown
method) and recorded in `violations`, which the test fixtures assert to be empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

T = TypeVar("T")

SPEC_PATH = Path(os.environ.get("SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")) / (
    "telegram/bot-api-10.1.json"
)
TOKEN = "123456789:AAE-fake-token-for-tests"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_TEXT = 200
MAX_CALLBACK_DATA = 64
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # sendPhoto's limit for an uploaded photo
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
POLL_HOLD = 0.5  # seconds a getUpdates waits for news: long enough not to busy-loop the bot, short for shutdown
CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice", "upload_document",
    "choose_sticker", "find_location", "record_video_note", "upload_video_note",
}  # fmt: skip
PARSE_MODES = {"HTML", "MarkdownV2", "Markdown"}
TEXT_METHODS = {"sendMessage", "editMessageText"}  # where `text` is a message text (1-4096 after parsing)
RESET = 0  # `fail(method, RESET)`: the connection is dropped without an answer
CLIENT_GONE = 499  # the bot closed the connection before its request was read (nginx's code for it)
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


class ApiError(Exception):
    """A request Telegram would refuse: its HTTP status and description."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.status = status


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------------------------------------------
# HTML parse mode, as https://core.telegram.org/bots/api#html-style describes it


_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'<>]+))?)*)\s*(/?)>"
)
_ATTR = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]*);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}  # fmt: skip


@dataclass
class _Open:
    tag: str
    offset: int
    attrs: dict[str, str]


def _unescape(raw: str, where: str) -> str:
    """Decode the entities of a text run, refusing bare `&` and named entities Telegram does not know."""
    out: list[str] = []
    position = 0
    while (amp := raw.find("&", position)) >= 0:
        out.append(raw[position:amp])
        match = _ENTITY.match(raw, amp)
        if match is None:
            raise ApiError(f"Bad Request: can't parse entities: unescaped '&' in {where}")
        name = match.group(1)
        if name.startswith("#"):
            code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
            if not 0 < code <= 0x10FFFF:
                raise ApiError(f"Bad Request: can't parse entities: invalid character reference &{name};")
            out.append(chr(code))
        elif name in _NAMED:
            out.append(_NAMED[name])
        else:
            raise ApiError(f"Bad Request: can't parse entities: unsupported HTML entity &{name};")
        position = match.end()
    out.append(raw[position:])
    return "".join(out)


def _attributes(tag: str, raw: str) -> dict[str, str]:
    attrs = {
        m.group(1).lower(): _unescape(next((g for g in m.groups()[1:] if g is not None), ""), tag)
        for m in _ATTR.finditer(raw)
    }
    allowed = {
        "a": {"href"},
        "span": {"class"},
        "code": {"class"},
        "blockquote": {"expandable"},
        "tg-emoji": {"emoji-id"},
    }
    unknown = set(attrs) - allowed.get(tag, set())
    if unknown:
        raise ApiError(f"Bad Request: can't parse entities: unsupported attribute {sorted(unknown)[0]!r} of <{tag}>")
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise ApiError('Bad Request: can\'t parse entities: tag "span" must have class "tg-spoiler"')
    if tag == "a" and not attrs.get("href"):
        raise ApiError("Bad Request: can't parse entities: <a> needs an href")
    if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
        raise ApiError("Bad Request: can't parse entities: <tg-emoji> needs a numeric emoji-id")
    return attrs


def _check_nesting(tag: str, attrs: dict[str, str], stack: list[_Open]) -> None:
    parent = stack[-1].tag if stack else None
    if parent == "code" or (parent == "pre" and tag != "code"):
        raise ApiError(f"Bad Request: can't parse entities: <{tag}> inside <{parent}>: code and pre hold plain text")
    if (
        tag == "code"
        and "class" in attrs
        and (parent != "pre" or not re.fullmatch(r"language-[\w+#-]+", attrs["class"]))
    ):
        raise ApiError('Bad Request: can\'t parse entities: class="language-x" only on <code> directly inside <pre>')
    if tag in {"blockquote", "a", "pre"} and any(o.tag == tag for o in stack):
        raise ApiError(f"Bad Request: can't parse entities: <{tag}> can't be nested in <{tag}>")


def _entity(opened: _Open, length: int) -> dict[str, Any]:
    kind = _ENTITY_TYPES[opened.tag]
    entity: dict[str, Any] = {"type": kind, "offset": opened.offset, "length": length}
    if opened.tag == "a":
        entity["url"] = opened.attrs["href"]
    elif opened.tag == "blockquote" and "expandable" in opened.attrs:
        entity["type"] = "expandable_blockquote"
    elif opened.tag == "tg-emoji":
        entity["custom_emoji_id"] = opened.attrs["emoji-id"]
    return entity


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The text and entities Telegram makes of `text` in HTML parse mode; ApiError where Telegram refuses it."""
    out: list[str] = []
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    position = 0
    length = 0
    for bracket in re.finditer(r"[<>]", text):
        if bracket.start() < position:
            continue
        run = _unescape(text[position : bracket.start()], "text")
        out.append(run)
        length += utf16_len(run)
        if bracket.group() == ">":
            raise ApiError(f"Bad Request: can't parse entities: unescaped '>' at offset {bracket.start()}")
        tag = _TAG.match(text, bracket.start())
        if tag is None:
            raise ApiError(f"Bad Request: can't parse entities: unescaped '<' at offset {bracket.start()}")
        closing, name, raw_attrs, self_closing = tag.group(1) == "/", tag.group(2).lower(), tag.group(3), tag.group(4)
        if name not in _ENTITY_TYPES or self_closing:
            raise ApiError(f'Bad Request: can\'t parse entities: unsupported start tag "{name}"')
        if closing:
            if not stack or stack[-1].tag != name:
                expected = f'"{stack[-1].tag}"' if stack else "none"
                raise ApiError(f'Bad Request: can\'t parse entities: unmatched end tag "{name}", expected {expected}')
            opened = stack.pop()
            if length > opened.offset:
                entities.append(_entity(opened, length - opened.offset))
        else:
            attrs = _attributes(name, raw_attrs)
            _check_nesting(name, attrs, stack)
            stack.append(_Open(name, length, attrs))
        position = tag.end()
    out.append(_unescape(text[position:], "text"))
    if stack:
        raise ApiError(
            f"Bad Request: can't parse entities: can't find end tag corresponding to start tag \"{stack[-1].tag}\""
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def formatted(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The message text and entities as Telegram stores them."""
    if parse_mode is None:
        return text, []
    if parse_mode not in PARSE_MODES:
        raise ApiError(f"Bad Request: unsupported parse_mode {parse_mode!r}")
    if parse_mode != "HTML":
        raise ApiError(f"fake: parse_mode {parse_mode} is not modelled; use HTML")
    return parse_html(text)


# ---------------------------------------------------------------------------------------------------------------
# The spec: methods, parameters, types


@cache
def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The machine-readable Bot API (methods and types)."""
    return json.loads(path.read_text(encoding="utf-8"))


_LITERAL = re.compile(r'(?:must be|always) "?([a-z_]+)"?\s*$')
_FORM_SCALARS: dict[str, Callable[[str], Any]] = {
    "Integer": lambda raw: int(raw) if re.fullmatch(r"-?\d+", raw) else None,
    "Float": lambda raw: float(raw) if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", raw) else None,
    "Boolean": lambda raw: {"true": True, "false": False, "1": True, "0": False}.get(raw.lower()),
    "String": lambda raw: raw,
    "InputFile": lambda raw: raw,
}


class Spec:
    """Checks method calls against the Bot API spec: names, parameters, required ones, value types."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.methods: dict[str, Any] = data["methods"]
        self.types: dict[str, Any] = data["types"]

    def fields(self, method: str) -> dict[str, dict[str, Any]]:
        """The parameters of `method` by name."""
        return {f["name"]: f for f in self.methods[method].get("fields", [])}

    def decode(self, method: str, raw: dict[str, Any], form: bool) -> dict[str, Any]:
        """Check a call's parameters and return them decoded (form values are strings, objects JSON)."""
        if method not in self.methods:
            raise ApiError("Not Found", status=404)
        fields = self.fields(method)
        for name in raw:
            if name not in fields:
                raise ApiError(f"Bad Request: {method} has no parameter {name!r}")
        for name, spec in fields.items():
            if spec["required"] and name not in raw:
                raise ApiError(f"Bad Request: {method}: parameter {name!r} is required")
        params = {}
        for name, value in raw.items():
            where = f"{method}.{name}"
            params[name] = self._from_form(value, fields[name]["types"], where) if form else value
            self.check(params[name], fields[name]["types"], where)
        return params

    def _from_form(self, raw: Any, types: list[str], where: str) -> Any:
        if isinstance(raw, web.FileField):
            if "InputFile" not in types:
                raise ApiError(f"Bad Request: {where}: a file was uploaded where {types} is expected")
            return raw
        for kind in types:
            scalar = _FORM_SCALARS.get(kind)
            value = scalar(raw) if scalar else None
            if value is not None:
                return value
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ApiError(f"Bad Request: {where}: {raw[:40]!r} is not of type {' or '.join(types)}") from None

    def check(self, value: Any, types: list[str], where: str) -> None:
        """Raise ApiError unless `value` is plausibly one of `types`."""
        problems = []
        for kind in types:
            try:
                self._check_one(value, kind, where)
                return
            except ApiError as exc:
                problems.append(exc.description)
        raise ApiError(problems[0] if len(problems) == 1 else f"Bad Request: {where}: not any of {types}: {problems}")

    def _check_one(self, value: Any, kind: str, where: str) -> None:
        if kind.startswith("Array of "):
            if not isinstance(value, list):
                raise ApiError(f"Bad Request: {where}: expected an array, got {type(value).__name__}")
            for index, item in enumerate(value):
                self.check(item, [kind.removeprefix("Array of ")], f"{where}[{index}]")
            return
        plain = {
            "Integer": int,
            "Float": (int, float),
            "String": str,
            "Boolean": bool,
            "InputFile": (str, web.FileField),
        }
        if kind in plain:
            if not isinstance(value, plain[kind]) or (isinstance(value, bool) and kind in {"Integer", "Float"}):
                raise ApiError(f"Bad Request: {where}: expected {kind}, got {type(value).__name__}")
            return
        spec = self.types.get(kind)
        if spec is None:
            raise ApiError(f"fake: unknown type {kind} in the spec at {where}")
        if spec.get("subtypes"):
            self.check(value, spec["subtypes"], where)
            return
        self._check_object(value, kind, spec, where)

    def _check_object(self, value: Any, kind: str, spec: dict[str, Any], where: str) -> None:
        if not isinstance(value, dict):
            raise ApiError(f"Bad Request: {where}: expected a {kind} object, got {type(value).__name__}")
        fields = {f["name"]: f for f in spec.get("fields", [])}
        for name in value:
            if name not in fields:
                raise ApiError(f"Bad Request: {where}: {kind} has no field {name!r}")
        for name, field_spec in fields.items():
            if field_spec["required"] and name not in value:
                raise ApiError(f"Bad Request: {where}: {kind}.{name} is required")
            if name not in value:
                continue
            literal = _LITERAL.search(field_spec["description"]) if name == "type" else None
            if literal and value[name] != literal.group(1):
                raise ApiError(f"Bad Request: {where}: {kind}.type must be {literal.group(1)!r}")
            self.check(value[name], field_spec["types"], f"{where}.{name}")
        if kind == "InlineKeyboardButton" and "callback_data" in value:
            size = len(value["callback_data"].encode())
            if not 1 <= size <= MAX_CALLBACK_DATA:
                raise ApiError(f"Bad Request: BUTTON_DATA_INVALID ({where}.callback_data is {size} bytes)")


def check_limits(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Telegram's limits beyond the schema; returns the parsed text fields (`text`, `entities`)."""
    parsed: dict[str, Any] = {}
    if method in TEXT_METHODS:
        plain, entities = formatted(params["text"], params.get("parse_mode"))
        if not plain.strip():
            raise ApiError("Bad Request: message text is empty")
        if utf16_len(plain) > MAX_TEXT:
            raise ApiError(f"Bad Request: message is too long ({utf16_len(plain)} > {MAX_TEXT} after entity parsing)")
        parsed = {"text": plain, "entities": entities or params.get("entities", [])}
    if "caption" in params and utf16_len(formatted(params["caption"], params.get("parse_mode"))[0]) > MAX_CAPTION:
        raise ApiError("Bad Request: message caption is too long")
    if method == "answerCallbackQuery" and utf16_len(params.get("text", "")) > MAX_CALLBACK_TEXT:
        raise ApiError("Bad Request: callback answer text is longer than 200 characters")
    if method == "sendChatAction" and params["action"] not in CHAT_ACTIONS:
        raise ApiError(f"Bad Request: wrong parameter action {params['action']!r}")
    if method == "setMyCommands":
        commands = params["commands"]
        if not 0 < len(commands) <= 100:
            raise ApiError("Bad Request: 1-100 commands allowed")
        for command in commands:
            if not _COMMAND.match(command["command"]) or not 1 <= len(command["description"]) <= 256:
                raise ApiError(f"Bad Request: BOT_COMMAND_INVALID ({command})")
        if not re.fullmatch(r"([a-z]{2})?", params.get("language_code", "")):
            raise ApiError("Bad Request: language_code must be a two-letter ISO 639-1 code")
    return parsed


# ---------------------------------------------------------------------------------------------------------------
# The fake server


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class BotMessage:
    """A message the bot sent, as the user now sees it (after any edits)."""

    chat_id: int
    message_id: int
    text: str
    html: str
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    reply_to: int | None
    edits: int = 0
    history: list[str] = field(default_factory=list)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback data) of the inline keyboard, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", b.get("url", ""))) for row in rows for b in row]

    def button(self, label: str) -> str:
        """The callback data of the button labelled `label`."""
        return dict(self.buttons)[label]


@dataclass
class BotPhoto:
    """A photo the bot uploaded: the image as sent, and its caption as the user sees it."""

    chat_id: int
    message_id: int
    data: bytes
    width: int
    height: int
    caption: str


@dataclass
class _Failure:
    status: int  # RESET: no answer at all, the connection is dropped
    retry_after: int | None


class FakeTelegram:
    """The Bot API on 127.0.0.1 for one bot: users write to it, tests read what it answered."""

    def __init__(self, token: str = TOKEN, username: str = "goi_test_bot", spec_path: Path = SPEC_PATH) -> None:
        self.token = token
        self.bot_user = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "GOI Assistant",
            "username": username,
        }
        self.spec = Spec(load_spec(spec_path))
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.log: list[str] = []
        self.chats: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.webhook: dict[str, Any] | None = None
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._sent: dict[int, list[BotMessage]] = {}
        self._photos: dict[int, list[BotPhoto]] = {}
        self._next_message: dict[int, itertools.count[int]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._update_of: dict[tuple[int, int], int] = {}  # (chat id, message id) of a user's message: its update
        self._delivered: dict[int, float] = {}  # update id: when the bot first got it (time.monotonic())
        self._callbacks: dict[str, bool] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._flood_until: dict[str, float] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._pushes: set[asyncio.Task[Any]] = set()
        self.port = 0

    # ---- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Stop listening."""
        for task in self._pushes:
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """What the bot's `base_url` (TELEGRAM_BASE_URL) must be."""
        return f"http://127.0.0.1:{self.port}/bot"

    # ---- what users do ------------------------------------------------------------------------------------------

    def user(
        self, user_id: int, first_name: str, language_code: str | None = "en", username: str | None = None
    ) -> dict[str, Any]:
        """A Telegram user (their private chat with the bot has the same id)."""
        user = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        if username:
            user["username"] = username
        self.users[user_id] = user
        self.chats[user_id] = {"id": user_id, "type": "private", "first_name": first_name}
        return user

    def group(self, chat_id: int, title: str) -> dict[str, Any]:
        """A supergroup the bot is a member of (privacy mode off: it sees every message)."""
        self.chats[chat_id] = {"id": chat_id, "type": "supergroup", "title": title}
        return self.chats[chat_id]

    def send(
        self, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None, reply_to: int | None = None
    ) -> dict[str, Any]:
        """`user` writes `text` (commands and @mentions get their entities, as Telegram marks them)."""
        entities = [
            {
                "type": "bot_command" if m.group().startswith("/") else "mention",
                "offset": utf16_len(text[: m.start()]),
                "length": utf16_len(m.group()),
            }
            for m in re.finditer(r"(?<!\S)(/[A-Za-z0-9_]{1,32}(?:@\w{5,32})?|@\w{5,32})", text)
        ]
        message = self._user_message(user, chat, text=text, **({"entities": entities} if entities else {}))
        if reply_to is not None:
            message["reply_to_message"] = self._messages[(message["chat"]["id"], reply_to)]
        self._push({"message": message}, f"{self._who(user, chat)}: {text}")
        return message

    def send_sticker(self, user: dict[str, Any], chat: dict[str, Any] | None = None) -> dict[str, Any]:
        """`user` sends a sticker."""
        sticker = {
            "file_id": "CAACAgIAAxkBAAEfake",
            "file_unique_id": "AgADfake",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        message = self._user_message(user, chat, sticker=sticker)
        self._push({"message": message}, f"{self._who(user, chat)}: [sticker 👍]")
        return message

    def press(self, user: dict[str, Any], message: BotMessage, data: str, forged: bool = False) -> str:
        """`user` presses the inline button with callback data `data` under `message`; returns the query id.
        `forged`: the data need not be a button's, as a modified client can send any data for a message."""
        assert forged or data in {d for _, d in message.buttons}, f"no button {data!r} under {message.message_id}"
        query_id = f"{user['id']}-{len(self._callbacks) + 1}"
        self._callbacks[query_id] = False
        query = {
            "id": query_id,
            "from": user,
            "chat_instance": str(message.chat_id),
            "data": data,
            "message": self._messages[(message.chat_id, message.message_id)],
        }
        label = next((label for label, d in message.buttons if d == data), f"forged {data}")
        self._push({"callback_query": query}, f"{user['first_name']} presses [{label}]")
        return query_id

    def callback_answered(self, query_id: str) -> bool:
        """Whether the bot answered the button press."""
        return self._callbacks[query_id]

    def unanswered_callbacks(self) -> list[str]:
        """Button presses the bot never answered (the user's button keeps spinning)."""
        return [query_id for query_id, answered in self._callbacks.items() if not answered]

    async def post_webhook(self, update: dict[str, Any], secret: str | None) -> int:
        """POST one update to the bot's webhook with `secret` as its secret-token header; the HTTP status."""
        assert self.webhook is not None, "the bot has not set a webhook"
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.webhook["url"], json=update, headers=headers) as response,
        ):
            return response.status

    def fail(self, method: str, status: int, retry_after: int | None = None) -> None:
        """Answer the next call of `method` with an HTTP error (429 with `retry_after`, 502 like a proxy, ...), or
        with RESET drop its connection without answering."""
        self._failures.setdefault(method, []).append(_Failure(status, retry_after))

    # ---- what tests read ----------------------------------------------------------------------------------------

    def sent(self, chat_id: int) -> list[BotMessage]:
        """The bot's messages in a chat, oldest first, as they look now."""
        return list(self._sent.get(chat_id, []))

    def photos(self, chat_id: int) -> list[BotPhoto]:
        """The photos the bot sent to a chat, oldest first."""
        return list(self._photos.get(chat_id, []))

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """Any message of a chat (the users' and the bot's) as the Bot API returns it."""
        return self._messages[(chat_id, message_id)]

    def delivered_at(self, message: dict[str, Any]) -> float | None:
        """When the bot first received the update carrying a user's `message` (time.monotonic()); None if not yet."""
        update_id = self._update_of.get((message["chat"]["id"], message["message_id"]))
        return None if update_id is None else self._delivered.get(update_id)

    def calls_to(self, method: str) -> list[Call]:
        """Successful calls of `method`."""
        return [c for c in self.calls if c.method == method and c.status == 200]

    async def wait_for(self, check: Callable[[], T], timeout: float = 60.0) -> T:
        """Wait until `check()` is truthy (re-checked after every request); returns its value. The timeout allows a
        cold first answer on a busy 2-core machine running the suite in parallel; a passing test never waits it out."""
        async with self._changed:
            try:
                return await asyncio.wait_for(self._changed.wait_for(check), timeout)
            except TimeoutError:
                raise AssertionError(f"timed out; the conversation so far:\n{self.transcript()}") from None

    def transcript(self) -> str:
        """The conversation as a chat log: users' messages, the bot's messages, edits and button presses."""
        return "\n".join(self.log)

    # ---- the HTTP side ------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", request.path)
        if match is None or match.group(1) != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = match.group(2)
        call = Call(method, {}, time.monotonic())
        self.calls.append(call)
        try:
            raw, form = await self._body(request)
            call.params = self.spec.decode(method, raw, form)
            parsed = check_limits(method, call.params)
            self._maybe_fail(method)
            result = await getattr(self, f"_m_{method}", self._unimplemented)(call.params, parsed)
        except _HttpFailure as failure:
            call.status = failure.response.status
            return failure.response
        except ConnectionResetError:  # the bot went away mid-request (it was stopped): nobody to answer
            call.status = CLIENT_GONE
            return web.Response()
        except _Reset:
            call.status = RESET
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        except ApiError as exc:
            call.status = exc.status
            self.violations.append(f"{method}({_short(call.params or {})}): {exc.description}")
            return web.json_response(
                {"ok": False, "error_code": exc.status, "description": exc.description}, status=exc.status
            )
        finally:
            async with self._changed:
                self._changed.notify_all()
        return web.json_response({"ok": True, "result": result})

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], bool]:
        """The call's parameters, and whether they came as strings (query string, form) rather than JSON."""
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ApiError("Bad Request: the JSON body must be an object")
            return body, False
        raw: dict[str, Any] = dict(request.query)
        if request.content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            raw.update((await request.post()).items())
        elif request.can_read_body and await request.read():
            raise ApiError(f"Bad Request: unsupported content type {request.content_type}")
        return raw, True

    def _maybe_fail(self, method: str) -> None:
        now = time.monotonic()
        if now < self._flood_until.get(method, 0.0):
            wait = self._flood_until[method] - now
            self.violations.append(f"{method} called {wait:.2f} s before retry_after expired")
            raise _HttpFailure(_too_many(max(1, round(wait))))
        if not self._failures.get(method):
            return
        failure = self._failures[method].pop(0)
        if failure.status == RESET:
            raise _Reset
        if failure.status == 429:
            self._flood_until[method] = now + (failure.retry_after or 1)
            raise _HttpFailure(_too_many(failure.retry_after or 1))
        raise _HttpFailure(
            web.Response(
                status=failure.status, text=f"<html><h1>{failure.status}</h1></html>", content_type="text/html"
            )
        )

    # ---- updates ------------------------------------------------------------------------------------------------

    def _who(self, user: dict[str, Any], chat: dict[str, Any] | None) -> str:
        return f"{user['first_name']}" + (f" in {chat['title']}" if chat else "")

    def _user_message(self, user: dict[str, Any], chat: dict[str, Any] | None, **content: Any) -> dict[str, Any]:
        chat = chat or self.chats[user["id"]]
        message = {
            "message_id": self._message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            **content,
        }
        self._messages[(chat["id"], message["message_id"])] = message
        return message

    def _message_id(self, chat_id: int) -> int:
        return next(self._next_message.setdefault(chat_id, itertools.count(1)))

    def _push(self, update: dict[str, Any], line: str) -> None:
        update = {"update_id": next(self._update_ids), **update}
        self.log.append(line)
        if "message" in update:
            self._update_of[(update["message"]["chat"]["id"], update["message"]["message_id"])] = update["update_id"]
        if self.webhook is not None:
            self._delivered[update["update_id"]] = time.monotonic()
            self._spawn(self.post_webhook(update, self.webhook.get("secret_token")))
            return
        self._updates.append(update)
        self._spawn(self._notify())

    def _spawn(self, job: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- methods ------------------------------------------------------------------------------------------------

    async def _unimplemented(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        raise ApiError("fake: this Bot API method is valid but not modelled by the fake; add it")

    async def _m_getMe(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
        }

    async def _m_getUpdates(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        if self.webhook is not None:
            raise ApiError("Conflict: can't use getUpdates method while webhook is active", status=409)
        offset = params.get("offset", 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        hold = min(float(params.get("timeout", 0)), POLL_HOLD)
        if not self._updates and hold > 0:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._updates)), hold)
        batch = self._updates[: params.get("limit", 100)]
        now = time.monotonic()
        for update in batch:
            self._delivered.setdefault(update["update_id"], now)
        return batch

    async def _m_setWebhook(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ApiError("Bad Request: secret token contains unallowed characters")
        self.webhook = params
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}

    async def _m_setMyCommands(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        return True

    async def _m_deleteMyCommands(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        return True

    async def _m_sendChatAction(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        self._chat(params["chat_id"])
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        query_id = params["callback_query_id"]
        if self._callbacks.get(query_id, True):
            raise ApiError("Bad Request: query is too old and response timeout expired or query ID is invalid")
        self._callbacks[query_id] = True
        if params.get("text"):
            self.log.append(f"  (bot shows: {params['text']})")
        return True

    async def _m_sendMessage(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:
        chat = self._chat(params["chat_id"])
        reply = params.get("reply_parameters")
        if (
            reply
            and (chat["id"], reply["message_id"]) not in self._messages
            and not reply.get("allow_sending_without_reply")
        ):
            raise ApiError("Bad Request: message to be replied not found")
        sent = BotMessage(
            chat_id=chat["id"],
            message_id=self._message_id(chat["id"]),
            text=parsed["text"],
            html=params["text"],
            entities=parsed["entities"],
            reply_markup=params.get("reply_markup"),
            reply_to=reply["message_id"] if reply else None,
        )
        self._sent.setdefault(chat["id"], []).append(sent)
        self.log.append(_render_line(f"bot → {chat.get('title') or chat.get('first_name')}", sent))
        return self._store(sent)

    async def _m_editMessageText(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:
        sent = self._editable(params)
        markup = params.get("reply_markup")
        if sent.html == params["text"] and sent.reply_markup == markup:
            raise ApiError("Bad Request: message is not modified: same content and reply markup as now")
        sent.history.append(sent.text)
        sent.text, sent.html, sent.entities, sent.reply_markup = (
            parsed["text"],
            params["text"],
            parsed["entities"],
            markup,
        )
        sent.edits += 1
        self.log.append(_render_line(f"bot ✎ message {sent.message_id}", sent))
        return self._store(sent)

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        sent = self._editable(params)
        if sent.reply_markup == params.get("reply_markup"):
            raise ApiError("Bad Request: message is not modified")
        sent.reply_markup = params.get("reply_markup")
        return self._store(sent)

    async def _m_sendPhoto(self, params: dict[str, Any], parsed: dict[str, Any]) -> Any:  # noqa: ARG002
        chat = self._chat(params["chat_id"])
        if not isinstance(params["photo"], web.FileField):
            raise ApiError("fake: only uploaded photos (multipart/form-data) are modelled")
        data = params["photo"].file.read()
        width, height = _png_size(data)
        caption = formatted(params["caption"], params.get("parse_mode"))[0] if "caption" in params else ""
        sent = BotPhoto(chat["id"], self._message_id(chat["id"]), data, width, height, caption)
        self._photos.setdefault(chat["id"], []).append(sent)
        self.log.append(f"bot → {chat.get('title') or chat.get('first_name')}: [photo {width}×{height}] {caption}")
        size = {"width": width, "height": height, "file_size": len(data)}
        photo = {"file_id": f"photo-{chat['id']}-{sent.message_id}", "file_unique_id": f"p{sent.message_id}", **size}
        message = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "photo": [photo],
            **({"caption": caption} if caption else {}),
        }
        self._messages[(chat["id"], sent.message_id)] = message
        return message

    def _chat(self, chat_id: int | str) -> dict[str, Any]:
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise ApiError("Bad Request: chat not found")
        return chat

    def _editable(self, params: dict[str, Any]) -> BotMessage:
        if "chat_id" not in params or "message_id" not in params:
            raise ApiError("fake: only chat messages (chat_id + message_id) are modelled")
        chat = self._chat(params["chat_id"])
        for sent in self._sent.get(chat["id"], []):
            if sent.message_id == params["message_id"]:
                return sent
        raise ApiError("Bad Request: message to edit not found")

    def _store(self, sent: BotMessage) -> dict[str, Any]:
        message = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": self.chats[sent.chat_id],
            "from": self.bot_user,
            "text": sent.text,
        }
        if sent.entities:
            message["entities"] = sent.entities
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        if sent.reply_to is not None:
            message["reply_to_message"] = self._messages[(sent.chat_id, sent.reply_to)]
        self._messages[(sent.chat_id, sent.message_id)] = message
        return message


class _Reset(Exception):
    """Drop the connection: the client sees it reset before any response."""


class _HttpFailure(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height of an uploaded photo, refused as Telegram refuses it (only PNG is modelled)."""
    if len(data) > MAX_PHOTO_BYTES:
        raise ApiError("Bad Request: photo is larger than 10 MB")
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ApiError("Bad Request: IMAGE_PROCESS_FAILED (the fake reads PNG photos only)")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not 0 < width + height <= 10000 or max(width, height) > 20 * min(width, height):
        raise ApiError("Bad Request: PHOTO_INVALID_DIMENSIONS")
    return width, height


def _too_many(retry_after: int) -> web.Response:
    body = {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }
    return web.json_response(body, status=429)


def _short(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={str(v)[:60]!r}" for k, v in params.items())


def _render_line(who: str, sent: BotMessage) -> str:
    reply = f" (replying to {sent.reply_to})" if sent.reply_to else ""
    buttons = "  ".join(f"[{label}]" for label, _ in sent.buttons)
    body = "\n".join(f"    {line}" if line else "" for line in sent.text.splitlines())
    return f"{who}{reply}:\n{body}" + (f"\n    {buttons}" if buttons else "")
