"""LLM mode end to end: the real `openai`/LangChain client against a local OpenAI-compatible server, over the real
dev-corpus index. The server plays the model; everything on our side of the wire is the production code."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from bot.core.assistant import AnswerConfig, Assistant
from bot.core.llm import make_chat_model
from bot.core.texts import text
from knowledge.retrieve import HybridSearcher
from tests.conftest import make_settings
from tests.fakes.openai import API_KEY, FakeOpenAI, asked_question, fenced_passages

VOUCHER_CAP = "What is the most voucher money one company can use in a year?"
VOUCHERS = "policies/innovation-vouchers.md"
_PASSAGE = re.compile(r"^\[(\d+)\] ", re.MULTILINE)


def assistant(searcher: HybridSearcher, server: FakeOpenAI, **settings: Any) -> Assistant:
    """The assistant with the chat model the settings configure, pointed at the fake server."""
    options = {"openai_api_key": API_KEY, "openai_base_url": server.base_url, "openai_timeout": 5.0, **settings}
    chat = make_chat_model(make_settings(Path("unused"), **options))
    assert chat is not None
    return Assistant(searcher, chat)


def passages_in(request: dict[str, Any]) -> dict[int, str]:
    """The numbered passages the assistant put in the prompt, as the model reads them."""
    parts = _PASSAGE.split(fenced_passages(request["messages"]) or "")
    return {int(n): body for n, body in zip(parts[1::2], parts[2::2], strict=True)}


def number_of(request: dict[str, Any], fact: str) -> int:
    """The number of the first passage that states `fact` (the test fails if none was provided)."""
    return next(n for n, body in passages_in(request).items() if fact in body)


def model(write: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], str]:
    """A responder that also rewrites follow-ups, the way a chat model would."""

    def respond(request: dict[str, Any]) -> str:
        if fenced_passages(request["messages"]) is None:
            return "How does the rent subsidy for startups in incubators work in the 3rd year?"
        return write(request)

    return respond


def cited_numbers(answer: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d+)\]", answer.split("\n\n")[0])]


async def test_llm_answers_from_the_passages_and_its_citations_map_to_the_sources(searcher, server):
    server.reply_with(model(lambda r: f"Each company can use up to RMB 186,400 a year [{number_of(r, '186,400')}]."))
    answer = await assistant(searcher, server).answer(VOUCHER_CAP)

    assert answer.mode == "llm" and answer.answered and answer.language == "en"
    assert answer.answer.startswith("Each company can use up to RMB 186,400 a year [1].")
    assert [s.path for s in answer.sources] == [VOUCHERS]
    assert f"\n\n[1] {answer.sources[0].title}" in answer.answer  # what [1] is, with its clause and date
    [request] = server.chat_requests
    # Nobody watches this answer being written (no draft callback): one whole reply, not a token stream.
    assert request.body["model"] == "gpt-4.1-mini" and not request.body.get("stream")
    assert asked_question(request.body["messages"]) == VOUCHER_CAP
    assert "186,400" not in request.body["messages"][0]["content"], "passages are data, outside the system role"
    assert "Write the answer in English" in request.prompt and "186,400" in request.prompt


async def test_citations_are_renumbered_by_source_in_order_of_use(searcher, server):
    def write(request: dict[str, Any]) -> str:
        other = max(passages_in(request))  # the weakest passage, cited first
        return f"Vouchers are for services [{other}]. The cap is RMB 186,400 a year [{number_of(request, '186,400')}]."

    server.reply_with(model(write))
    answer = await assistant(searcher, server).answer(VOUCHER_CAP)

    numbers = cited_numbers(answer.answer)
    assert numbers[0] == 1 and set(numbers) == set(range(1, len(answer.sources) + 1))
    fact = int(re.search(r"186,400 a year \[(\d)\]", answer.answer).group(1))  # type: ignore[union-attr]
    assert answer.sources[fact - 1].path == VOUCHERS


async def test_a_figure_is_checked_against_the_passage_that_cites_it_not_the_first_of_its_document(searcher, server):
    def write(request: dict[str, Any]) -> str:
        fact = number_of(request, "186,400")
        passages = passages_in(request)
        title = passages[fact].split("\n", 1)[0]  # "Innovation Vouchers ... › 3. How much the voucher pays"
        sibling = next(n for n, body in passages.items() if n != fact and body.startswith(title.split(" › ")[0]))
        return f"Vouchers have rounds and steps [{sibling}]. The cap is RMB 186,400 a year [{fact}]."

    server.reply_with(model(write))
    answer = await assistant(searcher, server).answer(VOUCHER_CAP)

    assert "The cap is RMB 186,400 a year [1]." in answer.answer
    assert answer.sources[0].path == VOUCHERS


async def test_a_citation_of_a_passage_that_was_not_provided_is_dropped(searcher, server):
    def write(request: dict[str, Any]) -> str:
        assert 9 not in passages_in(request) and 12 not in passages_in(request)
        n = number_of(request, "186,400")
        return f"Up to RMB 186,400 a year [{n}] [9]. Only services from listed providers count [{n}, 12]."

    server.reply_with(model(write))
    answer = await assistant(searcher, server).answer(VOUCHER_CAP)

    body = answer.answer.split("\n\n")[0]
    assert body == "Up to RMB 186,400 a year [1]. Only services from listed providers count [1]."
    assert [s.path for s in answer.sources] == [VOUCHERS]


async def test_the_model_saying_it_does_not_know_is_a_plain_refusal(searcher, server):
    server.reply_with(model(lambda _request: "NOT_FOUND"))
    drafts: list[str] = []

    async def on_draft(draft: str) -> None:
        drafts.append(draft)

    answer = await assistant(searcher, server).answer(VOUCHER_CAP, on_draft=on_draft)

    assert not answer.answered and answer.sources == [] and answer.mode == "llm"
    assert answer.answer == text("en", "not_found")
    assert drafts == []  # not even "NOT_" while it was being written
    [request] = server.chat_requests
    assert request.body["stream"] is True


async def test_drafts_reach_the_callback_in_order_and_never_show_a_bad_citation(searcher, server):
    def write(request: dict[str, Any]) -> str:
        n = number_of(request, "186,400")
        return f"Each company can use up to RMB 186,400 a year [{n}][9], for services from the listed providers."

    server.reply_with(model(write))
    drafts: list[str] = []

    async def on_draft(draft: str) -> None:
        drafts.append(draft)

    answer = await assistant(searcher, server).answer(VOUCHER_CAP, on_draft=on_draft)

    assert len(drafts) > 10
    assert all(later.startswith(earlier) and later != earlier for earlier, later in pairwise(drafts))
    assert answer.answer.startswith(drafts[-1] + "\n\n[1] ")
    assert not any("[9" in draft or draft.endswith("[") for draft in drafts)


async def test_a_chinese_question_is_answered_in_chinese_with_the_date_of_its_source(searcher, server):
    server.reply_with(model(lambda r: f"博士每月可领取3,400元租房补贴[{number_of(r, '3,400')}]。"))
    answer = await assistant(searcher, server).answer("博士的租房补贴每个月多少钱？")

    assert answer.mode == "llm" and answer.language == "zh"
    assert answer.answer.startswith("博士每月可领取3,400元租房补贴[1]。")
    assert answer.sources[0].path == "policies/youth-housing-support.zh.md"
    assert "日期" in answer.answer and answer.sources[0].date  # "as of", in the question's language
    assert "Write the answer in Simplified Chinese" in server.chat_requests[0].prompt


async def test_a_follow_up_is_rewritten_then_answered_from_the_right_policy(searcher, server):
    server.reply_with(model(lambda r: f"In the 3rd year the subsidy is 38% of the rent [{number_of(r, '38%')}]."))
    history = ["how does the rent subsidy work for startups in incubators?"]
    answer = await assistant(searcher, server).answer("and in the 3rd year?", history)

    rewrite, final = server.chat_requests
    assert history[0] in rewrite.prompt and not rewrite.body.get("stream")
    assert asked_question(final.body["messages"]) == "and in the 3rd year?"
    assert answer.mode == "llm" and "38%" in answer.answer
    assert answer.sources[0].path == "policies/incubator-rent-support.md"


def _fail_500(server: FakeOpenAI) -> None:
    server.fail(500)


def _rate_limit(server: FakeOpenAI) -> None:
    server.fail(429, retry_after=0.1)


def _slow(server: FakeOpenAI) -> None:
    server.slow(10)


def _malformed(server: FakeOpenAI) -> None:
    server.malformed()


def _drop_mid_stream(server: FakeOpenAI) -> None:
    server.drop(after_chunks=3)


@pytest.mark.parametrize("failure", [_fail_500, _rate_limit, _slow, _malformed, _drop_mid_stream])
async def test_a_failing_llm_falls_back_to_the_extractive_answer(searcher, server, caplog, failure):
    server.reply_with(model(lambda r: f"Up to RMB 186,400 a year [{number_of(r, '186,400')}]."))
    failure(server)
    answer = await assistant(searcher, server, openai_timeout=0.3).answer(VOUCHER_CAP)

    assert answer.mode == "extractive" and answer.answered
    assert "186,400" in answer.answer and answer.sources[0].path == VOUCHERS
    assert server.chat_requests and "llm failed" in caplog.text


async def test_a_wrong_key_falls_back_and_never_reaches_the_logs(searcher, server, caplog):
    caplog.set_level(logging.DEBUG)  # the openai and HTTP client logs too
    wrong = "sk-wrong-key-for-this-server-0123456789"
    fallback = await assistant(searcher, server, openai_api_key=wrong).answer(VOUCHER_CAP)
    server.reply_with(model(lambda r: f"Up to RMB 186,400 a year [{number_of(r, '186,400')}]."))
    answered = await assistant(searcher, server).answer(VOUCHER_CAP)
    server.fail(500)
    failed = await assistant(searcher, server).answer(VOUCHER_CAP)

    assert (fallback.mode, answered.mode, failed.mode) == ("extractive", "llm", "extractive")
    assert "401" in caplog.text and "chat/completions" in caplog.text  # the logs were there to leak into
    assert wrong not in caplog.text and API_KEY not in caplog.text


async def test_a_slow_llm_is_not_waited_for_twice_on_a_follow_up(searcher, server):
    server.slow(10)
    history = ["how does the rent subsidy work for startups in incubators?"]
    answer = await assistant(searcher, server, openai_timeout=0.3).answer("and in the 3rd year?", history)

    assert answer.mode == "extractive" and "38%" in answer.answer
    assert all(fenced_passages(r.body["messages"]) is None for r in server.chat_requests)  # gave up after the rewrite


async def test_a_question_the_knowledge_base_cannot_answer_is_refused_without_calling_the_llm(searcher, server):
    answer = await assistant(searcher, server).answer("陆家嘴附近哪家小笼包好吃？")

    assert not answer.answered and answer.sources == [] and answer.mode == "llm"
    assert "服务中心" in answer.answer
    assert server.requests == []


async def test_a_base_url_alone_enables_the_llm(searcher):
    with FakeOpenAI(api_key=None, responder=model(lambda r: f"RMB 186,400 [{number_of(r, '186,400')}].")) as keyless:
        answer = await assistant(searcher, keyless, openai_api_key=None).answer(VOUCHER_CAP)
    assert answer.mode == "llm" and answer.sources[0].path == VOUCHERS


async def test_llm_that_trickles_tokens_is_cut_off_and_the_quotes_answer(searcher, server):
    server.reply_with(lambda _: " ".join(["The voucher cap is RMB 186,400 [1]."] * 40))
    server.chunk_delay = 0.1  # each read is quick, the whole answer would take seconds
    chat = make_chat_model(make_settings(Path("unused"), openai_api_key=API_KEY, openai_base_url=server.base_url))
    slow = Assistant(searcher, chat, config=AnswerConfig(llm_seconds=1.0))
    drafts: list[str] = []

    async def on_draft(draft: str) -> None:  # a channel watching it being written, so it streams
        drafts.append(draft)

    started = time.monotonic()
    answer = await slow.answer(VOUCHER_CAP, on_draft=on_draft)
    assert time.monotonic() - started < 5 and drafts
    assert answer.mode == "extractive" and "186,400" in answer.answer


async def test_a_can_we_join_naming_no_scheme_gets_the_rules_verdict_not_the_model(sample_assistant, server):
    chat = make_chat_model(
        make_settings(Path("unused"), openai_api_key=API_KEY, openai_base_url=server.base_url, openai_timeout=5.0)
    )
    llm_assistant = Assistant(sample_assistant.searcher, chat, advisor=sample_assistant.advisor)
    answer = await llm_assistant.answer("we are 3 years old with 40 staff, can we join?")
    assert answer.answer.startswith("I can't tell yet") and "GOI SME membership" in answer.answer
    assert server.requests == []  # the rules decide; the model never read the FAQ on a nine-year-old firm
