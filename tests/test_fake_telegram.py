"""The fake Bot API refuses what Telegram refuses, so tests against it mean something."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.telegram import POLL_HOLD, FakeTelegram, parse_html

USER = 501


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    server.user(USER, "Ada")
    yield server
    await server.close()


async def call(fake: FakeTelegram, method: str, body: Any = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """POST a JSON (or `data=`) request to the fake; its HTTP status and decoded body."""
    url = f"{fake.base_url}{fake.token}/{method}"
    async with aiohttp.ClientSession() as session:
        request = session.post(url, json=body, **kwargs) if body is not None else session.post(url, **kwargs)
        async with request as response:
            text = await response.text()
            return response.status, json.loads(text) if response.content_type == "application/json" else {"raw": text}


async def refused(fake: FakeTelegram, method: str, body: Any = None, status: int = 400, **kwargs: Any) -> str:
    """Assert the call is refused and recorded as a violation; returns Telegram's description."""
    code, answer = await call(fake, method, body, **kwargs)
    assert (code, answer["ok"], answer["error_code"]) == (status, False, status), answer
    assert len(fake.violations) == 1, fake.violations
    return answer["description"]


async def test_a_valid_html_message_is_stored_as_text_and_entities(fake: FakeTelegram) -> None:
    html = '😀 <b>Bold <i>both</i></b> &lt;tag&gt; &amp; <a href="https://e.org/?a=1&amp;b=2">link</a> &#x4E2D;'
    status, answer = await call(fake, "sendMessage", {"chat_id": USER, "text": html, "parse_mode": "HTML"})
    assert status == 200 and answer["ok"], answer
    message = answer["result"]
    assert message["text"] == "😀 Bold both <tag> & link 中"
    assert message["entities"] == [
        {"type": "bold", "offset": 3, "length": 9},  # the emoji is two UTF-16 units
        {"type": "italic", "offset": 8, "length": 4},
        {"type": "text_link", "offset": 21, "length": 4, "url": "https://e.org/?a=1&b=2"},
    ]
    assert fake.sent(USER)[0].text == message["text"] and fake.violations == []


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ('<pre><code class="language-python">x = 1 &lt; 2</code></pre>', "x = 1 < 2"),
        ("<blockquote expandable>quote</blockquote><tg-spoiler>s</tg-spoiler>", "quotes"),
        ('<span class="tg-spoiler">hidden</span> <s>old</s> <u>u</u> <em>e</em> &quot;q&quot;', 'hidden old u e "q"'),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
    ],
)
def test_every_tag_telegram_supports_parses(html: str, text: str) -> None:
    assert parse_html(html)[0] == text


@pytest.mark.parametrize(
    ("html", "why"),
    [
        ("<b>unclosed", "end tag"),
        ("<b><i>misnested</b></i>", "unmatched end tag"),
        ("</b>", "unmatched end tag"),
        ("<div>block</div>", "unsupported start tag"),
        ("line<br>break", "unsupported start tag"),
        ("<br/>", "unsupported start tag"),
        ("1 < 2", "unescaped '<'"),
        ("2 > 1", "unescaped '>'"),
        ("R&D", "unescaped '&'"),
        ("a&nbsp;b", "unsupported HTML entity"),
        ("<span>no class</span>", "tg-spoiler"),
        ("<a>no href</a>", "href"),
        ('<b class="x">attr</b>', "unsupported attribute"),
        ("<code><b>bold code</b></code>", "inside <code>"),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "can't be nested"),
        ('<code class="language-py">x</code>', "language-x"),
    ],
)
async def test_html_that_telegram_refuses_is_refused(fake: FakeTelegram, html: str, why: str) -> None:
    description = await refused(fake, "sendMessage", {"chat_id": USER, "text": html, "parse_mode": "HTML"})
    assert "can't parse entities" in description and why in description


async def test_unknown_method_is_404(fake: FakeTelegram) -> None:
    assert await refused(fake, "sendMesage", {"chat_id": USER, "text": "hi"}, status=404) == "Not Found"


