"""A published generation loaded for searching: its passages (the rows of packed groups unpacked), their BM25
index, the word bridge and glossary, per-language centroids and sections, built once and swapped in whole."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from chromadb.api.models.Collection import Collection
from langchain_core.embeddings import Embeddings

from knowledge.bridge import TermBridge
from knowledge.fill import chunk_id, is_view
from knowledge.glossary import Glossary
from knowledge.groups import GROUP_KEY, unpacked
from knowledge.lexical import LexicalIndex, searchable, tokenize
from knowledge.store import IndexInfo, KnowledgeStore

MIN_PER_LANGUAGE = 30
# Entries fetched from Chroma at once. Its answer holds documents, metadata and vectors as Python objects at many
# times their size: the 50,000 entries of a 200,000-row listing fetched at once took the bot past 1.3 GB.
BATCH = 1_000


@dataclass(frozen=True)
class Snapshot:
    """One generation as the searcher holds it: its passages, their BM25 index, word bridge and glossary."""

    info: IndexInfo
    collection: Collection
    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]
    lexical: LexicalIndex
    bridge: TermBridge
    glossary: Glossary
    members: dict[str, list[int]]
    entries: int
    own_at: np.ndarray
    own: np.ndarray
    centroids: dict[str, np.ndarray]
    sections: dict[tuple[str, str], list[int]]
    titles: frozenset[str]  # the words of every document's and row's title: what the knowledge base is about


@dataclass(frozen=True)
class _Rows:
    """The passages a generation holds, one per entry or per row of a packed group (knowledge.groups)."""

    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]
    members: dict[str, list[int]]  # entry id (a view's too) -> the passages its vector stands for
    entries: int  # entries that are not views
    own_at: np.ndarray  # per passage, its row in `own`; -1 when its entry's vector is its own
    own: np.ndarray  # the own vectors of the rows of packed groups as stored, signed bytes: a cosine needs no scale
    centroids: dict[str, np.ndarray]


class _Reading:
    """A generation's passages built from its entries a batch at a time, each language's vectors summed on the way."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity  # passages the generation says it holds: room for every own vector at once
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.metadatas: list[dict[str, Any]] = []
        self.members: dict[str, list[int]] = {}
        self.views: list[str] = []
        self.own_at: list[int] = []
        self.own: np.ndarray | None = None
        self.kept = 0
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}

    def add(self, got: Any) -> None:
        """One batch of entries as Chroma returns them."""
        for i, entry in enumerate(got["ids"]):
            if is_view(entry):
                self.views.append(entry)
                continue
            stored = dict((got["metadatas"] or [])[i])
            self.members[entry] = []
            for text, meta, quantised in unpacked(str((got["documents"] or [])[i]), stored):
                self.members[entry].append(len(self.ids))
                self.ids.append(chunk_id(meta) if GROUP_KEY in stored else entry)
                self.texts.append(text)
                self.metadatas.append(meta)
                self.own_at.append(-1 if quantised is None else self._keep(quantised[0]))
                vector = got["embeddings"][i] if quantised is None else quantised[0] * quantised[1]
                self._sum(str(meta.get("language", "en")), np.asarray(vector, dtype=np.float64))

    def _keep(self, codes: np.ndarray) -> int:
        if self.own is None or self.kept == len(self.own):
            grown = np.zeros((max(self.capacity, 2 * self.kept, 1), codes.size), dtype=np.int8)
            if self.own is not None:
                grown[: self.kept] = self.own
            self.own = grown
        self.own[self.kept] = codes
        self.kept += 1
        return self.kept - 1

    def _sum(self, language: str, vector: np.ndarray) -> None:
        if language in self.sums:
            self.sums[language] += vector
        else:
            self.sums[language] = vector.copy()
        self.counts[language] = self.counts.get(language, 0) + 1

    def done(self) -> _Rows:
        """The passages, with the views of each entry pointing at its passages."""
        members = self.members | {view: self.members[view.split("~")[0]] for view in self.views}
        own = self.own[: self.kept] if self.own is not None else np.zeros((0, 0), dtype=np.int8)
        own_at = np.asarray(self.own_at, dtype=np.int64)
        entries = len(self.members)
        return _Rows(self.ids, self.texts, self.metadatas, members, entries, own_at, own, self._centroids())

    def _centroids(self) -> dict[str, np.ndarray]:
        """Mean vector of the passages per language, or zeros for all when a language has too few passages to
        estimate one.

        A centroid of a handful of passages is those passages: subtracting it would cancel the very
        match a question is looking for, so a small knowledge base is searched by plain cosine.
        """
        if min(self.counts.values(), default=0) < MIN_PER_LANGUAGE:
            return {lang: np.zeros(len(total), dtype=np.float32) for lang, total in self.sums.items()}
        return {lang: (total / self.counts[lang]).astype(np.float32) for lang, total in self.sums.items()}


def _rows(collection: Collection, capacity: int) -> _Rows:
    reading = _Reading(capacity)
    for offset in range(0, collection.count(), BATCH):
        reading.add(collection.get(include=["documents", "metadatas", "embeddings"], limit=BATCH, offset=offset))
    return reading.done()


def load_snapshot(
    store: KnowledgeStore, info: IndexInfo, embeddings: Embeddings, bridge_similarity: float, previous: Snapshot | None
) -> Snapshot:
    """Load a published generation; the word bridge starts from the previous snapshot's translations."""
    collection = store.open(info.generation)
    rows = _rows(collection, info.chunks)
    pairs = zip(rows.texts, rows.metadatas, strict=True)
    lexical = LexicalIndex([searchable(str(m.get("title", "")), m.get("section"), t) for t, m in pairs])
    known = previous.bridge.known() if previous else None
    bridge = TermBridge(embeddings, lexical.vocabulary(), bridge_similarity, known)
    return Snapshot(
        info=info,
        collection=collection,
        ids=rows.ids,
        texts=rows.texts,
        metadatas=rows.metadatas,
        lexical=lexical,
        bridge=bridge,
        glossary=Glossary(info.glossary, tokenize),
        members=rows.members,
        entries=rows.entries,
        own_at=rows.own_at,
        own=rows.own,
        centroids=rows.centroids,
        sections=_sections(rows.metadatas),
        titles=frozenset(
            word for title in {str(m.get("title") or "") for m in rows.metadatas} for word in tokenize(title)
        ),
    )


def _sections(metadatas: list[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    """(source, section) -> chunk positions in document order, to widen a clause to its section."""
    found: dict[tuple[str, str], list[int]] = {}
    for index, meta in enumerate(metadatas):
        if meta.get("kind") != "listing":
            found.setdefault((str(meta["source"]), str(meta.get("section") or "")), []).append(index)
    return {key: sorted(items, key=lambda i: int(metadatas[i].get("chunk", 0))) for key, items in found.items()}
