"""Hybrid retrieval: dense search in Chroma fused with BM25, over the published generation.

The searcher follows the store's pointer: when an ingest publishes a new generation it loads
that generation's passages, builds the BM25 index from exactly those, and swaps both in at once,
so the lexical and dense sides never disagree.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict

from knowledge.embeddings import model_id
from knowledge.fitted import fitted
from knowledge.glossary import equivalent_words
from knowledge.lexical import identifiers, searchable, tokenize, versions
from knowledge.snapshot import Snapshot, load_snapshot
from knowledge.store import IndexInfo, KnowledgeStore, StoreUnavailable

log = logging.getLogger(__name__)


class IndexMissing(RuntimeError):
    """No index has been published yet, or it was built by another embedding model."""


class Passage(BaseModel):
    """A retrieved chunk with where it came from and how well it matched."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    source: str
    row: int | None = None
    sheet: str | None = None
    title: str = ""
    section: str | None = None
    chunk: int = 0
    kind: str = "policy"
    language: str = "en"
    effective: str | None = None
    expires: str | None = None
    url: str | None = None
    topics: tuple[str, ...] = ()
    # Evidence that the passage answers: meaning plus the question's own words. Passages are ordered by
    # that plus the words matched through their translation, which rank but do not vouch for an answer.
    score: float = 0.0
    dense: float = 0.0
    lexical: float = 0.0

    @property
    def source_key(self) -> str:
        """The gold-source form: `path`, or `path#row` for a record."""
        return f"{self.source}#{self.row}" if self.row is not None else self.source


@dataclass(frozen=True)
class SearchConfig:
    """Fusion knobs; the lexical weight is fitted by bench/fit.py (knowledge/fitted.json)."""

    candidates: int = 40
    lexical_weight: float = field(default_factory=lambda: fitted().lexical_weight)
    # A question word's nearest word of the other language counts as its translation from this cosine up:
    # below it a neighbour is as often another sense (安家 -> "esi", pilot -> 飞行器). Above 1: no bridging.
    bridge_similarity: float = 0.7

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"candidates must be at least 1, not {self.candidates}")
        if self.lexical_weight < 0:
            raise ValueError(f"lexical_weight cannot be negative: {self.lexical_weight}")


def _passage(snapshot: Snapshot, index: int, dense: float, lexical: float, score: float) -> Passage:
    meta = snapshot.metadatas[index]
    topics = tuple(t.strip() for t in str(meta.get("topics") or "").split(",") if t.strip())
    return Passage(
        id=snapshot.ids[index],
        text=snapshot.texts[index],
        source=str(meta["source"]),
        row=meta.get("row"),
        sheet=meta.get("sheet"),
        title=str(meta.get("title") or meta["source"]),
        section=meta.get("section"),
        chunk=int(meta.get("chunk", 0)),
        kind=str(meta.get("kind", "policy")),
        language=str(meta.get("language", "en")),
        effective=meta.get("effective"),
        expires=meta.get("expires"),
        url=meta.get("url"),
        topics=topics,
        score=score,
        dense=dense,
        lexical=lexical,
    )


def _own_cosine(snapshot: Snapshot, index: int, query: np.ndarray) -> float:
    """A packed row's cosine with the query, by its own vector: its group's only found it."""
    own = snapshot.own[snapshot.own_at[index]].astype(np.float32)
    return float(own @ query / max(float(np.linalg.norm(own) * np.linalg.norm(query)), 1e-12))


