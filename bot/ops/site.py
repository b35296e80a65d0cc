"""The operator site: health, readiness and Prometheus metrics, served by every channel's process."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from bot.core.assistant import Assistant
from bot.ops.metrics import CONTENT_TYPE, Metrics
from knowledge.retrieve import IndexMissing
from knowledge.settings import Settings
from knowledge.store import StoreUnavailable

log = logging.getLogger(__name__)

READY_TIMEOUT = 3.0  # seconds for the LLM server to list its models; a probe must answer quickly
OPENAI_URL = "https://api.openai.com/v1"

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
ASSISTANT = web.AppKey("assistant", Assistant)


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


def add_operator_routes(app: web.Application) -> None:
    """Route /healthz, /readyz and /metrics; the app must hold SETTINGS, METRICS and ASSISTANT."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)


def operator_app(settings: Settings, metrics: Metrics, assistant: Assistant) -> web.Application:
    """The operator endpoints alone, over an assistant another channel already built."""
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[ASSISTANT] = assistant
    add_operator_routes(app)
    return app


def new_metrics(settings: Settings, channel: str) -> Metrics:
    """Metrics of this process in a registry of its own."""
    return Metrics(CollectorRegistry(), channel, settings.data_dir)


async def start_operator_site(settings: Settings, metrics: Metrics, assistant: Assistant) -> web.AppRunner:
    """Serve /healthz, /readyz and /metrics beside another channel (the Telegram bot); stop it with `cleanup()`."""
    runner = web.AppRunner(operator_app(settings, metrics, assistant))
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    log.info("operator endpoints on %s", runner.addresses)
    return runner