async def test_wrong_token_is_401_like_telegram(fake: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{fake.base_url}123:wrong/getMe") as response:
        assert response.status == 401


async def test_unknown_parameter_is_refused(fake: FakeTelegram) -> None:
    assert "no parameter 'parse_mod'" in await refused(
        fake, "sendMessage", {"chat_id": USER, "text": "hi", "parse_mod": "HTML"}
    )


async def test_missing_required_parameter_is_refused(fake: FakeTelegram) -> None:
    assert "'text' is required" in await refused(fake, "sendMessage", {"chat_id": USER})


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"chat_id": [USER], "text": "hi"}, "not any of ['Integer', 'String']"),
        ({"chat_id": USER, "text": "hi", "disable_notification": "yes"}, "expected Boolean"),
        (
            {"chat_id": USER, "text": "hi", "reply_markup": {"inline_keyboard": [[{"text": "x", "data": "y"}]]}},
            "no field",
        ),
        ({"chat_id": USER, "text": "hi", "reply_parameters": {"message_id": "1"}}, "expected Integer"),
        ({"chat_id": True, "text": "hi"}, "not any of"),
    ],
)
async def test_wrong_types_are_refused_in_json(fake: FakeTelegram, body: dict[str, Any], why: str) -> None:
    assert why in await refused(fake, "sendMessage", body)


