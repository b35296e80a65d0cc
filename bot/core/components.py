"""Wiring: settings in, a ready assistant out. The only place that picks providers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.assistant import AnswerConfig, Assistant, StaffFiles
from bot.core.curated import CuratedAnswers, CuratedError
from bot.core.eligibility import EligibilityAdvisor
from bot.core.llm import make_chat_model
from knowledge.embeddings import make_embeddings
from knowledge.logs import Redactor, secret_settings
from knowledge.programme import ProgrammeError, load_programme
from knowledge.retrieve import HybridSearcher
from knowledge.settings import Settings
from knowledge.store import KnowledgeStore, StoreUnavailable, make_store

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)


def indexed_sources(store: KnowledgeStore, configured: list[Path]) -> list[Path]:
    """The folders the published index was built from when this machine has them, else the configured ones:
    rules and curated answers must match the index the bot answers from."""
    try:
        info = store.current()
    except StoreUnavailable:
        return configured
    folders = [Path(source) for source in info.sources] if info else []
    if not folders or not all(folder.is_dir() for folder in folders):
        return configured
    if folders != [folder.resolve() for folder in configured]:
        log.info("rules and curated answers from the indexed folders %s", ", ".join(map(str, folders)))
    return folders


def _staff_files(settings: Settings, store: KnowledgeStore, embeddings: Embeddings) -> Callable[[], StaffFiles]:
    """Reads the rules, curated answers and programme of the folders the store's generation was built from."""

    def staff_files() -> StaffFiles:
        sources = indexed_sources(store, settings.knowledge_sources)
        folders = settings.model_copy(update={"knowledge_sources": sources})
        programme = load_programme(sources)
        advisor = EligibilityAdvisor.from_sources(sources, programme)
        return advisor, CuratedAnswers.from_files(folders.curated_files, embeddings, programme), programme

    return staff_files


def _startup_staff_files(staff_files: Callable[[], StaffFiles]) -> StaffFiles | tuple[None, None, None]:
    """The staff files to start with; none while one is broken (a curated.yaml typo must not stop the bot from
    starting): the error is logged, ingest lists the file, and the next published generation reads them again."""
    try:
        return staff_files()
    except (CuratedError, ProgrammeError) as exc:
        log.error("starting without rules, curated answers and programme until the file is fixed: %s", exc)
        return None, None, None


def build_assistant(settings: Settings, embeddings: Embeddings | None = None) -> Assistant:
    """The assistant over the configured store, embeddings (unless a caller already loaded the model) and chat."""
    embeddings = embeddings or make_embeddings(settings)
    store = make_store(settings)
    staff_files = _staff_files(settings, store, embeddings)
    advisor, curated, programme = _startup_staff_files(staff_files)
    return Assistant(
        HybridSearcher(store, embeddings),
        make_chat_model(settings),
        config=AnswerConfig(llm_seconds=settings.openai_timeout * 1.5, cross_language=settings.llm_cross_language),
        advisor=advisor,
        curated=curated,
        reload_staff_files=staff_files,
        programme=programme,
        redact=Redactor(list(secret_settings(settings).values())),
    )


def checking_assistant(settings: Settings, searcher: HybridSearcher) -> Assistant:
    """Extractive answers (never an LLM: checks must not depend on a remote model) from whichever generation the
    searcher's store points at: ingest's golden questions try a generation before it is published."""
    staff_files = _staff_files(settings, searcher.store, searcher.embeddings)
    advisor, curated, programme = _startup_staff_files(staff_files)
    return Assistant(
        searcher,
        advisor=advisor,
        curated=curated,
        reload_staff_files=staff_files,
        programme=programme,
    )
