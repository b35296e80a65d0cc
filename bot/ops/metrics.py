"""Prometheus metrics of one bot process, kept in a registry the caller owns (no global state)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.core.llm import FAILURE_KINDS
from bot.core.models import Answer
from knowledge.ingest_runs import count_runs

CONTENT_TYPE = CONTENT_TYPE_LATEST
# An extractive answer takes a fraction of a second, an LLM one several; the LLM deadline is 30 s by default.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


class _IngestRuns(Collector):
    """Ingest runs read from DATA_DIR's ledger at each scrape: they happen in other processes (`ingest.py`)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("goi_ingest_runs", "Ingest runs on this DATA_DIR, by outcome.", labels=["outcome"])
        for outcome, count in sorted(count_runs(self.data_dir).items()):
            family.add_metric([outcome], count)
        yield family


class Metrics:
    """What one process serving `channel` (telegram, http) counts; also the assistant's observer."""

    def __init__(self, registry: CollectorRegistry, channel: str, data_dir: Path) -> None:
        self.registry = registry
        self.channel = channel
        self.questions = Counter(
            "goi_questions",
            "Questions answered, by channel, language and whether the knowledge base had the answer.",
            ["channel", "language", "answered"],
            registry=registry,
        )
        self.latency = Histogram(
            "goi_answer_seconds", "Time to answer a question.", ["channel"], buckets=LATENCY_BUCKETS, registry=registry
        )
        self.llm_errors = Counter(
            "goi_llm_errors",
            "LLM calls that failed (the answer fell back to quotes), by kind.",
            ["kind"],
            registry=registry,
        )
        self.claims = Counter(
            "goi_llm_claims_dropped",
            "Sentences of LLM answers dropped: citing no retrieved passage, or a figure its passages do not hold.",
            ["reason"],
            registry=registry,
        )
        self.telegram_429 = Counter(
            "goi_telegram_429",
            "Telegram 'Too Many Requests' replies (each one retried after its wait).",
            registry=registry,
        )
        registry.register(_IngestRuns(data_dir))
        # Zero series exist from the start, so rate() and the answered share work before the first event.
        for language in ("en", "zh"):
            for answered in ("true", "false"):
                self.questions.labels(channel, language, answered)
        self.latency.labels(channel)
        for kind in FAILURE_KINDS:
            self.llm_errors.labels(kind)
        for reason in ("uncited", "unsupported_figure"):
            self.claims.labels(reason)

    def answered(self, answer: Answer, seconds: float) -> None:
        """Count one answered question and its latency."""
        self.questions.labels(self.channel, answer.language, str(answer.answered).lower()).inc()
        self.latency.labels(self.channel).observe(seconds)

    def llm_failed(self, kind: str) -> None:
        """Count one failed LLM call."""
        self.llm_errors.labels(kind).inc()

    def claims_dropped(self, reason: str, count: int) -> None:
        """Count sentences dropped from an LLM answer."""
        self.claims.labels(reason).inc(count)

    def rate_limited(self) -> None:
        """Count one 429 from the Telegram Bot API."""
        self.telegram_429.inc()

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)
