"""Wiring: settings in, a ready assistant out. The only place that picks providers."""

from __future__ import annotations

from bot.assistant import AnswerConfig, Assistant
from bot.curated import CuratedAnswers
from bot.eligibility import EligibilityAdvisor
from bot.llm import make_chat_model
from knowledge.embeddings import make_embeddings
from knowledge.retrieve import HybridSearcher
from knowledge.settings import Settings
from knowledge.store import make_store


def build_assistant(settings: Settings) -> Assistant:
    """The assistant over the configured store, embeddings and (optional) chat model."""
    embeddings = make_embeddings(settings)
    searcher = HybridSearcher(make_store(settings), embeddings)
    curated = CuratedAnswers.from_files(settings.curated_files, embeddings)
    advisor = EligibilityAdvisor.from_sources(settings.knowledge_sources)
    config = AnswerConfig(llm_seconds=settings.openai_timeout * 1.5)
    return Assistant(searcher, make_chat_model(settings), config=config, advisor=advisor, curated=curated)
