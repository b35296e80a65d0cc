"""The HTTP channel end to end: a real aiohttp server on 127.0.0.1 over the real dev-corpus index, a real client.

LLM readiness and errors go to the fake OpenAI-compatible server; `python -m bot serve` runs as a subprocess.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.channels.http import make_app, new_metrics
from bot.conversation.saved_answers import NewAnswer, SavedAnswers
from bot.conversation.tables import connect, database_url
from bot.core.assistant import Assistant
from bot.core.llm import make_chat_model
from bot.core.models import Answer
from knowledge.retrieve import HybridSearcher
from knowledge.settings import Settings
from knowledge.store import make_store
from tests.conftest import DEV_CORPUS, ROOT, clean_env, make_settings
from tests.fakes.openai import API_KEY

VOUCHER_CAP = "What is the most voucher money one company can use in a year?"
PHD_RENT_ZH = "博士的租房补贴每个月多少钱？"
VOUCHERS = "policies/innovation-vouchers.md"
METRIC_NAMES = (
    "goi_questions_total",
    "goi_answer_seconds",
    "goi_llm_errors_total",
    "goi_telegram_429_total",
    "goi_ingest_runs_total",
)

MakeAssistant = Callable[[Settings], Assistant]


def free_port() -> int:
    """A port nothing listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def serving(settings: Settings, make_assistant: MakeAssistant) -> AsyncIterator[aiohttp.ClientSession]:
    """The app on a free port of 127.0.0.1, and a client session whose base URL is that server."""
    runner = web.AppRunner(make_app(settings, new_metrics(settings, "http"), make_assistant))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        await runner.cleanup()


def over(searcher: HybridSearcher) -> MakeAssistant:
    """Build the assistant over the shared dev index, with the chat model the settings configure."""
    return lambda settings: Assistant(searcher, make_chat_model(settings))


@pytest.fixture
async def client(dev_settings: Settings, searcher: HybridSearcher) -> AsyncIterator[aiohttp.ClientSession]:
    """The server in extractive mode over the dev index."""
    async with serving(dev_settings, over(searcher)) as session:
        yield session


async def post_ask(client: aiohttp.ClientSession, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with client.post("/ask", data=data, headers={"Content-Type": "application/json"}) as response:
        return response.status, await response.json()


async def exposition(client: aiohttp.ClientSession) -> str:
    """GET /metrics."""
    async with client.get("/metrics") as response:
        assert response.status == 200 and response.content_type == "text/plain"
        return await response.text()


async def scrape(client: aiohttp.ClientSession) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of GET /metrics, parsed by prometheus-client's own parser: (name, labels) -> value."""
    text = await exposition(client)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def asked(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], language: str, answered: str) -> float:
    labels = (("answered", answered), ("channel", "http"), ("language", language))
    return metrics[("goi_questions_total", labels)]


async def test_ask_answers_in_english_and_chinese_with_their_sources(client):
    cases = (
        (VOUCHER_CAP, "en", "186,400", VOUCHERS),
        (PHD_RENT_ZH, "zh", "3,400", "policies/youth-housing-support.zh.md"),
    )
    for question, language, fact, source in cases:
        status, body = await post_ask(client, {"question": question})
        answer = Answer.model_validate(body)
        assert status == 200 and answer.answered and answer.language == language, body
        assert fact in answer.answer and answer.sources[0].path == source


async def test_ask_serves_the_answers_staff_saved_in_the_bots_database(dev_settings, client):
    answers = SavedAnswers(connect(database_url(dev_settings)))
    question = "Is there visitor parking at the GOI office?"
    _, before = await post_ask(client, {"question": question})
    assert not before["curated"]
    in_chinese = "GOI办公室有访客停车位吗？"
    saved = NewAnswer(question=question, answer="Four spaces behind building B.", alternatives=[in_chinese])
    answers.add(saved, saved_by="Mei")  # after the server started: it follows the database
    for asked_now in ("is there any parking for visitors at GOI's office", "访客在GOI办公室有停车位吗"):
        status, body = await post_ask(client, {"question": asked_now})
        assert status == 200 and body["curated"] and body["answer"].endswith("Four spaces behind building B."), body


async def test_ask_follows_the_conversation_in_history(client, searcher):
    question, history = "and in the 3rd year?", ["how does the rent subsidy work for startups in incubators?"]
    _, alone = await post_ask(client, {"question": question})
    status, body = await post_ask(client, {"question": question, "history": history})
    assert status == 200 and body["sources"][0]["path"] == "policies/incubator-rent-support.md", body
    assert "38%" in body["answer"] and body["sources"] != alone["sources"]
    # The same answer as `python -m bot ask --json` gives for this line: both are the core's Answer.
    assert Answer.model_validate(body) == await Assistant(searcher).answer(question, history)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "bad request body: Invalid JSON"),
        ({"history": []}, "bad request body: question: Field required"),
        ({"question": 42}, "bad request body: question: Input should be a valid string"),
        ({"question": "vouchers?", "history": "none"}, "bad request body: history: Input should be a valid array"),
        ({"question": "   "}, "question is empty"),
        ({"question": "voucher " * 200}, "question is longer than 1000 characters"),
    ],
)
async def test_ask_refuses_bad_input_with_a_specific_message(client, body, error):
    status, reply = await post_ask(client, body)
    assert status == 400 and reply["error"].startswith(error), reply


