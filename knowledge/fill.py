"""Filling a generation with one file's chunks, a batch at a time from reading to the embedder to Chroma, so memory
is bounded by the batch and not by the file (a 200,000-row listing held whole cost 1.7 GB and growing)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
from chromadb.api.models.Collection import Collection
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from knowledge.groups import pack, rows_in, similar
from knowledge.split import content_hash, embedding_views
from knowledge.store import flat_metadata

log = logging.getLogger(__name__)

# (id, vector, chunk stored): what goes into the index, a batch at a time
Entry = tuple[str, list[float], Document]
# (stage or file, done, total; 0 when the total is not known)
Progress = Callable[[str, int, int], None]
# Entries per embedder call and Chroma add: enough short rows to fill the encoder's token budget
# (knowledge.embeddings.TOKEN_BUDGET), few enough that memory stays bounded by the batch.
EMBED_BATCH = 512
LOG_EVERY_SECONDS = 10.0


def chunk_id(metadata: dict[str, object]) -> str:
    """Deterministic id: re-ingesting the same file never adds a duplicate."""
    key = f"{metadata['source']}\0{metadata.get('sheet') or ''}\0{metadata.get('row') or 0}"
    return f"{content_hash(key)}-{metadata['chunk']}"


def is_view(entry_id: str) -> bool:
    """True for the extra embedding views of a chunk (see `embedding_views`)."""
    return "~" in entry_id


def _entries(chunks: Iterable[Document], lean: bool) -> Iterator[tuple[str, str, Document]]:
    """(id, text to embed, chunk) for every view of every chunk; view 0 is the chunk itself."""
    for chunk in chunks:
        base = chunk_id(chunk.metadata)
        for view, text in enumerate(embedding_views(chunk, lean=lean)):
            yield (base if view == 0 else f"{base}~{view}", text, chunk)


def _batches(
    chunks: Iterable[Document], embeddings: Embeddings | None, lean: bool, group: int
) -> Iterator[list[Entry]]:
    """The entries a batch at a time, embedded (with no vectors when there is no model: a dry run only counts)."""
    if embeddings is not None and group > 1:
        yield from _grouped(chunks, embeddings, group)
        return
    entries = _entries(chunks, lean)
    while batch := list(islice(entries, EMBED_BATCH)):
        vectors = embeddings.embed_documents([text for _, text, _ in batch]) if embeddings else [[] for _ in batch]
        yield [(entry_id, vector, chunk) for (entry_id, _, chunk), vector in zip(batch, vectors, strict=True)]


def _grouped(chunks: Iterable[Document], embeddings: Embeddings, size: int) -> Iterator[list[Entry]]:
    """Rows embedded one view each, then packed `size` to an entry with the nearest in meaning, under their mean."""
    rows = iter(chunks)
    while batch := list(islice(rows, EMBED_BATCH)):
        texts = [embedding_views(row, lean=True)[0] for row in batch]
        vectors = np.asarray(embeddings.embed_documents(texts), dtype=np.float32)
        groups = similar(batch, vectors, size)
        yield [
            (chunk_id(batch[g[0]].metadata), vectors[g].mean(axis=0).tolist(), pack([batch[i] for i in g], vectors[g]))
            for g in groups
        ]


@dataclass
class FileProgress:
    """Rows (chunks) done in one file, with a rate and an ETA when the file's row count could be estimated."""

    name: str
    total: int
    report: Progress
    started: float = field(default_factory=time.perf_counter)
    logged: float = field(default_factory=time.perf_counter)
    done: int = 0

    def advance(self, rows: int) -> None:
        """Count `rows` more; tell the progress bar, and the log every few seconds (ingest often runs unattended)."""
        self.done += rows
        self.report(self.name, self.done, self.total)
        now = time.perf_counter()
        if now - self.logged >= LOG_EVERY_SECONDS:
            self.logged = now
            rate = self.done / max(now - self.started, 1e-9)
            eta = f"{max(self.total - self.done, 0) / rate:.0f}" if self.total and rate else "?"
            log.info(
                "ingest progress file=%s rows=%d/%s rate=%.0f/s eta_s=%s",
                self.name,
                self.done,
                self.total or "?",
                rate,
                eta,
            )


@dataclass
class Filled:
    """What one file put into the generation."""

    chunks: int = 0
    entries: int = 0


def fill(
    collection: Collection | None,
    chunks: Iterable[Document],
    embeddings: Embeddings,
    progress: FileProgress,
    *,
    lean: bool = False,
    group: int = 1,
) -> Filled:
    """Embed and add `chunks` in batches (into nothing for a dry run, which only counts them); with `group` above 1,
    up to that many rows close in meaning share an entry and its vector (knowledge.groups)."""
    filled = Filled()
    for batch in _batches(chunks, embeddings if collection is not None else None, lean, group):
        if collection is not None:
            collection.add(
                ids=[entry_id for entry_id, _, _ in batch],
                embeddings=[vector for _, vector, _ in batch],  # type: ignore[arg-type]
                documents=[chunk.page_content for _, _, chunk in batch],
                metadatas=[flat_metadata({**c.metadata, "view": is_view(entry_id)}) for entry_id, _, c in batch],  # type: ignore[misc]
            )
        rows = sum(rows_in(chunk.metadata) for entry_id, _, chunk in batch if not is_view(entry_id))
        filled.entries += len(batch)
        filled.chunks += rows
        progress.advance(rows)
    return filled