async def test_form_bodies_are_decoded_and_checked_like_python_telegram_bot_sends_them(fake: FakeTelegram) -> None:
    markup = json.dumps({"inline_keyboard": [[{"text": "ok", "callback_data": "a:1"}]]})
    status, answer = await call(fake, "sendMessage", data={"chat_id": str(USER), "text": "hi", "reply_markup": markup})
    assert status == 200 and answer["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a:1"
    form = aiohttp.FormData({"chat_id": str(USER), "text": "multi", "disable_notification": "true"})
    form.add_field("unused", b"x", filename="x.bin")  # multipart, as when a file is attached
    assert "no parameter 'unused'" in await refused(fake, "sendMessage", data=form)
    fake.violations.clear()
    assert "is not of type Integer" in await refused(
        fake, "sendChatAction", data={"chat_id": str(USER), "action": "typing", "message_thread_id": "x"}
    )


async def test_text_limit_counts_characters_after_entity_parsing(fake: FakeTelegram) -> None:
    fits = "&lt;" * 4096  # 16,384 characters of HTML, 4,096 after parsing
    status, _ = await call(fake, "sendMessage", {"chat_id": USER, "text": fits, "parse_mode": "HTML"})
    assert status == 200
    assert "too long" in await refused(fake, "sendMessage", {"chat_id": USER, "text": "😀" * 2049})  # 4,098 units


async def test_empty_text_is_refused(fake: FakeTelegram) -> None:
    assert "empty" in await refused(fake, "sendMessage", {"chat_id": USER, "text": "<b> </b>", "parse_mode": "HTML"})


@pytest.mark.parametrize("data", ["x" * 65, "问" * 22, ""])
async def test_callback_data_over_64_bytes_or_empty_is_refused(fake: FakeTelegram, data: str) -> None:
    markup = {"inline_keyboard": [[{"text": "button", "callback_data": data}]]}
    assert "BUTTON_DATA_INVALID" in await refused(
        fake, "sendMessage", {"chat_id": USER, "text": "hi", "reply_markup": markup}
    )


async def test_unknown_chat_and_reply_to_missing_message_are_refused(fake: FakeTelegram) -> None:
    assert "chat not found" in await refused(fake, "sendMessage", {"chat_id": 999, "text": "hi"})
    fake.violations.clear()
    body = {"chat_id": USER, "text": "hi", "reply_parameters": {"message_id": 77}}
    assert "replied not found" in await refused(fake, "sendMessage", body)


async def test_edit_with_identical_content_is_refused_as_not_modified(fake: FakeTelegram) -> None:
    _, sent = await call(fake, "sendMessage", {"chat_id": USER, "text": "draft"})
    edit = {"chat_id": USER, "message_id": sent["result"]["message_id"], "text": "final"}
    assert (await call(fake, "editMessageText", edit))[0] == 200
    assert "not modified" in await refused(fake, "editMessageText", edit)
    assert fake.sent(USER)[0].text == "final" and fake.sent(USER)[0].history == ["draft"]


async def test_limits_beyond_the_schema(fake: FakeTelegram) -> None:
    assert "action" in await refused(fake, "sendChatAction", {"chat_id": USER, "action": "thinking"})
    fake.violations.clear()
    commands = [{"command": "Start", "description": "go"}]
    assert "BOT_COMMAND_INVALID" in await refused(fake, "setMyCommands", {"commands": commands})
    fake.violations.clear()
    assert "parse_mode" in await refused(fake, "sendMessage", {"chat_id": USER, "text": "x", "parse_mode": "html5"})


async def test_get_updates_long_polls_and_confirms_by_offset(fake: FakeTelegram) -> None:
    started = time.monotonic()
    status, empty = await call(fake, "getUpdates", {"timeout": 30})
    assert status == 200 and empty["result"] == [] and POLL_HOLD - 0.1 < time.monotonic() - started < POLL_HOLD + 1
    waiting = asyncio.create_task(call(fake, "getUpdates", {"timeout": 30}))
    await asyncio.sleep(0.1)
    sent = fake.send(fake.users[USER], "/start event_expo")
    assert fake.delivered_at(sent) is None
    _, got = await waiting
    update = got["result"][0]
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    first = fake.delivered_at(sent)
    assert first is not None and first <= time.monotonic()
    _, unconfirmed = await call(fake, "getUpdates", {"timeout": 0})
    assert unconfirmed["result"] == [update] and fake.delivered_at(sent) == first  # the first delivery counts
    _, again = await call(fake, "getUpdates", {"offset": update["update_id"] + 1, "timeout": 0})
    assert again["result"] == []


async def test_button_presses_must_be_answered_once(fake: FakeTelegram) -> None:
    markup = {"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}]]}
    await call(fake, "sendMessage", {"chat_id": USER, "text": "ok?", "reply_markup": markup})
    query = fake.press(fake.users[USER], fake.sent(USER)[0], "y")
    assert not fake.callback_answered(query)
    assert (await call(fake, "answerCallbackQuery", {"callback_query_id": query}))[0] == 200
    assert fake.callback_answered(query)
    assert "query is too old" in await refused(fake, "answerCallbackQuery", {"callback_query_id": query})


async def test_injected_429_must_be_waited_out(fake: FakeTelegram) -> None:
    fake.fail("sendMessage", 429, retry_after=1)
    status, answer = await call(fake, "sendMessage", {"chat_id": USER, "text": "hi"})
    assert status == 429 and answer["parameters"] == {"retry_after": 1}
    assert fake.violations == []
    status, _ = await call(fake, "sendMessage", {"chat_id": USER, "text": "too soon"})
    assert status == 429 and "before retry_after expired" in fake.violations[0]
    fake.violations.clear()
    await asyncio.sleep(1.05)
    assert (await call(fake, "sendMessage", {"chat_id": USER, "text": "later"}))[0] == 200


async def test_injected_502_looks_like_a_proxy_error(fake: FakeTelegram) -> None:
    fake.fail("getMe", 502)
    status, answer = await call(fake, "getMe", data=b"")
    assert status == 502 and "502" in answer["raw"]
    assert (await call(fake, "getMe", data=b""))[0] == 200


async def test_get_updates_conflicts_with_a_webhook(fake: FakeTelegram) -> None:
    assert (await call(fake, "setWebhook", {"url": "https://example.org/hook", "secret_token": "s3cr-t"}))[0] == 200
    assert "Conflict" in await refused(fake, "getUpdates", {"timeout": 0}, status=409)