async def test_with_an_api_token_ask_needs_it_and_probes_do_not(dev_data_dir, searcher):
    settings = make_settings(dev_data_dir, http_api_token="s3cret-token")
    question = json.dumps({"question": "What is the maximum voucher amount per year?"})
    async with serving(settings, over(searcher)) as client:
        for headers in ({}, {"Authorization": "Bearer s3cret-tokeN"}, {"Authorization": "s3cret-token"}):
            async with client.post("/ask", data=question, headers=headers) as refused:
                assert refused.status == 401 and (await refused.json())["error"] == "missing or wrong bearer token"
        async with client.post("/ask", data=question, headers={"Authorization": "Bearer s3cret-token"}) as ok:
            assert ok.status == 200 and "186,400" in (await ok.json())["answer"]
        async with client.get("/healthz") as health, client.get("/metrics") as metrics:
            assert health.status == 200 and metrics.status == 200


async def test_healthz_and_readyz_over_a_published_index(client):
    async with client.get("/healthz") as health, client.get("/readyz") as ready:
        assert health.status == 200 and ready.status == 200
        assert await ready.json() == {"ready": True, "not_ready": {}}


async def test_readyz_names_what_is_not_ready(tmp_path, local_embeddings, dev_data_dir, searcher, server):
    def empty_index(settings: Settings) -> Assistant:
        return Assistant(HybridSearcher(make_store(settings), local_embeddings))

    closed_llm = f"http://127.0.0.1:{free_port()}/v1"
    cases: list[tuple[Settings, MakeAssistant, str]] = [
        (make_settings(tmp_path / "fresh"), empty_index, "index"),  # before the first ingest
        (make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=free_port()), empty_index, "store"),
        (make_settings(dev_data_dir, openai_base_url=closed_llm), over(searcher), "llm"),
    ]
    for settings, make_assistant, missing in cases:
        async with serving(settings, make_assistant) as client, client.get("/readyz") as response:
            body = await response.json()
            assert response.status == 503 and list(body["not_ready"]) == [missing], body
        async with serving(settings, make_assistant) as client, client.get("/healthz") as response:
            assert response.status == 200, "liveness does not depend on the index or the LLM"
    llm = make_settings(dev_data_dir, openai_base_url=server.base_url, openai_api_key=API_KEY)
    async with serving(llm, over(searcher)) as client, client.get("/readyz") as response:
        assert response.status == 200, await response.text()
    assert [r.path for r in server.requests] == ["/v1/models"]


async def test_metrics_count_questions_and_llm_errors(dev_data_dir, searcher, server):
    server.fail(500)
    llm = make_settings(dev_data_dir, openai_base_url=server.base_url, openai_api_key=API_KEY)
    async with serving(llm, over(searcher)) as client:
        text = await exposition(client)
        assert all(f"# TYPE {name} " in text for name in METRIC_NAMES), text
        before = await scrape(client)
        status, body = await post_ask(client, {"question": VOUCHER_CAP})
        after = await scrape(client)
    assert status == 200 and body["mode"] == "extractive", "the LLM failed: the answer quotes the passages"
    assert asked(after, "en", "true") == asked(before, "en", "true") + 1
    assert asked(after, "zh", "true") == asked(before, "zh", "true") == 0
    assert after[("goi_llm_errors_total", (("kind", "status"),))] == 1
    assert after[("goi_answer_seconds_count", (("channel", "http"),))] == 1


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
async def test_metrics_count_ingest_runs_by_outcome(tmp_path, searcher):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "vouchers.md").write_text("# Vouchers\n\nEach company may use at most RMB 186,400 a year.\n")
    (kb / "broken.xlsx").write_bytes(b"not a spreadsheet")
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, str(ROOT / "ingest.py"), str(kb), "--data-dir", str(data)],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # one file failed, the rest was published
    async with serving(make_settings(data), over(searcher)) as client:
        metrics = await scrape(client)
    runs = {labels: value for (name, labels), value in metrics.items() if name == "goi_ingest_runs_total"}
    assert runs == {(("outcome", "partial"),): 1}


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_serve_logs_one_json_object_per_line_without_secrets(dev_data_dir, tmp_path, server):
    """`python -m bot serve` with LOG_FORMAT=json: every stderr line parses; no API key, no question text."""
    server.fail(500)  # a failing LLM logs a warning with its traceback
    port = free_port()
    env = clean_env(
        DATA_DIR=str(dev_data_dir),
        KNOWLEDGE_SOURCES=str(DEV_CORPUS),
        LOG_FORMAT="json",
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=server.base_url,
    )
    serve = [sys.executable, "-m", "bot", "serve", "--port", str(port)]
    process = subprocess.Popen(serve, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        reply = _when_up(port, process, lambda: _post(port, {"question": VOUCHER_CAP}))
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert reply["mode"] == "extractive" and reply["sources"][0]["path"] == VOUCHERS
    lines = [json.loads(line) for line in errors.splitlines()]
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])
    warnings = [line for line in lines if line["level"] == "WARNING" and line["logger"] == "bot.core.assistant"]
    assert warnings and "InternalServerError" in warnings[0]["exc"]
    assert API_KEY not in errors
    assert VOUCHER_CAP not in errors, "no message bodies in the log"


def _post(port: int, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/ask", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _when_up(port: int, process: subprocess.Popen[str], call: Callable[[], Any]) -> Any:
    """`call()` once the server accepts connections (the embedding model takes seconds to load)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return call()
        time.sleep(0.3)
    raise AssertionError("the server did not start")
