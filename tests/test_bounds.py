"""Limits on what a user or a misbehaving server can make the bot spend or say: long histories, secrets."""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Iterator

import pytest

from bot.core.assistant import MAX_TURN_CHARS, Assistant
from bot.core.llm import make_chat_model
from knowledge.logs import Redactor, setup_logging
from knowledge.retrieve import HybridSearcher
from tests.conftest import make_settings
from tests.fakes.openai import FakeOpenAI
from tests.test_http import VOUCHER_CAP, over, post_ask, serving

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
