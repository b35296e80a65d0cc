"""The channel-free core: a question and its conversation in, an answer with sources out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from langchain_core.language_models import BaseChatModel

from bot.core import llm
from bot.core.curated import CuratedAnswers, CuratedError, CuratedSupply, LiveCurated, best_answer
from bot.core.eligibility import EligibilityAdvisor, conditions_first, is_eligibility_question
from bot.core.evidence import Gate, evidence, fitted_gate
from bot.core.extractive import compose
from bot.core.grounding import ground
from bot.core.models import Answer
from bot.core.passages import OnDraft, merged, redacted_drafts, said, sources_of, with_warnings
from bot.core.texts import text
from bot.core.turns import MAX_QUESTION_CHARS, bounded, points_back, refers_back, topic_of
from knowledge.language import Language, detect_language
from knowledge.programme import Programme, ProgrammeError
from knowledge.retrieve import HybridSearcher, IndexMissing, Passage
from knowledge.store import StoreUnavailable

log = logging.getLogger(__name__)

StaffFiles = tuple[EligibilityAdvisor | None, CuratedAnswers | None, Programme]


class Observer(Protocol):
    """Told about every answer and every failed LLM call (bot/ops/metrics.py counts them)."""

    def answered(self, answer: Answer, seconds: float) -> None: ...

    def llm_failed(self, kind: str) -> None: ...

    def claims_dropped(self, reason: str, count: int) -> None: ...


def unavailable_key(error: IndexMissing | StoreUnavailable) -> str:
    """The sentence for a knowledge base that cannot be searched: not built yet, or its store out of reach."""
    return "index_missing" if isinstance(error, IndexMissing) else "store_down"


@dataclass(frozen=True)
class AnswerConfig:
    """How answers are made: the evidence they need (fitted by bench/fit.py), how many passages and sources."""

    gate: Gate = field(default_factory=fitted_gate)
    passages: int = 6
    sources: int = 3
    topic_sources: int = 4
    llm_seconds: float = 30.0  # the whole LLM answer, streaming included; then the quotes instead
    cross_language: bool = False  # LLM mode: search with the question translated too (LLM_CROSS_LANGUAGE)


class Assistant:
    """Answers questions from the knowledge base, with an LLM when one is configured."""

    def __init__(
        self,
        searcher: HybridSearcher,
        chat: BaseChatModel | None = None,
        config: AnswerConfig | None = None,
        advisor: EligibilityAdvisor | None = None,
        curated: CuratedAnswers | None = None,
        observer: Observer | None = None,
        reload_staff_files: Callable[[], StaffFiles] | None = None,
        programme: Programme | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.searcher = searcher
        self.redact = redact
        self.chat = chat
        self.config = config or AnswerConfig()
        self._advisor = advisor
        self._curated = curated
        self.observer = observer
        self._reload_staff_files = reload_staff_files
        self._programme = programme
        self._generation: str | None = None
        self.saved: LiveCurated | None = None

    def use_saved(self, supply: CuratedSupply) -> None:
        """Also answer from curated entries kept outside the knowledge folder (the bot's database), followed as they
        change."""
        self.saved = LiveCurated(supply, self.searcher.embeddings)

    @property
    def advisor(self) -> EligibilityAdvisor | None:
        """The eligibility rules of the knowledge base being searched."""
        self._follow_index()
        return self._advisor

    @property
    def curated(self) -> CuratedAnswers | None:
        """Staff's curated answers for the knowledge base being searched."""
        self._follow_index()
        return self._curated

    @property
    def programme(self) -> Programme | None:
        """The programme.yaml of the knowledge base being searched (None: not built from a knowledge folder)."""
        self._follow_index()
        return self._programme

    def _follow_index(self) -> None:
        """Staff edit rules and curated answers with the documents: reread them when a new index is published."""
        if self._reload_staff_files is None:
            return
        try:
            generation = self.searcher.info.generation
        except (IndexMissing, StoreUnavailable):
            return  # keep what we have; the searcher reports the problem when asked
        if generation == self._generation:
            return
        self._generation = generation
        try:
            self._advisor, self._curated, self._programme = self._reload_staff_files()
        except (CuratedError, ProgrammeError) as exc:  # a running bot keeps its answers rather than stop answering
            log.error("curated answers and programme not reloaded, the previous ones stay: %s", exc)
            return
        log.info("rules and curated answers reloaded generation=%s", generation)

    def retrieve(self, question: str, history: list[str]) -> list[Passage]:
        """Passages for the question; a follow-up that finds less than the previous turn is about that turn's topic."""
        k = self.config.passages
        passages = self._search(question, k)
        if not history:
            return passages
        if not refers_back(question):
            return passages
        topic_turns = topic_of(history)
        earlier = self.searcher.search(topic_turns, k=k)
        if not earlier or (passages and passages[0].score >= earlier[0].score):
            return passages  # it stands on its own: a new topic
        # "How much is it?" after "which microscope…": search both turns, but only among what the
        # previous turn found, so the follow-up's own words cannot drag in an unrelated row.
        topic = {p.source_key for p in earlier[: self.config.topic_sources]}
        together = self.searcher.search(f"{topic_turns}\n{question}", k=k * 4)
        return [p for p in together if p.source_key in topic][:k] or earlier

    def _search(self, question: str, k: int) -> list[Passage]:
        if not is_eligibility_question(question):
            return self.searcher.search(question, k=k)
        # A wider net: the conditions section of the best document may rank below other clauses of it.
        return conditions_first(self.searcher.search(question, k=k * 2))[:k]

    def _refusal(self, question: str, language: Language, key: str, mode: str) -> Answer:
        return Answer(
            question=question,
            answer=text(language, key, self.programme),
            answered=False,
            language=language,
            mode=mode,  # type: ignore[arg-type]
        )

    def answer_extractive(self, question: str, history: list[str] | None = None) -> Answer:
        """Answer without an LLM: the best passages quoted, or an honest "I don't know"."""
        question, history = bounded(question, history or [])
        language = detect_language(question)
        if advice := self._advice(question, language):
            return advice
        if pinned := self._pinned(question, history or [], language):
            return pinned
        try:
            passages = self.retrieve(question, history or [])
        except (IndexMissing, StoreUnavailable) as exc:
            log.warning("cannot search: %s", unavailable_key(exc), exc_info=isinstance(exc, StoreUnavailable))
            return self._refusal(question, language, unavailable_key(exc), "extractive")
        return self._extractive(question, language, passages)

    def _advice(self, question: str, language: Language) -> Answer | None:
        """The rule files' verdict when the question asks about a scheme and gives the facts to decide."""
        return self.advisor.advise(question, language) if self.advisor is not None else None

    def _pinned(self, question: str, history: list[str], language: Language) -> Answer | None:
        """Staff's curated answer (from the files or the database) when the question matches one and does not lean
        on the previous turn."""
        if history and points_back(question):
            return None
        saved = self.saved.current(self.programme) if self.saved is not None else None
        return best_answer([pool for pool in (self.curated, saved) if pool is not None], question, language)

    def _extractive(self, question: str, language: Language, passages: list[Passage]) -> Answer:
        found = evidence(language, passages, self.searcher.unknown_versions(question))
        if not self.config.gate.shows(found):
            return self._refusal(question, language, "not_found", "extractive")
        sources = sources_of(passages, self.config.sources)
        quoted = compose(question, language, passages, self.searcher.section, self.searcher.document)
        body = with_warnings(quoted, sources, language, self.programme or Programme())
        confident = self.config.gate.sure(found)
        if not confident:
            body = f"{text(language, 'unsure')}\n\n{body}"
        return Answer(
            question=question, answer=body, answered=confident, language=language, mode="extractive", sources=sources
        )

    async def answer(self, question: str, history: list[str] | None = None, on_draft: OnDraft | None = None) -> Answer:
        """Answer one question; with an LLM, drafts go to `on_draft` as it writes (without one the reply comes whole),
        and quotes replace it on failure."""
        started = time.monotonic()
        question, history = bounded(question, history or [])
        if on_draft is not None:
            on_draft = redacted_drafts(on_draft, self.redact)
        answer = await self._answer(question, history, on_draft)
        # A last line of defence: a document or a model that repeats a configured secret must not publish it.
        answer = said(answer, self.redact)
        if self.observer is not None:
            self.observer.answered(answer, time.monotonic() - started)
        return answer

    def _llm_failed(self, error: Exception) -> None:
        if self.observer is not None:
            self.observer.llm_failed(llm.failure_kind(error))

    async def _answer(self, question: str, history: list[str], on_draft: OnDraft | None) -> Answer:
        if self.chat is None:
            return await asyncio.to_thread(self.answer_extractive, question, history)
        language = detect_language(question)
        if advice := self._advice(question, language):
            return advice
        if pinned := await asyncio.to_thread(self._pinned, question, history, language):
            return pinned
        try:
            standalone = await self._standalone(question, history)
            translated = await self._translated(standalone, language)
        except Exception as error:
            # The LLM is down: the user should not wait for it a second time before getting the quotes.
            log.warning("llm rewrite failed, answering extractively", exc_info=True)
            self._llm_failed(error)
            return await asyncio.to_thread(self.answer_extractive, question, history)
        try:
            passages = await asyncio.to_thread(self._retrieve_both, standalone, translated)
        except (IndexMissing, StoreUnavailable):
            return await asyncio.to_thread(self.answer_extractive, question, history)
        try:
            # A server that trickles tokens never trips the client's per-read timeout: bound the whole answer.
            async with asyncio.timeout(self.config.llm_seconds):
                return await self._llm_answer(question, language, passages, on_draft)
        except Exception as error:
            log.warning("llm failed, answering extractively", exc_info=True)
            self._llm_failed(error)
            return self._extractive(question, language, passages)

    async def _standalone(self, question: str, history: list[str]) -> str:
        """The question rewritten by the LLM to stand on its own, when it follows earlier turns."""
        if not history or self.chat is None:
            return question
        reply = await self.chat.ainvoke(llm.rewrite_messages(question, history))
        rewritten = str(reply.content).strip()
        return rewritten if 0 < len(rewritten) < 500 else question

    async def _translated(self, question: str, language: Language) -> str | None:
        """The question in the knowledge base's other language, for a second search (None when not asked for)."""
        if not self.config.cross_language or self.chat is None:
            return None
        other: Language = "zh" if language == "en" else "en"
        reply = await self.chat.ainvoke(llm.translate_messages(question, other))
        translated = str(reply.content).strip()[:MAX_QUESTION_CHARS]
        return translated if translated and translated != question else None

    def _retrieve_both(self, question: str, translated: str | None) -> list[Passage]:
        """Passages for the question and, when there is one, for its translation: a term written only in the other
        language's documents (an instrument's or scheme's name) is matched by its own words."""
        passages = self.retrieve(question, [])
        if translated is None:
            return passages
        return merged(passages, self.retrieve(translated, []), self.config.passages)

    @staticmethod
    async def _streamed(pieces: AsyncIterator[str], passages: list[Passage], on_draft: OnDraft) -> str:
        reply = shown = ""
        async for piece in pieces:
            reply += piece
            draft = llm.draft(reply, passages)
            # Only changes: a channel that edits a message in place is refused an edit that changes nothing.
            if draft and draft != shown:
                shown = draft
                await on_draft(draft)
        return reply

    async def _llm_answer(
        self, question: str, language: Language, passages: list[Passage], on_draft: OnDraft | None
    ) -> Answer:
        if not passages or passages[0].score < self.config.gate.min_score or self.chat is None:
            return self._refusal(question, language, "not_found", "llm")
        messages = llm.answer_messages(question, language, passages, self.programme)
        if on_draft is None:
            reply = await llm.whole_reply(self.chat, messages)
        else:
            reply = await self._streamed(llm.stream_reply(self.chat, messages), passages, on_draft)
        if not reply.strip():
            raise ValueError("the LLM returned an empty reply")
        if llm.NOT_FOUND in reply:
            return self._refusal(question, language, "not_found", "llm")
        # Each sentence against the very passages it cites: numbered by source, two passages of one document would
        # read as its first, and a figure of the second would look unsupported.
        grounded = ground(reply, passages, question)
        if self.observer is not None:
            self.observer.claims_dropped("uncited", grounded.uncited)
            self.observer.claims_dropped("unsupported_figure", grounded.unsupported)
        if not grounded.text:
            log.warning("llm reply had no sentence its passages support, answering extractively")
            self._llm_failed(llm.UnsupportedReply())
            return self._extractive(question, language, passages)
        body, cited = llm.resolve_citations(grounded.text, passages)
        # Every cited source is returned, however many: [n] must always find its source.
        sources = sources_of(cited, len(cited))
        return Answer(
            question=question,
            answer=with_warnings(
                f"{body}\n\n{llm.footer(cited, language)}", sources, language, self.programme or Programme()
            ),
            answered=True,
            language=language,
            mode="llm",
            sources=sources,
        )
