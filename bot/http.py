"""HTTP channel: `POST /ask` over the channel-free assistant, plus health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field, SecretStr, ValidationError

from bot.assistant import Assistant
from bot.components import build_assistant
from bot.metrics import CONTENT_TYPE, Metrics
from knowledge.retrieve import IndexMissing
from knowledge.settings import Settings
from knowledge.store import StoreUnavailable

log = logging.getLogger(__name__)

READY_TIMEOUT = 3.0  # seconds for the LLM server to list its models; a probe must answer quickly
OPENAI_URL = "https://api.openai.com/v1"

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
ASSISTANT = web.AppKey("assistant", Assistant)


class AskRequest(BaseModel):
    """The body of `POST /ask`: a question and the user's earlier turns, oldest first."""

    question: str
    history: list[str] = Field(default_factory=list, max_length=20)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _authorized(request: web.Request, token: SecretStr | None) -> bool:
    if token is None:
        return True
    expected = f"Bearer {token.get_secret_value()}".encode()
    return hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected)


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
        body = AskRequest.model_validate_json(await request.read())
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


async def healthz(_request: web.Request) -> web.Response:
    """`GET /healthz`: the process is serving."""
    return web.json_response({"status": "ok"})


async def prometheus(request: web.Request) -> web.Response:
    """`GET /metrics`: Prometheus text format."""
    response = web.Response(body=request.app[METRICS].exposition())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


def _index_problems(assistant: Assistant) -> dict[str, str]:
    """What keeps the index from answering: the store unreachable, or no usable index published."""
    try:
        assistant.searcher.store.current()  # the searcher alone would keep serving a cached index
    except StoreUnavailable as exc:
        return {"store": str(exc)}
    try:
        assistant.searcher.info  # noqa: B018 - loads the published index, or says why it cannot
    except IndexMissing as exc:
        return {"index": str(exc)}
    except StoreUnavailable as exc:
        return {"store": str(exc)}
    return {}


async def _llm_problem(settings: Settings) -> str | None:
    """Why the configured LLM server is not usable, or None when it lists its models."""
    url = f"{(settings.openai_base_url or OPENAI_URL).rstrip('/')}/models"
    key = settings.openai_api_key
    headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
    try:
        timeout = aiohttp.ClientTimeout(total=READY_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url, headers=headers) as response:
            return None if response.ok else f"GET {url} answered {response.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"GET {url} failed: {type(exc).__name__} {exc}".strip()


async def readyz(request: web.Request) -> web.Response:
    """`GET /readyz`: 200 when the index is loaded, the store reachable and the LLM (if configured) too; else 503."""
    settings = request.app[SETTINGS]
    problems = await asyncio.to_thread(_index_problems, request.app[ASSISTANT])
    if settings.llm_enabled and (problem := await _llm_problem(settings)):
        problems["llm"] = problem
    if problems:
        log.info("not ready: %s", ", ".join(problems), extra={"not_ready": sorted(problems)})
    return web.json_response({"ready": not problems, "not_ready": problems}, status=503 if problems else 200)


def make_app(
    settings: Settings,
    metrics: Metrics,
    make_assistant: Callable[[Settings], Assistant] = build_assistant,
    questions: bool = True,
) -> web.Application:
    """The web app; the assistant is built once at start-up. Without `questions`, only the operator endpoints."""
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = metrics

    async def assistant_ctx(app: web.Application) -> AsyncIterator[None]:
        assistant = await asyncio.to_thread(make_assistant, settings)
        assistant.observer = metrics
        app[ASSISTANT] = assistant
        yield

    app.cleanup_ctx.append(assistant_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    if questions:
        app.router.add_post("/ask", ask)
    return app


def new_metrics(settings: Settings, channel: str) -> Metrics:
    """Metrics of this process in a registry of its own."""
    return Metrics(CollectorRegistry(), channel, settings.data_dir)


async def start_operator_site(settings: Settings, metrics: Metrics, assistant: Assistant) -> web.AppRunner:
    """Serve /healthz, /readyz and /metrics beside another channel (the Telegram bot); stop it with `cleanup()`."""
    runner = web.AppRunner(make_app(settings, metrics, lambda _: assistant, questions=False))
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    log.info("operator endpoints on %s", runner.addresses)
    return runner


def serve(settings: Settings) -> int:
    """`python -m bot serve`: answer over HTTP until interrupted."""
    app = make_app(settings, new_metrics(settings, "http"))
    web.run_app(app, host=settings.http_host, port=settings.http_port, print=None)
    return 0
