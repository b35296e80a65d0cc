"""Rows of a very big listing stored several to an index entry, with one vector for the group.

Chroma keeps every vector (512 floats, about 2.7 KB with its graph) in the ingesting process: 200,000 rows alone
took it past 600 MB (bench/ingest.py --limits). Each row is still its own passage when the index is loaded, found by
its words; only the meaning side sees the group. Packing keeps what differs between the rows (row, title, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from langchain_core.documents import Document

# Rows sharing a vector: 200,000 rows make 50,000 vectors, about 140 MB in Chroma (bench/ingest.py --limits); the
# listing questions of every eval set with every listing grouped: bench/listing_views.py.
GROUP_ROWS = 4
GROUP_KEY = "group"  # metadata of a packed entry: per row, its text's length and what differs from the first row
ROWS_KEY = "rows"  # metadata of a packed entry: how many rows it holds
JOIN = "\n\n"
SAME_GROUP = ("language", "sheet", "source")  # rows differing in these never share a vector


def grouped(rows: Iterable[Document], size: int) -> Iterator[Document]:
    """The rows packed `size` at a time into one document each; a group ends early where the file, sheet or
    language changes."""
    pending: list[Document] = []
    for row in rows:
        if pending and (len(pending) == size or _key(row) != _key(pending[0])):
            yield _pack(pending)
            pending = []
        pending.append(row)
    if pending:
        yield _pack(pending)


def _key(row: Document) -> tuple[Any, ...]:
    return tuple(row.metadata.get(name) for name in SAME_GROUP)


def _pack(rows: list[Document]) -> Document:
    first = rows[0].metadata
    members = [[len(row.page_content), _differs(first, row.metadata)] for row in rows]
    metadata = {**first, GROUP_KEY: json.dumps(members, ensure_ascii=False), ROWS_KEY: len(rows)}
    return Document(page_content=JOIN.join(row.page_content for row in rows), metadata=metadata)


def _differs(first: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """What a row's metadata says differently from the first row's (None for what it lacks)."""
    return {k: own.get(k) for k in first.keys() | own.keys() if first.get(k) != own.get(k)}


def rows_in(metadata: dict[str, Any]) -> int:
    """How many rows (chunks) a stored entry holds: one unless it is a packed group."""
    return int(metadata.get(ROWS_KEY, 1))


def unpacked(document: str, metadata: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(text, metadata) of each row a stored entry holds, in order: the entry itself unless it is a packed group."""
    if GROUP_KEY not in metadata:
        return [(document, metadata)]
    first = {k: v for k, v in metadata.items() if k not in (GROUP_KEY, ROWS_KEY)}
    rows, start = [], 0
    for length, differs in json.loads(metadata[GROUP_KEY]):
        own = {k: v for k, v in {**first, **differs}.items() if v is not None}
        rows.append((document[start : start + length], own))
        start += length + len(JOIN)
    return rows
