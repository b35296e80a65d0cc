"""Curated answers: staff pin answers to common questions, served before the knowledge base is searched.

The file format is described at the top of knowledge/sample/curated.yaml. Which files are read: see
`Settings.curated_files`. A question matches an entry when its score against one of the entry's question
variants reaches `MATCH_SCORE`; the score is the mean of the embeddings' cosine similarity and the Dice overlap
of content words (knowledge.lexical.tokenize). Both must agree: on the sample, the paraphrases in tests/test_event.py
score 0.75-0.90, while other questions about joining GOI (its cost, documents, conditions, a company too old to
join) score 0.40-0.71.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
import yaml
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.core.models import Answer, Source
from bot.core.texts import text
from knowledge.language import Language
from knowledge.lexical import tokenize
from knowledge.programme import Programme, load_programme
from knowledge.reading import read_utf8
from knowledge.safe_yaml import load_yaml, yaml_mistake

log = logging.getLogger(__name__)

MATCH_SCORE = 0.72


class CuratedError(ValueError):
    """A curated answers file that cannot be used, with the file and entry at fault."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)


class CuratedSource(_Strict):
    """A document a curated answer is based on."""

    title: str = Field(min_length=1)
    path: str = Field(min_length=1, description="Relative to the knowledge folder.")
    section: str | None = None
    row: int | None = Field(None, ge=1)
    url: str | None = None


class Variants(_Strict):
    """The ways people ask the question, per language."""

    en: list[str] = Field(default_factory=list)
    zh: list[str] = Field(default_factory=list)


class Texts(_Strict):
    """The answer in both languages."""

    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)

    def of(self, language: Language) -> str:
        """The answer in `language`, else in the language it was written in."""
        return getattr(self, language) or self.en or self.zh


class StaffTexts(Texts):
    """A staff member's answer, in the language they wrote it in (served in either)."""

    en: str | None = Field(None, min_length=1)  # type: ignore[assignment]
    zh: str | None = Field(None, min_length=1)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _has_text(self) -> StaffTexts:
        if not (self.en or self.zh):
            raise ValueError("give the answer in en or zh")
        return self


class CuratedEntry(_Strict):
    """One pinned answer."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    questions: Variants
    answer: Texts
    sources: list[CuratedSource] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_questions(self) -> CuratedEntry:
        if not any(q.strip() for q in self.variants):
            raise ValueError("questions: give at least one question (en or zh)")
        return self

    @property
    def variants(self) -> list[str]:
        """Every question variant, English first."""
        return [*self.questions.en, *self.questions.zh]


class SavedEntry(CuratedEntry):
    """An answer staff saved from the chat or imported from a spreadsheet: it stands on its staff member's word, so
    it may name no document and may be written in one language only."""

    answer: StaffTexts  # type: ignore[assignment]
    sources: list[CuratedSource] = Field(default_factory=list)
    saved_by: str = Field(min_length=1)
    saved_at: str = Field(min_length=1, description="ISO 8601 UTC.")


def _entry(path: Path, index: int, raw: object) -> CuratedEntry:
    name = f"{path}: entry {index}" + (f" ({raw['id']})" if isinstance(raw, dict) and raw.get("id") else "")
    model = SavedEntry if isinstance(raw, dict) and "saved_by" in raw else CuratedEntry
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
        raise CuratedError(f"{name}: {problems}") from None


def load_entries(paths: Iterable[Path]) -> list[CuratedEntry]:
    """The entries of every file, validated; CuratedError names the file and entry of the first mistake."""
    entries: dict[str, CuratedEntry] = {}
    for path in paths:
        try:
            raw = load_yaml(read_utf8(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise CuratedError(f"{path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise CuratedError(f"{path}: {yaml_mistake(exc)}") from None
        if not isinstance(raw, list):
            raise CuratedError(f"{path}: expected a list of entries (- id: ...), got {type(raw).__name__}")
        for index, item in enumerate(raw, 1):
            entry = _entry(path, index, item)
            if entry.id in entries:
                raise CuratedError(f"{path}: entry {index}: id {entry.id!r} is used twice")
            entries[entry.id] = entry
    return list(entries.values())


def curated_problem(path: Path) -> str | None:
    """Ingest's check: what is wrong with a curated.yaml (its line, or its entry and key), None when it loads."""
    try:
        load_entries([path])
    except CuratedError as exc:
        return str(exc).removeprefix(f"{path}: ")
    return None


@dataclass(frozen=True)
class CuratedMatch:
    """The entry a question matched, and how closely."""

    entry: CuratedEntry
    score: float


