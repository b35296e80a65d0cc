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
from knowledge.lexical import LexicalIndex, tokenize
from knowledge.store import IndexInfo, KnowledgeStore

MIN_PER_LANGUAGE = 30


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
    owners: np.ndarray  # per passage, the position of its entry among the generation's non-view entries
    own_at: np.ndarray  # per passage, its row in `own`; -1 when its entry's vector is its own
    own: np.ndarray  # the own vectors of the rows of packed groups (half precision here)


def _rows(got: Any) -> _Rows:
    ids: list[str] = []
    texts: list[str] = []
    metadatas: list[dict[str, Any]] = []
    members: dict[str, list[int]] = {}
    owners: list[int] = []
    own: list[np.ndarray] = []
    own_at: list[int] = []
    primary = [(entry, i) for i, entry in enumerate(got["ids"]) if not is_view(entry)]
    for owner, (entry, i) in enumerate(primary):
        stored = dict((got["metadatas"] or [])[i])
        members[entry] = []
        for text, meta, vector in unpacked(str((got["documents"] or [])[i]), stored):
            members[entry].append(len(ids))
            ids.append(chunk_id(meta) if GROUP_KEY in stored else entry)
            texts.append(text)
            metadatas.append(meta)
            owners.append(owner)
            own_at.append(-1 if vector is None else len(own))
            own.extend([] if vector is None else [vector.astype(np.float16)])
    members |= {entry: members[entry.split("~")[0]] for entry in got["ids"] if is_view(entry)}
    return _Rows(
        ids,
        texts,
        metadatas,
        members,
        np.asarray(owners, dtype=np.int64),
        np.asarray(own_at, dtype=np.int64),
        np.stack(own) if own else np.zeros((0, 0), dtype=np.float16),
    )


def load_snapshot(
    store: KnowledgeStore, info: IndexInfo, embeddings: Embeddings, bridge_similarity: float, previous: Snapshot | None
) -> Snapshot:
    """Load a published generation; the word bridge starts from the previous snapshot's translations."""
    collection = store.open(info.generation)
    got = collection.get(include=["documents", "metadatas", "embeddings"])
    rows = _rows(got)
    searchable = [
        f"{m.get('title', '')} {m.get('section') or ''}\n{t}" for t, m in zip(rows.texts, rows.metadatas, strict=True)
    ]
    primary = [i for i, entry in enumerate(got["ids"]) if not is_view(entry)]
    vectors = np.asarray(got["embeddings"], dtype=np.float32)[primary]
    languages = np.array([str(m.get("language", "en")) for m in rows.metadatas])
    lexical = LexicalIndex(searchable)
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
        entries=len(primary),
        own_at=rows.own_at,
        own=rows.own,
        centroids=_centroids(vectors, rows, languages),
        sections=_sections(rows.metadatas),
        titles=frozenset(
            word for title in {str(m.get("title") or "") for m in rows.metadatas} for word in tokenize(title)
        ),
    )


def _centroids(vectors: np.ndarray, rows: _Rows, languages: np.ndarray) -> dict[str, np.ndarray]:
    """Mean vector of the passages per language, or zeros for all when a language has too few passages to estimate
    one (`vectors`: the entries' vectors; a packed row has its own).

    A centroid of a handful of passages is those passages: subtracting it would cancel the very
    match a question is looking for, so a small knowledge base is searched by plain cosine.
    """
    groups = {lang: np.flatnonzero(languages == lang) for lang in set(languages.tolist())}
    if min((len(g) for g in groups.values()), default=0) < MIN_PER_LANGUAGE:
        return {lang: np.zeros(vectors.shape[1], dtype=np.float32) for lang in groups}
    return {lang: _mean(vectors, rows, positions) for lang, positions in groups.items()}


def _mean(vectors: np.ndarray, rows: _Rows, positions: np.ndarray) -> np.ndarray:
    at = rows.own_at[positions]
    plain = vectors[rows.owners[positions[at < 0]]]
    if (at < 0).all():
        return plain.mean(axis=0)
    total = plain.sum(axis=0) + rows.own[at[at >= 0]].sum(axis=0, dtype=np.float32)
    return (total / len(positions)).astype(np.float32)


def _sections(metadatas: list[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    """(source, section) -> chunk positions in document order, to widen a clause to its section."""
    found: dict[tuple[str, str], list[int]] = {}
    for index, meta in enumerate(metadatas):
        if meta.get("kind") != "listing":
            found.setdefault((str(meta["source"]), str(meta.get("section") or "")), []).append(index)
    return {key: sorted(items, key=lambda i: int(metadatas[i].get("chunk", 0))) for key, items in found.items()}
