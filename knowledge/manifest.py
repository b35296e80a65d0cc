"""What each file put in an index generation (digest, chunks, entries), kept beside it so that an incremental ingest
need not list the whole index, and the copying of unchanged files' entries between generations."""

from __future__ import annotations

import logging

from chromadb.api.models.Collection import Collection
from pydantic import BaseModel, TypeAdapter, ValidationError

from knowledge.discovery import SourceFile
from knowledge.fill import Filled, is_view
from knowledge.groups import rows_in
from knowledge.store import KnowledgeStore

log = logging.getLogger(__name__)

COPY_BATCH = 1000
COPY_SOURCES = 100  # files per `$in` filter when copying or deleting
INDEX_PAGE = 10_000


class IndexedFile(BaseModel):
    """What a generation holds of one file: the digest it was read with, its chunks and its entries (with views)."""

    digest: str
    chunks: int
    entries: int


_MANIFEST = TypeAdapter(dict[str, IndexedFile])


def load_manifest(store: KnowledgeStore, generation: str) -> dict[str, IndexedFile] | None:
    """What each file put in `generation`, as its ingest recorded it; None when it was not recorded."""
    raw = store.read_manifest(generation)
    try:
        return _MANIFEST.validate_json(raw) if raw else None
    except ValidationError:
        log.warning("unreadable ingest manifest in generation %s: listing the index instead", generation)
        return None


def save_manifest(store: KnowledgeStore, generation: str, files: dict[str, IndexedFile]) -> None:
    """Record what each file put in an unpublished generation, so the next ingest need not list the index."""
    store.write_manifest(generation, _MANIFEST.dump_json(files))


def indexed_files(collection: Collection) -> dict[str, IndexedFile]:
    """What a generation holds of each file, listed a page at a time: for an index built before manifests."""
    files: dict[str, IndexedFile] = {}
    for offset in range(0, collection.count(), INDEX_PAGE):
        got = collection.get(include=["metadatas"], limit=INDEX_PAGE, offset=offset)
        for entry, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
            empty = IndexedFile(digest=str(meta["file_hash"]), chunks=0, entries=0)
            found = files.setdefault(str(meta["source"]), empty)
            found.entries += 1
            found.chunks += 0 if is_view(entry) else rows_in(meta)
    return files


def copy_sources(old: Collection, new: Collection, sources: list[str]) -> None:
    """Copy the entries of `sources` from one generation into another, a page at a time."""
    include = ["embeddings", "documents", "metadatas"]
    for start in range(0, len(sources), COPY_SOURCES):
        where = {"source": {"$in": sources[start : start + COPY_SOURCES]}}
        offset = 0
        while (got := old.get(where=where, include=include, limit=COPY_BATCH, offset=offset))["ids"]:  # type: ignore[arg-type]
            new.add(
                ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"], metadatas=got["metadatas"]
            )
            offset += len(got["ids"])


def files_filled(files: list[SourceFile], filled: list[Filled]) -> dict[str, IndexedFile]:
    """What the files just read put in the generation; a file that failed put nothing."""
    return {
        file.rel: IndexedFile(digest=file.digest, chunks=done.chunks, entries=done.entries)
        for file, done in zip(files, filled, strict=True)
        if done.entries
    }
