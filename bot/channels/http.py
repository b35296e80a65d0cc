"""HTTP channel: `POST /ask` over the channel-free assistant, beside the operator endpoints."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, Field, SecretStr, ValidationError

from bot.conversation.saved_answers import serve_saved
from bot.core.assistant import MAX_TURN_CHARS, Assistant
from bot.core.components import build_assistant
from bot.ops.metrics import Metrics
from bot.ops.site import ASSISTANT, METRICS, SETTINGS, add_operator_routes, new_metrics
from knowledge.settings import Settings

log = logging.getLogger(__name__)


class AskRequest(BaseModel):
    """The body of `POST /ask`: a question and the user's earlier turns, oldest first."""

    question: str
    history: list[Annotated[str, Field(max_length=MAX_TURN_CHARS)]] = Field(default_factory=list, max_length=20)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _authorized(request: web.Request, token: SecretStr | None) -> bool:
    if token is None:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # The scheme name is case-insensitive (RFC 9110); the token is compared in constant time.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


async def _body(request: web.Request, seconds: float) -> bytes:
    """The request body, or a 4xx when it does not arrive in time or the client hangs up sending it."""
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        log.info("POST /ask body from %s not complete after %.0f s: dropped", request.remote, seconds)
        body = json.dumps({"error": "request body too slow"})
        raise web.HTTPRequestTimeout(text=body, content_type="application/json") from None
    except ConnectionResetError:
        log.info("client %s hung up while sending its request body", request.remote)
        raise _bad_request("request body incomplete: the connection closed") from None


async def ask(request: web.Request) -> web.Response:
    """`POST /ask`: the Answer as JSON, the same object `python -m bot ask --json` prints."""
    settings = request.app[SETTINGS]
    if not _authorized(request, settings.http_api_token):
        log.warning("POST /ask refused: missing or wrong bearer token from %s", request.remote)
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "missing or wrong bearer token"}),
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        body = AskRequest.model_validate_json(await _body(request, settings.http_client_seconds))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise _bad_request(f"bad request body: {where + ': ' if where else ''}{problem['msg']}") from exc
    question = body.question.strip()
    if not question:
        raise _bad_request("question is empty")
    if len(question) > settings.http_max_question_chars:
        raise _bad_request(f"question is longer than {settings.http_max_question_chars} characters")
    answer = await request.app[ASSISTANT].answer(question, body.history)
    return web.Response(text=answer.model_dump_json(), content_type="application/json")


def make_app(
    settings: Settings,
    metrics: Metrics,
    make_assistant: Callable[[Settings], Assistant] = build_assistant,
) -> web.Application:
    """The web app: `POST /ask` and the operator endpoints; the assistant is built once at start-up."""
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = metrics

    async def assistant_ctx(app: web.Application) -> AsyncIterator[None]:
        assistant = await asyncio.to_thread(make_assistant, settings)
        await asyncio.to_thread(serve_saved, assistant, settings)
        assistant.observer = metrics
        app[ASSISTANT] = assistant
        yield

    app.cleanup_ctx.append(assistant_ctx)
    add_operator_routes(app)
    app.router.add_post("/ask", ask)
    return app


def serve(settings: Settings) -> int:
    """`python -m bot serve`: answer over HTTP until interrupted."""
    app = make_app(settings, new_metrics(settings, "http"))
    # The keep-alive timer also runs from the moment a connection opens: a client that has not sent whole headers
    # by then is dropped (aiohttp has no separate header timeout).
    web.run_app(
        app,
        host=settings.http_host,
        port=settings.http_port,
        print=None,
        keepalive_timeout=settings.http_client_seconds,
    )
    return 0