class HybridSearcher:
    """Searches the published generation; picks up a newly published one without a restart."""

    def __init__(
        self,
        store: KnowledgeStore,
        embeddings: Embeddings,
        config: SearchConfig | None = None,
        refresh_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.config = config or SearchConfig()
        self.refresh_seconds = refresh_seconds
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def _current(self) -> Snapshot:
        now = time.monotonic()
        if self._snapshot is not None and now - self._checked < self.refresh_seconds:
            return self._snapshot
        with self._lock:
            self._checked = now
            try:
                info = self.store.current()
            except StoreUnavailable:
                if self._snapshot is None:
                    raise
                return self._snapshot  # keep serving what we have; the pointer is checked again soon
            if info is None:
                raise IndexMissing("the knowledge base is empty: run `python ingest.py` first")
            if info.embedding_model != model_id(self.embeddings):
                raise IndexMissing(
                    f"the index was built with {info.embedding_model}, but {model_id(self.embeddings)} is "
                    "configured: run `python ingest.py --rebuild`"
                )
            if self._snapshot is None or self._snapshot.info.generation != info.generation:
                self._snapshot = load_snapshot(
                    self.store, info, self.embeddings, self.config.bridge_similarity, self._snapshot
                )
                log.info("index loaded generation=%s chunks=%d", info.generation, info.chunks)
            return self._snapshot

    def following(self, store: KnowledgeStore) -> HybridSearcher:
        """A searcher over `store`, checking its pointer on every search, that starts from this one's loaded
        generation: no reload when `store` points at the same one, the word bridge reused when not."""
        searcher = HybridSearcher(store, self.embeddings, self.config, refresh_seconds=0)
        searcher._snapshot = self._snapshot
        return searcher

    @property
    def info(self) -> IndexInfo:
        """The generation currently searched."""
        return self._current().info

    def unknown_versions(self, query: str) -> list[str]:
        """Versions the query names that no passage mentions ("GOI 3.0" when the documents know 2.0): it asks
        about something the knowledge base does not have, however close the passages about another version are."""
        snapshot = self._current()
        return [version for version in versions(query) if not snapshot.lexical.names_version(version)]

    def names_other(self, query: str, passages: list[Passage]) -> bool:
        """True when the query names the subject of a document or row (a title word) that none of `passages` holds:
        "voucher cap?" after the rent subsidy's passages is about vouchers."""
        snapshot = self._current()
        held = [frozenset(tokenize(searchable(p.title, p.section, p.text))) for p in passages]
        named = [term for term in tokenize(query) if term in snapshot.titles]
        return any(all(term not in words for words in held) for term in named)

    def section(self, passage: Passage) -> list[Passage]:
        """Every chunk of the passage's section, in document order (just the passage for a record)."""
        snapshot = self._current()
        positions = snapshot.sections.get((passage.source, passage.section or ""), [])
        if passage.id not in {snapshot.ids[i] for i in positions}:
            return [passage]
        return [_passage(snapshot, i, 0.0, 0.0, passage.score) for i in positions]

    def document(self, passage: Passage) -> list[Passage]:
        """Every chunk of the passage's document, section by section (just the passage for a record)."""
        snapshot = self._current()
        positions = [i for (source, _), found in snapshot.sections.items() if source == passage.source for i in found]
        return [_passage(snapshot, i, 0.0, 0.0, passage.score) for i in positions] or [passage]

    def search(self, query: str, k: int = 5, kind: str | None = None, topic: str | None = None) -> list[Passage]:
        """Best `k` passages for `query`, best first, optionally only of one kind or topic."""
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        snapshot = self._current()
        if not snapshot.ids:
            return []
        mask = self._mask(snapshot, kind, topic)
        dense = self._dense(snapshot, query, kind)
        terms = tokenize(query)  # once: jieba is the costly part of the lexical side
        synonyms = snapshot.bridge.bridge(terms)
        named = snapshot.glossary.alternatives(query, terms)
        lexical = snapshot.lexical.scores([*terms, *synonyms.values(), *equivalent_words(named)]) * mask
        weights = snapshot.lexical.weights(terms)
        return self._fuse(snapshot, weights, dense, lexical, mask, k, (synonyms, named), identifiers(terms))

    @staticmethod
    def _mask(snapshot: Snapshot, kind: str | None, topic: str | None) -> np.ndarray:
        def keep(meta: dict[str, Any]) -> bool:
            topics = str(meta.get("topics") or "").split(",")
            return (kind is None or meta.get("kind") == kind) and (topic is None or topic in topics)

        return np.fromiter((keep(m) for m in snapshot.metadatas), dtype=np.float32, count=len(snapshot.ids))

    def _dense(self, snapshot: Snapshot, query: str, kind: str | None) -> dict[int, float]:
        """Cosine minus the query's mean cosine with passages of the same language.

        The multilingual model scores any same-language passage higher than a translation-level
        match in the other language; centring per language lets a Chinese question find the
        English clause that answers it, and the reverse. One Chroma query per language.
        """
        vector = self.embeddings.embed_query(query)
        q = np.asarray(vector, dtype=np.float32)
        scores: dict[int, float] = {}
        for language, centroid in snapshot.centroids.items():
            where: dict[str, Any] = {"language": language}
            if kind:
                where = {"$and": [where, {"kind": kind}]}
            result = snapshot.collection.query(
                query_embeddings=[vector],
                n_results=min(self.config.candidates, snapshot.entries),  # type: ignore[list-item]
                where=where,
                include=["distances"],
            )
            baseline = float(q @ centroid)
            for entry, distance in zip(result["ids"][0], (result["distances"] or [[]])[0], strict=True):
                for index in snapshot.members[entry]:  # a record's views count for it; a group's rows score alone
                    cosine = _own_cosine(snapshot, index, q) if snapshot.own_at[index] >= 0 else 1.0 - float(distance)
                    scores[index] = max(scores.get(index, -1.0), cosine - baseline)
        return scores

    def _fuse(
        self,
        snapshot: Snapshot,
        weights: dict[str, float],
        dense: dict[int, float],
        lexical: np.ndarray,
        mask: np.ndarray,
        k: int,
        translations: tuple[dict[str, str], dict[str, list[frozenset[str]]]],
        codes: list[str],
    ) -> list[Passage]:
        """Passages ordered by meaning plus the question's words found (also through the bridge's translations),
        those holding a code the question names ("INS-024") first: a code names one row, however close in meaning
        another row is; their score counts the words found as written or as a glossary equivalent, which staff
        vouch for."""
        synonyms, named = translations
        weight = self.config.lexical_weight
        lexical_top = [int(i) for i in np.argsort(-lexical)[: self.config.candidates] if lexical[i] > 0]
        floor = min(dense.values(), default=0.0)
        scored = []
        for index in set(dense) | set(lexical_top):
            if not mask[index]:
                continue
            own = snapshot.lexical.coverage(weights, index, named=named)
            bridged = snapshot.lexical.coverage(weights, index, synonyms, named) if synonyms else own
            cosine = dense.get(index, floor)
            named_code = snapshot.lexical.holds(index, codes)
            scored.append((named_code, cosine + weight * bridged, index, cosine, own, cosine + weight * own))
        scored.sort(reverse=True)
        return [_passage(snapshot, i, d, lx, evidence) for _, _, i, d, lx, evidence in scored[:k]]