def _dice(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 0.0


class CuratedAnswers:
    """Finds the curated entry a question paraphrases, if any."""

    def __init__(
        self,
        entries: list[CuratedEntry],
        embeddings: Embeddings,
        threshold: float = MATCH_SCORE,
        programme: Programme | None = None,
    ) -> None:
        self.entries = entries
        self.programme = programme  # names the team the answers come from
        self.embeddings = embeddings
        self.threshold = threshold
        self._owners = [n for n, entry in enumerate(entries) for _ in entry.variants]
        self._texts = [variant for entry in entries for variant in entry.variants]
        self._tokens = [set(tokenize(variant)) for variant in self._texts]

    @classmethod
    def from_files(
        cls, paths: Iterable[Path], embeddings: Embeddings, programme: Programme | None = None
    ) -> CuratedAnswers:
        """Load and validate the files; the variants are embedded on first use. The programme.yaml beside them
        names the team that wrote them, unless `programme` is given."""
        paths = list(paths)
        entries = load_entries(paths)
        log.info("loaded %d curated answers", len(entries))
        programme = programme or load_programme([path.parent for path in paths])
        return cls(entries, embeddings, programme=programme)

    @cached_property
    def _vectors(self) -> np.ndarray:
        vectors = np.array(self.embeddings.embed_documents(self._texts), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def match(self, question: str) -> CuratedMatch | None:
        """The entry whose variant the question is closest to, when close enough."""
        words = set(tokenize(question))
        dice = np.array([_dice(words, tokens) for tokens in self._tokens])
        # The cosine is at most 1: variants whose word overlap cannot reach the threshold need no embedding.
        candidates = np.flatnonzero((1 + dice) / 2 >= self.threshold)
        if candidates.size == 0:
            return None
        query = np.array(self.embeddings.embed_query(question), dtype=np.float32)
        cosine = self._vectors[candidates] @ (query / np.linalg.norm(query))
        scores = (cosine + dice[candidates]) / 2
        best = int(scores.argmax())
        if scores[best] < self.threshold:
            return None
        return CuratedMatch(self.entries[self._owners[candidates[best]]], round(float(scores[best]), 4))

    def answer(self, question: str, language: Language) -> Answer | None:
        """The curated answer in `language`, marked as curated, when the question matches an entry."""
        found = self.match(question)
        return None if found is None else self.reply(found, question, language)

    def reply(self, found: CuratedMatch, question: str, language: Language) -> Answer:
        """The answer of a matched entry, in `language` when it has it, marked as curated."""
        entry = found.entry
        log.info("curated answer %s (score %.3f)", entry.id, found.score)
        return Answer(
            question=question,
            answer=f"{text(language, 'curated', self.programme)}\n\n{entry.answer.of(language)}",
            answered=True,
            language=language,
            mode="extractive",
            curated=True,
            sources=[Source(score=found.score, **source.model_dump()) for source in entry.sources],
        )


def best_answer(pools: Iterable[CuratedAnswers], question: str, language: Language) -> Answer | None:
    """The answer of the closest entry over several sets of curated answers (the files', the database's)."""
    found = [(match, pool) for pool in pools if (match := pool.match(question)) is not None]
    if not found:
        return None
    match, pool = max(found, key=lambda pair: pair[0].score)
    return pool.reply(match, question, language)


class CuratedSupply(Protocol):
    """Curated entries kept outside the knowledge folder (the bot's database), changed while the bot runs."""

    def version(self) -> int:
        """A number that changes whenever the entries do."""
        ...

    def entries(self) -> list[CuratedEntry]:
        """The entries as they are now."""
        ...


class LiveCurated:
    """Curated answers from a supply, rebuilt when its version changes: every replica reading the same supply serves
    a new entry from its next question on. Variants already embedded are not embedded again."""

    def __init__(self, supply: CuratedSupply, embeddings: Embeddings) -> None:
        self.supply = supply
        self.embeddings = _Remembered(embeddings)
        self._version: int | None = None
        self._pool: CuratedAnswers | None = None

    def current(self, programme: Programme | None) -> CuratedAnswers | None:
        """The supply's answers now (one version check per call), None when it has none."""
        version = self.supply.version()
        if version != self._version:
            entries = self.supply.entries()
            self._pool = CuratedAnswers(entries, self.embeddings) if entries else None
            self._version = version
            log.info("saved answers reloaded: %d entries, version %d", len(entries), version)
        if self._pool is not None:
            self._pool.programme = programme
        return self._pool


class _Remembered(Embeddings):
    """Embeddings that keep the vectors of the last texts they embedded: a rebuilt set of answers embeds only its new
    variants."""

    def __init__(self, embeddings: Embeddings) -> None:
        self.inner = embeddings
        self.vectors: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors for `texts`, embedding only those not seen before."""
        new = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        known = self.vectors | dict(zip(new, self.inner.embed_documents(new) if new else [], strict=True))
        self.vectors = {t: known[t] for t in texts}  # a removed entry's variants are dropped
        return [known[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """The query's vector (not kept: questions do not repeat enough)."""
        return self.inner.embed_query(text)
