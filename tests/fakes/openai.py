"""A local OpenAI-compatible HTTP server for tests, speaking the wire protocol of api.openai.com.

It serves `POST /v1/chat/completions` (whole replies and `stream: true` server-sent events ending with
`data: [DONE]`), `POST /v1/embeddings` and `GET /v1/models` on a free port of 127.0.0.1, from a background thread,
so sync code, async code and subprocesses can all use it. Requests OpenAI would refuse get OpenAI's 400/401/404
error bodies. The test scripts the replies with a `responder` (request JSON in, answer text out), injects failures
(`fail`, `slow`, `malformed`, `drop`) and reads back every request from `requests`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import math
import re
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

API_KEY = "sk-test-fake-openai-0123456789abcdef"
CHAT_MODEL = "gpt-4.1-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
EMBEDDING_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}

Responder = Callable[[dict[str, Any]], str]

_ERRORS: dict[int, tuple[str, str, str | None]] = {  # status: OpenAI's message, type and code
    400: ("Bad request.", "invalid_request_error", None),
    403: ("You are not allowed to sample from this model.", "invalid_request_error", None),
    404: ("Not found.", "invalid_request_error", None),
    429: (
        "Rate limit reached for requests. Limit 3, Used 3, Requested 1. Please try again in 1s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


class OpenAIError(Exception):
    """A request OpenAI would refuse: its status and error object."""

    def __init__(self, status: int, message: str, kind: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "type": kind, "param": param, "code": code}


def _invalid(message: str, param: str | None = None, code: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, "invalid_request_error", param, code)


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it (headers with lower-case names; body parsed, None if not JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def prompt(self) -> str:
        """Every message's text, joined: what a test searches for passages or rules."""
        messages = self.body.get("messages", []) if isinstance(self.body, dict) else []
        return "\n".join(_content_text(m.get("content")) for m in messages if isinstance(m, dict))


_FENCE = re.compile(r"<passages (\w+)>\n(.*?)\n</passages \1>", re.S)


def fenced_passages(messages: list[Any]) -> str | None:
    """The reference passages the assistant fenced into its last user message, or None (a rewrite request)."""
    last = messages[-1] if messages else {}
    match = _FENCE.search(_content_text(last.get("content")) if isinstance(last, dict) else "")
    return match.group(2) if match else None


def asked_question(messages: list[Any]) -> str:
    """The question of the last user message, without the passages fenced before it."""
    last = _content_text(messages[-1].get("content"))
    return last.rsplit("\nQuestion: ", 1)[-1]


@dataclass
class _Fault:
    kind: Literal["status", "slow", "malformed", "drop"]
    times: int | None  # None: every request until `heal`
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    after_chunks: int = 0


