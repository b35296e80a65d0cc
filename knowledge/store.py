"""The Chroma store, as generations: ingest fills a new one and then flips a pointer to it.

Readers only ever open the generation the pointer names, so an ingest that fails or is killed
leaves what they see untouched, and a finished one becomes visible to every reader at once.
Embedded mode keeps each generation in its own folder under `DATA_DIR/index` with the pointer
in a file; server mode keeps each in its own collection with the pointer in a small collection.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from pydantic import BaseModel

from knowledge.settings import Settings

log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    """The store cannot be reached (a Chroma server down, a data folder unreadable)."""


class IndexInfo(BaseModel):
    """What the pointer says about the published generation."""

    generation: str
    embedding_model: str
    chunks: int
    files: int
    created: str
    sources: list[str] = []  # the ingested folders, resolved; empty in an index built before they were recorded
    curated_digest: str = ""
    reading: int = 1  # how files were read and split (knowledge.indexing.READING); 1 in an index that did not say
    glossary: list[list[str]] = []  # glossary.yaml's groups of equivalent names (knowledge.glossary)


MANIFEST_FILE = "ingest-manifest.json"  # what each file put in a generation (knowledge.manifest)


def _chroma_settings() -> ChromaSettings:
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def new_generation_name() -> str:
    """A sortable, unique name that is also a valid Chroma collection name."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


class _Backend(Protocol):
    def read_pointer(self) -> IndexInfo | None: ...
    def write_pointer(self, info: IndexInfo) -> None: ...
    def collection(self, generation: str, *, create: bool = False) -> Collection: ...
    def generations(self) -> list[str]: ...
    def drop(self, generation: str) -> None: ...
    def clone(self, source: str, target: str) -> bool: ...
    def read_manifest(self, generation: str) -> bytes | None: ...
    def write_manifest(self, generation: str, data: bytes) -> None: ...


class _EmbeddedBackend:
    """One PersistentClient folder per generation; the pointer is a file replaced atomically."""

    def __init__(self, data_dir: Path, prefix: str) -> None:
        self.root = data_dir / "index"
        self.prefix = prefix

    @property
    def _pointer(self) -> Path:
        return self.root / "current.json"

    def read_pointer(self) -> IndexInfo | None:
        try:
            return IndexInfo.model_validate_json(self._pointer.read_bytes())
        except FileNotFoundError:
            return None

    def write_pointer(self, info: IndexInfo) -> None:
        tmp = self._pointer.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            handle.write(info.model_dump_json().encode())
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self._pointer)
        _fsync_dir(self.root)

    def collection(self, generation: str, *, create: bool = False) -> Collection:
        path = self.root / generation
        if not create and not path.is_dir():
            raise StoreUnavailable(f"index generation {generation} is missing from {self.root}")
        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        return _get_collection(client, self.prefix, create=create)

    def generations(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def drop(self, generation: str) -> None:
        shutil.rmtree(self.root / generation, ignore_errors=True)

    def clone(self, source: str, target: str) -> bool:
        shutil.copytree(self.root / source, self.root / target)
        return True

    def read_manifest(self, generation: str) -> bytes | None:
        try:
            return (self.root / generation / MANIFEST_FILE).read_bytes()
        except FileNotFoundError:
            return None

    def write_manifest(self, generation: str, data: bytes) -> None:
        path = self.root / generation / MANIFEST_FILE
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)


class _ServerBackend:
    """One collection per generation on a Chroma server; the pointer is a collection's metadata.

    The client is made on first use, not at start: chromadb's HttpClient fails when the server is down,
    and a bot started before its server (or during a restart) must refuse politely and retry later.
    """

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.host = host
        self.port = port
        self.prefix = prefix
        self._client: ClientAPI | None = None

    @property
    def client(self) -> ClientAPI:
        if self._client is None:
            try:
                self._client = chromadb.HttpClient(host=self.host, port=self.port, settings=_chroma_settings())
            except Exception as exc:
                raise StoreUnavailable(f"Chroma server {self.host}:{self.port} unreachable: {exc}") from exc
        return self._client

    @property
    def _pointer_name(self) -> str:
        return f"{self.prefix}-pointer"

    def read_pointer(self) -> IndexInfo | None:
        try:
            pointer = self.client.get_or_create_collection(self._pointer_name, embedding_function=None)
        except Exception as exc:
            raise StoreUnavailable(f"Chroma server unreachable: {exc}") from exc
        metadata = pointer.metadata or {}
        return IndexInfo.model_validate_json(metadata["info"]) if "info" in metadata else None

    def write_pointer(self, info: IndexInfo) -> None:
        pointer = self.client.get_or_create_collection(self._pointer_name, embedding_function=None)
        pointer.modify(metadata={"info": info.model_dump_json()})

    def collection(self, generation: str, *, create: bool = False) -> Collection:
        found = _get_collection(self.client, f"{self.prefix}-{generation}", create=create)
        return cast(Collection, _Reachable(found))

    def generations(self) -> list[str]:
        start = f"{self.prefix}-"
        names = [c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()]
        return sorted(n[len(start) :] for n in names if n.startswith(start) and n != self._pointer_name)

    def drop(self, generation: str) -> None:
        self.client.delete_collection(f"{self.prefix}-{generation}")

    def clone(self, source: str, target: str) -> bool:  # noqa: ARG002 - a server copies no collection whole
        return False

    def read_manifest(self, generation: str) -> bytes | None:  # noqa: ARG002 - ingest lists the collection instead
        return None

    def write_manifest(self, generation: str, data: bytes) -> None:  # noqa: ARG002 - see read_manifest
        return None


