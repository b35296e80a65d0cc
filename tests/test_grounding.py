"""An LLM answer says only what the passages it cites say: citations must point at retrieved passages, and every
figure must be written in a passage the sentence cites. What is left unbacked falls back to the quotes."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from bot.core.assistant import Assistant
from bot.core.grounding import figures
from bot.ops.metrics import Metrics
from knowledge.retrieve import HybridSearcher
from tests.fakes.openai import FakeOpenAI
from tests.test_llm import VOUCHER_CAP, VOUCHERS, assistant, model, number_of


def _metered(searcher: HybridSearcher, server: FakeOpenAI, tmp_path: Any) -> tuple[Assistant, Metrics]:
    bot = assistant(searcher, server)
    metrics = Metrics(CollectorRegistry(), "test", tmp_path)
    bot.observer = metrics
    return bot, metrics


def _count(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_claim_citing_a_passage_that_was_not_retrieved_is_not_an_answer(searcher, server, tmp_path):
    server.reply_with(model(lambda _request: "The subsidy is RMB 1 million [9]."))
    bot, metrics = _metered(searcher, server, tmp_path)
    answer = await bot.answer(VOUCHER_CAP)
    assert answer.mode == "extractive" and "1 million" not in answer.answer
    assert "186,400" in answer.answer and answer.sources[0].path == VOUCHERS, "the quotes answer instead"
    assert _count(metrics, "goi_llm_claims_dropped_total", reason="uncited") == 1
    assert _count(metrics, "goi_llm_errors_total", kind="unsupported") == 1


async def test_a_figure_its_cited_passage_does_not_hold_is_dropped(searcher, server, tmp_path):
    def write(request: dict[str, Any]) -> str:
        n = number_of(request, "186,400")
        return f"Each company can use up to RMB 186,400 a year [{n}]. PhDs also get RMB 1 million a month [{n}]."

    server.reply_with(model(write))
    bot, metrics = _metered(searcher, server, tmp_path)
    answer = await bot.answer(VOUCHER_CAP)
    assert answer.mode == "llm" and answer.answered
    assert answer.answer.startswith("Each company can use up to RMB 186,400 a year [1].")
    assert "1 million" not in answer.answer
    assert _count(metrics, "goi_llm_claims_dropped_total", reason="unsupported_figure") == 1


async def test_an_answer_of_only_unsupported_figures_falls_back_to_the_quotes(searcher, server):
    server.reply_with(model(lambda r: f"The subsidy is RMB 1 million [{number_of(r, '186,400')}]."))
    answer = await assistant(searcher, server).answer(VOUCHER_CAP)
    assert answer.mode == "extractive" and "186,400" in answer.answer and "1 million" not in answer.answer


@pytest.mark.parametrize(
    ("written", "quoted"),
    [
        ("RMB 1.64 million", "RMB 1,640,000"),
        ("164万元", "RMB 1.64 million"),
        ("42%", "42% of the cost"),
        ("15 December 2025", "on 15 December 2025"),
        ("RMB 2,5 thousand", "RMB 2,500"),
    ],
)
def test_a_figure_is_the_same_however_it_is_written(written: str, quoted: str) -> None:
    assert figures(written) <= figures(quoted)


@pytest.mark.parametrize(("written", "quoted"), [("RMB 1 million", "RMB 186,400"), ("24 months", "42 months")])
def test_a_different_figure_is_not_supported(written: str, quoted: str) -> None:
    assert not figures(written) <= figures(quoted)
