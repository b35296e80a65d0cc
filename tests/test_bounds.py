"""Limits on what a user or a misbehaving server can make the bot spend or say: long histories, secrets."""

from __future__ import annotations

import json
import logging
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.assistant import Assistant
from bot.core.llm import ANSWER_RULES, MAX_PASSAGE_CHARS, answer_messages, make_chat_model
from bot.core.turns import MAX_TURN_CHARS
from knowledge.logs import Redactor, setup_logging
from knowledge.retrieve import HybridSearcher, Passage
from tests.conftest import DEV_CORPUS, DEV_QUESTIONS, clean_env, make_settings
from tests.fakes.openai import FakeOpenAI
from tests.test_http import VOUCHER_CAP, _post, _when_up, free_port, over, post_ask, serving

ROOT = Path(__file__).resolve().parents[1]
WRONG_KEY = "sk-live-this-key-was-refused-0042"


@pytest.fixture
def quiet_root() -> Iterator[None]:
    """Put the root logger back as it was: setup_logging replaces its handlers."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_a_megabyte_of_history_costs_no_more_than_a_short_conversation(searcher: HybridSearcher) -> None:
    assistant = Assistant(searcher)
    await assistant.answer(VOUCHER_CAP)  # models and index loaded before measuring
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    answer = await assistant.answer("and how much is it?", ["voucher rules " * 80_000])
    assert time.perf_counter() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB
    assert answer.sources, "the capped turn still steers retrieval"


async def test_http_refuses_a_history_item_over_the_limit_with_the_reason(dev_settings, searcher) -> None:
    async with serving(dev_settings, over(searcher)) as client:
        body = {"question": "and how much?", "history": ["x" * (MAX_TURN_CHARS + 1)]}
        status, reply = await post_ask(client, body)
    assert status == 400
    assert reply["error"] == f"bad request body: history.0: String should have at most {MAX_TURN_CHARS} characters"


async def test_http_accepts_the_bearer_scheme_in_any_case(dev_data_dir, searcher) -> None:
    settings = make_settings(dev_data_dir, http_api_token="s3cret-token")
    async with serving(settings, over(searcher)) as client:
        for scheme in ("bearer", "BEARER", "Bearer"):
            headers = {"Authorization": f"{scheme} s3cret-token"}
            async with client.post("/ask", data=json.dumps({"question": VOUCHER_CAP}), headers=headers) as ok:
                assert ok.status == 200, scheme


async def test_a_configured_secret_in_a_document_is_never_said(searcher: HybridSearcher) -> None:
    plain = await Assistant(searcher).answer(VOUCHER_CAP)
    assert "186,400 of vouchers" in plain.answer, "the passage the secret stands in for is the answer"
    guarded = await Assistant(searcher, redact=Redactor(["186,400 of vouchers"])).answer(VOUCHER_CAP)
    assert "186,400 of vouchers" not in guarded.answer and "***" in guarded.answer


async def test_a_configured_secret_in_a_source_title_is_never_shown(searcher: HybridSearcher) -> None:
    guarded = await Assistant(searcher, redact=Redactor(["Vouchers for Shared"])).answer(VOUCHER_CAP)
    assert guarded.sources and guarded.sources[0].title == "Pudong GOI (sample): Innovation *** Instruments"
    assert "Vouchers for Shared" not in guarded.model_dump_json()


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.usefixtures("quiet_root")
async def test_a_key_quoted_by_the_llm_server_never_reaches_the_log(
    searcher: HybridSearcher, dev_data_dir, capsys, log_format: str
) -> None:
    with FakeOpenAI(echo_wrong_key=True) as server:
        settings = make_settings(
            dev_data_dir, openai_base_url=server.base_url, openai_api_key=WRONG_KEY, log_format=log_format
        )
        setup_logging(settings)
        answer = await Assistant(searcher, make_chat_model(settings)).answer(VOUCHER_CAP)
    errors = capsys.readouterr().err
    assert answer.mode == "extractive" and "AuthenticationError" in errors and "Incorrect API key" in errors
    assert WRONG_KEY not in errors and "***" in errors


@pytest.mark.usefixtures("quiet_root")
def test_a_short_secret_is_warned_about_and_does_not_garble_the_log(dev_data_dir, capsys) -> None:
    setup_logging(make_settings(dev_data_dir, openai_api_key="x"))
    logging.getLogger("bot.test").warning("answering extractively")
    errors = capsys.readouterr().err
    assert "OPENAI_API_KEY is only 1 characters long" in errors
    assert "answering extractively" in errors


def test_slow_partial_requests_are_dropped_and_a_hang_up_is_no_server_error(dev_data_dir, tmp_path) -> None:
    port = free_port()
    env = clean_env(DATA_DIR=str(dev_data_dir), KNOWLEDGE_SOURCES=str(DEV_CORPUS), HTTP_CLIENT_SECONDS="1")
    serve = [sys.executable, "-m", "bot", "serve", "--port", str(port)]
    process = subprocess.Popen(serve, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        _when_up(port, process, lambda: None)
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        for client in slow[:10]:
            client.sendall(b"POST /ask HTTP/1.1\r\nHost: bot\r\n")  # headers never finished
        for client in slow[10:]:
            client.sendall(b"POST /ask HTTP/1.1\r\nHost: bot\r\nContent-Length: 100\r\n\r\n{")  # a body that stalls
        hung = socket.create_connection(("127.0.0.1", port))
        hung.sendall(b"POST /ask HTTP/1.1\r\nHost: bot\r\nContent-Length: 100\r\n\r\n{")
        hung.close()
        started = time.monotonic()
        replies = []
        for client in slow:
            client.settimeout(10)
            replies.append(client.recv(200))
            client.close()
        assert time.monotonic() - started < 5, "every slow client was let go within the limit"
        assert replies[:10] == [b""] * 10, "unfinished headers: the connection is closed"
        assert all(reply.startswith(b"HTTP/1.1 408") for reply in replies[10:])
        assert _post(port, {"question": VOUCHER_CAP})["answered"], "the server still answers"
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert "ERROR" not in errors and "Traceback" not in errors, errors


@pytest.mark.parametrize(
    ("command", "env", "named"),
    [
        (["-m", "bot", "ask", "hi"], {"TELEGRAM_WEBHOOK_URL": "https://bot.example/hook"}, "TELEGRAM_WEBHOOK_SECRET"),
        (["ingest.py", "--dry-run"], {"HTTP_PORT": "eighty"}, "HTTP_PORT: Input should be a valid integer"),
    ],
)
def test_a_bad_setting_is_one_clear_line_not_a_traceback(tmp_path, command, env, named) -> None:
    script = [str(ROOT / command[0]), *command[1:]] if command[0].endswith(".py") else command
    done = subprocess.run(
        [sys.executable, *script], env=clean_env(**env), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and named in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_eval_against_an_index_of_another_corpus_says_so(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "eval", str(DEV_QUESTIONS), "--json"],
        env=clean_env(DATA_DIR=str(tmp_path / "empty")),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "none of the questions' gold sources is in the index" in done.stderr
    assert f"ingest.py {DEV_QUESTIONS.parent / 'corpus'}" in done.stderr


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_the_console_chat_is_not_interleaved_with_info_or_debug_logs(dev_data_dir, tmp_path) -> None:
    env = clean_env(DATA_DIR=str(dev_data_dir), KNOWLEDGE_SOURCES=str(DEV_CORPUS))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input=f"{VOUCHER_CAP}\n\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "186,400" in done.stdout
    assert " INFO " not in done.stderr and " DEBUG " not in done.stderr, done.stderr


def test_a_passage_of_an_old_index_reaches_the_llm_cut_to_its_limit() -> None:
    huge = Passage(id="r1", text="RMB 2,500 a month. " * 60_000, source="old/record.json", row=1, title="Old record")
    messages = answer_messages("how much is the subsidy?", "en", [huge, huge])
    prompt = "".join(str(m.content) for m in messages)
    assert len(prompt) < 2 * MAX_PASSAGE_CHARS + len(ANSWER_RULES) + 500
    assert "RMB 2,500 a month." in prompt
