"""The fake OpenAI server speaks the wire protocol the real `openai` client expects, and its failure knobs work."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import aiohttp
import openai
import pytest

from tests.fakes.openai import API_KEY, CHAT_MODEL, EMBEDDING_MODEL, FakeOpenAI

USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(responder=lambda request: f"You said: {request['messages'][-1]['content']} [1]") as fake:
        yield fake


def client(server: FakeOpenAI, key: str = API_KEY, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=server.base_url, **{"max_retries": 0, "timeout": 5.0, **options})


async def post(server: FakeOpenAI, path: str, body: Any, key: str | None = API_KEY) -> tuple[int, str, str]:
    """Status, content type and body text of a raw request, as any HTTP client would see them."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.base_url + path, data=data, headers=headers) as r,
    ):
        return r.status, r.content_type, await r.text()


def test_whole_reply_comes_from_the_responder_and_the_request_is_recorded(server):
    reply = client(server).chat.completions.create(model=CHAT_MODEL, messages=USER)
    assert reply.choices[0].message.content == "You said: hello [1]"
    assert reply.choices[0].finish_reason == "stop" and reply.object == "chat.completion"
    assert reply.usage is not None and reply.usage.total_tokens > 0
    [recorded] = server.chat_requests
    assert recorded.headers["authorization"] == f"Bearer {API_KEY}"
    assert recorded.body["messages"] == USER and recorded.prompt == "hello"


async def test_stream_is_server_sent_events_ending_with_done(server):
    body = {"model": CHAT_MODEL, "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    status, content_type, text = await post(server, "/chat/completions", body)
    assert status == 200 and content_type == "text/event-stream"
    assert text.endswith("\n\ndata: [DONE]\n\n")
    events = text.split("\n\n")[:-1]
    assert all(event.startswith("data: ") and "\n" not in event for event in events)
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]]
    assert "".join(pieces) == "You said: hello [1]" and len(pieces) > 3
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1


async def test_the_client_reads_the_stream(server):
    stream = await openai.AsyncOpenAI(api_key=API_KEY, base_url=server.base_url).chat.completions.create(
        model=CHAT_MODEL, messages=USER, stream=True
    )
    assert "".join([chunk.choices[0].delta.content or "" async for chunk in stream]) == "You said: hello [1]"


@pytest.mark.parametrize(
    ("key", "body", "status", "message"),
    [
        (None, {"model": CHAT_MODEL, "messages": USER}, 401, "You didn't provide an API key"),
        ("sk-wrong-key-123456", {"model": CHAT_MODEL, "messages": USER}, 401, "Incorrect API key provided: sk-"),
        (API_KEY, b"{not json", 400, "could not parse the JSON body"),
        (API_KEY, {"messages": USER}, 400, "you must provide a model parameter"),
        (API_KEY, {"model": 4, "messages": USER}, 400, "Invalid type for 'model'"),
        (API_KEY, {"model": CHAT_MODEL}, 400, "Missing required parameter: 'messages'."),
        (API_KEY, {"model": CHAT_MODEL, "messages": []}, 400, "empty array"),
        (API_KEY, {"model": CHAT_MODEL, "messages": [{"content": "hi"}]}, 400, "'messages[0].role'"),
        (API_KEY, {"model": CHAT_MODEL, "messages": [{"role": "robot", "content": "hi"}]}, 400, "Invalid value"),
        (API_KEY, {"model": CHAT_MODEL, "messages": [{"role": "user"}]}, 400, "'messages[0].content'"),
    ],
)
async def test_requests_openai_would_refuse_get_its_errors(server, key, body, status, message):
    got, content_type, text = await post(server, "/chat/completions", body, key)
    error = json.loads(text)["error"]
    assert (got, content_type) == (status, "application/json")
    assert message in error["message"] and set(error) == {"message", "type", "param", "code"}
    assert len(server.requests) == 1  # refused requests are recorded too


def test_a_wrong_key_is_shown_masked_like_openai_does(server):
    wrong = "sk-wrong-key-0123456789"
    with pytest.raises(openai.AuthenticationError) as raised:
        client(server, wrong).chat.completions.create(model=CHAT_MODEL, messages=USER)
    assert wrong not in str(raised.value) and "6789" in str(raised.value)


def test_any_key_is_accepted_when_the_server_has_none():
    with FakeOpenAI(api_key=None) as fake:
        assert client(fake, "anything").chat.completions.create(model=CHAT_MODEL, messages=USER).choices


def test_a_failure_for_one_request_is_retried_by_the_client(server):
    server.fail(500, times=1)
    reply = client(server, max_retries=1).chat.completions.create(model=CHAT_MODEL, messages=USER)
    assert reply.choices[0].message.content.startswith("You said")
    assert len(server.chat_requests) == 2


@pytest.mark.parametrize(("status", "error"), [(500, openai.InternalServerError), (429, openai.RateLimitError)])
def test_failures_last_until_healed(server, status, error):
    server.fail(status, retry_after=0.1)
    for _ in range(2):
        with pytest.raises(error):
            client(server).chat.completions.create(model=CHAT_MODEL, messages=USER)
    server.heal()
    assert client(server).chat.completions.create(model=CHAT_MODEL, messages=USER).choices


async def test_rate_limit_says_when_to_retry(server):
    server.fail(429, retry_after=2)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.base_url + "/chat/completions",
            json={"model": CHAT_MODEL, "messages": USER},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as response,
    ):
        assert response.status == 429 and response.headers["retry-after"] == "2"
        assert (await response.json())["error"]["code"] == "rate_limit_exceeded"


def test_a_slow_server_times_the_client_out(server):
    server.slow(5)
    with pytest.raises(openai.APITimeoutError):
        client(server, timeout=0.3).chat.completions.create(model=CHAT_MODEL, messages=USER)


@pytest.mark.parametrize("stream", [False, True])
def test_a_malformed_body_breaks_the_client(server, stream):
    server.malformed()
    with pytest.raises(json.JSONDecodeError):
        reply = client(server).chat.completions.create(model=CHAT_MODEL, messages=USER, stream=stream)
        if stream:
            list(reply)


def test_a_connection_dropped_mid_stream_ends_it_after_the_chunks_sent(server):
    server.drop(after_chunks=2)
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client(server).chat.completions.create(model=CHAT_MODEL, messages=USER, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "You said: hello [1]"[: 2 * server.chunk_size]


def test_a_connection_dropped_before_the_reply_is_a_connection_error(server):
    server.drop()
    with pytest.raises(openai.APIConnectionError):
        client(server).chat.completions.create(model=CHAT_MODEL, messages=USER)


def test_embeddings_are_deterministic_and_similar_for_similar_texts(server):
    embeddings = client(server).embeddings
    texts = ["rent subsidy for PhD graduates", "rent subsidy for PhDs", "cryo-electron microscope booking"]
    floats = embeddings.create(model=EMBEDDING_MODEL, input=texts, encoding_format="float").data
    packed = embeddings.create(model=EMBEDDING_MODEL, input=texts).data  # the client asks for base64 by default
    a, b, c = (item.embedding for item in floats)
    assert len(a) == 1536 and math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-6)
    assert all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-7) for x, y in zip(a, packed[0].embedding, strict=True))

    def cosine(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert cosine(a, b) > cosine(a, c)
    short = embeddings.create(model=EMBEDDING_MODEL, input="hi", dimensions=64, encoding_format="float")
    assert len(short.data[0].embedding) == 64


def test_models_are_listed(server):
    assert {model.id for model in client(server).models.list()} == {CHAT_MODEL, EMBEDDING_MODEL}