class _Reachable:
    """A server collection whose connection errors surface as StoreUnavailable.

    A reader holds its collection across calls; when the server goes away, its next query must fail
    the way every caller already handles, not with a raw httpx error.
    """

    def __init__(self, collection: Collection) -> None:
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._collection, name)
        if not callable(found):
            return found

        @functools.wraps(found)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return found(*args, **kwargs)
            except httpx.TransportError as exc:
                raise StoreUnavailable(f"Chroma server unreachable: {exc}") from exc

        return call


def _get_collection(client: ClientAPI, name: str, *, create: bool) -> Collection:
    if create:
        return client.create_collection(name, metadata={"hnsw:space": "cosine"}, embedding_function=None)
    return client.get_collection(name, embedding_function=None)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class KnowledgeStore:
    """Generations of the chunk collection, and the pointer to the published one."""

    def __init__(self, backend: _Backend, lock_dir: Path) -> None:
        self._backend = backend
        self._lock_dir = lock_dir

    def current(self) -> IndexInfo | None:
        """The published generation, or None before the first ingest."""
        return self._backend.read_pointer()

    def open(self, generation: str) -> Collection:
        """Open a published (or being-built) generation for reading."""
        try:
            return self._backend.collection(generation)
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"cannot open index generation {generation}: {exc}") from exc

    def create(self, generation: str) -> Collection:
        """Create an empty generation to fill; invisible to readers until published."""
        return self._backend.collection(generation, create=True)

    def clone(self, source: str, target: str) -> Collection | None:
        """A new generation holding a copy of `source` (files copied, nothing re-indexed), or None when the backend
        cannot copy one whole (a server)."""
        return self._backend.collection(target) if self._backend.clone(source, target) else None

    def read_manifest(self, generation: str) -> bytes | None:
        """The manifest ingest recorded in `generation`; None when there is none (a server, an older index)."""
        return self._backend.read_manifest(generation)

    def write_manifest(self, generation: str, data: bytes) -> None:
        """Record a manifest in an unpublished generation (written through to disk before it is published)."""
        self._backend.write_manifest(generation, data)

    def publish(self, info: IndexInfo) -> None:
        """Make `info` the generation every reader sees, then drop the ones no reader needs."""
        previous = self.current()
        self._backend.write_pointer(info)
        keep = {info.generation} | ({previous.generation} if previous else set())
        for generation in self._backend.generations():
            if generation not in keep:
                self._backend.drop(generation)
        log.info("index published generation=%s chunks=%d", info.generation, info.chunks)

    def discard(self, generation: str) -> None:
        """Remove a generation that was never published."""
        self._backend.drop(generation)

    def discard_unfinished(self) -> list[str]:
        """Remove generations newer than the published one: an ingest killed while building left them (hundreds
        of MB each). Call it holding the writer lock, so that none of them is still being built."""
        current = self.current()
        unfinished = [g for g in self._backend.generations() if current is None or g > current.generation]
        for generation in unfinished:
            log.warning("removing generation %s, left unfinished by an ingest that was stopped", generation)
            self._backend.drop(generation)
        return unfinished

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Serialise ingests on this machine; a second one fails fast instead of interleaving."""
        import fcntl

        self._lock_dir.mkdir(parents=True, exist_ok=True)
        with (self._lock_dir / "ingest.lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise RuntimeError(
                    f"another ingest is running on this data folder ({self._lock_dir}): nothing was changed; "
                    "wait for it to finish, then run this one again"
                ) from exc
            yield


class PinnedStore(KnowledgeStore):
    """A store whose readers see the generation pinned, published or not: to try one out before publishing it."""

    def __init__(self, store: KnowledgeStore, info: IndexInfo) -> None:
        super().__init__(store._backend, store._lock_dir)
        self.info = info

    def current(self) -> IndexInfo:
        """The pinned generation, whatever the pointer says."""
        return self.info

    def pin(self, info: IndexInfo) -> None:
        """Show readers another generation from now on."""
        self.info = info


def make_store(settings: Settings) -> KnowledgeStore:
    """The embedded store in DATA_DIR, or a Chroma server when CHROMA_HOST is set."""
    if settings.chroma_host:
        backend = _ServerBackend(settings.chroma_host, settings.chroma_port, settings.collection_prefix)
        return KnowledgeStore(backend, settings.data_dir)
    return KnowledgeStore(_EmbeddedBackend(settings.data_dir, settings.collection_prefix), settings.data_dir)


def flat_metadata(metadata: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """Chroma stores no None values: leave such keys out, readers treat absent as None."""
    return {key: value for key, value in metadata.items() if value is not None}


def utc_now() -> str:
    """ISO timestamp for index records."""
    return datetime.now(UTC).isoformat(timespec="seconds")