@dataclass
class FakeOpenAI:
    """The server; use as a context manager, point the client at `base_url` with `api_key`."""

    api_key: str | None = API_KEY  # None: any key (or none) is accepted, like a local vLLM or Ollama
    responder: Responder = field(default=lambda _request: "Hello from the fake model.")
    models: tuple[str, ...] = (CHAT_MODEL, EMBEDDING_MODEL)  # what GET /v1/models lists
    chunk_size: int = 4  # characters per streamed chunk, about one token; small enough to split "[1]"
    chunk_delay: float = 0.0  # seconds between streamed chunks, for tests that watch drafts arrive
    echo_wrong_key: bool = False  # some OpenAI-compatible servers quote a refused key whole, not masked
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _faults: list[_Fault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL must be."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1, serving from a daemon thread."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-openai", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)

    def stop(self) -> None:
        """Stop listening, abandoning requests still in flight (a slow reply must not hold up teardown)."""
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def _listen(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        # Cancel the handler of a client that hung up (a timed-out request), and do not wait long for the rest.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    # ---- failure knobs ------------------------------------------------------------------------------------------

    def fail(self, status: int = 500, *, times: int | None = None, retry_after: float | None = None) -> None:
        """Answer the next `times` requests (all when None) with this HTTP error and OpenAI's error body."""
        self._faults.append(_Fault("status", times, status=status, retry_after=retry_after))

    def slow(self, seconds: float, *, times: int | None = None) -> None:
        """Wait `seconds` before answering the next `times` requests."""
        self._faults.append(_Fault("slow", times, seconds=seconds))

    def malformed(self, *, times: int | None = None) -> None:
        """Answer 200 with a body that is not valid JSON (a broken event when streaming)."""
        self._faults.append(_Fault("malformed", times))

    def drop(self, after_chunks: int = 0, *, times: int | None = None) -> None:
        """Close the connection without finishing the reply: after `after_chunks` content chunks of a stream."""
        self._faults.append(_Fault("drop", times, after_chunks=after_chunks))

    def reply_with(self, responder: Responder) -> None:
        """Script the model: `responder` gets each chat request's JSON and returns the reply text."""
        self.responder = responder

    def heal(self) -> None:
        """Forget every injected failure."""
        self._faults.clear()

    def _next_fault(self) -> _Fault | None:
        for fault in self._faults:
            if fault.times is None:
                return fault
            if fault.times > 0:
                fault.times -= 1
                return fault
        return None

    # ---- what tests read ----------------------------------------------------------------------------------------

    @property
    def chat_requests(self) -> list[Recorded]:
        """The chat-completion requests received, in order."""
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    # ---- HTTP ---------------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.requests.append(
            Recorded(request.method, request.path, {k.lower(): v for k, v in request.headers.items()}, body)
        )
        try:
            self._authorize(request)
            route = (request.method, request.path)
            if route == ("GET", "/v1/models"):
                return _json({"object": "list", "data": [_model(m) for m in self.models]})
            if route not in {("POST", "/v1/chat/completions"), ("POST", "/v1/embeddings")}:
                raise OpenAIError(404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error")
            payload = _payload(raw)
            _check_model(payload)
            if request.path == "/v1/chat/completions":
                _check_messages(payload)
            fault = self._next_fault()
            if fault is not None and fault.kind == "status":
                return _failure(fault)
            if fault is not None and fault.kind == "slow":
                await asyncio.sleep(fault.seconds)
            if request.path == "/v1/embeddings":
                return self._embeddings(request, payload, fault)
            return await self._chat(request, payload, fault)
        except OpenAIError as error:
            return _json({"error": error.error}, status=error.status)

    def _authorize(self, request: web.Request) -> None:
        if self.api_key is None:
            return
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not key:
            raise OpenAIError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using "
                "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
            )
        if key != self.api_key:
            # OpenAI shows only the ends of a wrong key.
            masked = f"{key[:3]}{'*' * max(len(key) - 7, 0)}{key[-4:]}" if len(key) > 8 else "*" * len(key)
            masked = key if self.echo_wrong_key else masked
            raise OpenAIError(
                401,
                f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )

    def _completion_id(self) -> str:
        return f"chatcmpl-fake{next(self._ids):06d}"

    async def _chat(self, request: web.Request, payload: dict[str, Any], fault: _Fault | None) -> web.StreamResponse:
        reply = self.responder(payload)
        model = payload["model"]
        usage = _usage(Recorded("POST", request.path, {}, payload).prompt, reply)
        if not payload.get("stream"):
            if fault is not None and fault.kind == "drop":
                _abort(request)
                return web.Response()
            if fault is not None and fault.kind == "malformed":
                return web.Response(
                    text='{"id": "chatcmpl-broken", "choices": [{"mess', content_type="application/json"
                )
            message = {"role": "assistant", "content": reply, "refusal": None, "annotations": []}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            return _json(
                {**_envelope(self._completion_id(), model, "chat.completion"), "choices": [choice], "usage": usage}
            )
        return await self._stream(request, payload, reply, usage, fault)

    async def _stream(
        self, request: web.Request, payload: dict[str, Any], reply: str, usage: dict[str, int], fault: _Fault | None
    ) -> web.StreamResponse:
        envelope = _envelope(self._completion_id(), payload["model"], "chat.completion.chunk")
        with_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if with_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**envelope, "choices": [choice], **extra}

        pieces = [reply[i : i + self.chunk_size] for i in range(0, len(reply), self.chunk_size)]
        events = [
            chunk({"role": "assistant", "content": "", "refusal": None}),
            *(chunk({"content": piece}) for piece in pieces),
            chunk({}, "stop"),
        ]
        if with_usage:
            events.append({**envelope, "choices": [], "usage": usage})
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", **_request_id()}
        )
        await response.prepare(request)
        for sent, event in enumerate(events):
            if fault is not None and fault.kind == "drop" and sent == 1 + fault.after_chunks:
                _abort(request)  # mid-body: the client sees an incomplete chunked response
                return response
            data = json.dumps(event, ensure_ascii=False)
            if fault is not None and fault.kind == "malformed" and sent == 1:
                data = data[: len(data) // 2]
            await response.write(f"data: {data}\n\n".encode())
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _embeddings(self, request: web.Request, payload: dict[str, Any], fault: _Fault | None) -> web.Response:
        texts = _embedding_inputs(payload.get("input"))
        model = payload["model"]
        dimensions = payload.get("dimensions") or EMBEDDING_DIMENSIONS.get(model, 256)
        if not isinstance(dimensions, int) or dimensions < 1:
            raise _invalid("Invalid 'dimensions': expected a positive integer.", "dimensions", "invalid_value")
        encoding = payload.get("encoding_format", "float")
        if encoding not in {"float", "base64"}:
            raise _invalid(
                f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.", "encoding_format"
            )
        if fault is not None and fault.kind == "drop":
            _abort(request)
            return web.Response()
        if fault is not None and fault.kind == "malformed":
            return web.Response(
                text='{"object": "list", "data": [{"embedding": [0.1, ', content_type="application/json"
            )
        data = []
        for index, text in enumerate(texts):
            vector = fake_embedding(text, dimensions)
            packed = (
                base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode() if encoding == "base64" else None
            )
            data.append({"object": "embedding", "index": index, "embedding": packed or vector})
        tokens = sum(_tokens(text) for text in texts)
        return _json(
            {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        )


# ---- request checks -------------------------------------------------------------------------------------------------


def _payload(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise _invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
            "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
        )
    return payload


def _check_model(payload: dict[str, Any]) -> None:
    # Any name is served, as by vLLM or Ollama: tests assert the model the client asked for on `requests`.
    model = payload.get("model")
    if not model:
        raise _invalid("you must provide a model parameter")
    if not isinstance(model, str):
        raise _invalid("Invalid type for 'model': expected a string.", "model", "invalid_type")


def _check_messages(payload: dict[str, Any]) -> None:
    messages = payload.get("messages")
    if messages is None:
        raise _invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise _invalid("Invalid type for 'messages': expected an array of objects.", "messages", "invalid_type")
    if not messages:
        raise _invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            "messages",
            "empty_array",
        )
    for n, message in enumerate(messages):
        where = f"messages[{n}]"
        if not isinstance(message, dict):
            raise _invalid(f"Invalid type for '{where}': expected an object.", where, "invalid_type")
        role = message.get("role")
        if role is None:
            raise _invalid(
                f"Missing required parameter: '{where}.role'.", f"{where}.role", "missing_required_parameter"
            )
        if role not in ROLES:
            supported = ", ".join(f"'{r}'" for r in ROLES)
            raise _invalid(
                f"Invalid value: '{role}'. Supported values are: {supported}.", f"{where}.role", "invalid_value"
            )
        content = message.get("content")
        if content is None and not (role == "assistant" and message.get("tool_calls")):
            param = f"{where}.content"
            raise _invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")
        if content is not None and not isinstance(content, str | list):
            param = f"{where}.content"
            raise _invalid(
                f"Invalid type for '{param}': expected one of a string or array of objects.", param, "invalid_type"
            )
    if "stream" in payload and not isinstance(payload["stream"], bool):
        raise _invalid("Invalid type for 'stream': expected a boolean.", "stream", "invalid_type")


def _embedding_inputs(value: Any) -> list[str]:
    """`input` as OpenAI accepts it: a string, a list of strings, token ids or lists of token ids."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _invalid("'input' is a required property and must be a non-empty string or array.", "input")
    texts = []
    for item in value:
        if isinstance(item, str) and item:
            texts.append(item)
        elif isinstance(item, list) and item and all(isinstance(t, int) for t in item):
            texts.append(" ".join(map(str, item)))
        else:
            raise _invalid("'$.input' is invalid. Please check the API reference.", "input")
    return texts


# ---- replies --------------------------------------------------------------------------------------------------------


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A unit vector of hashed character trigrams: deterministic, and texts that share words come out similar."""
    vector = [0.0] * dimensions
    padded = f"  {text.lower()}  "
    for i in range(len(padded) - 2):
        digest = int.from_bytes(hashlib.blake2b(padded[i : i + 3].encode(), digest_size=8).digest(), "big")
        vector[digest % dimensions] += 1.0 if digest >> 63 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _usage(prompt: str, reply: str) -> dict[str, int]:
    prompt_tokens, completion_tokens = _tokens(prompt), _tokens(reply)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _envelope(completion_id: str, model: str, kind: str) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "service_tier": "default",
    }


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "system"}


def _request_id() -> dict[str, str]:
    return {"x-request-id": f"req_{uuid.uuid4().hex}"}


def _failure(fault: _Fault) -> web.Response:
    message, kind, code = _ERRORS.get(fault.status, ("Error.", "server_error", None))
    headers = _request_id()
    if fault.retry_after is not None:
        headers["retry-after"] = f"{fault.retry_after:g}"
    return _json({"error": {"message": message, "type": kind, "param": None, "code": code}}, fault.status, headers)


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers or _request_id())


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()
