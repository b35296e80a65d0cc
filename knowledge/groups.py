"""Rows of a very big listing stored several to an index entry, with one vector for the group.

Chroma keeps every vector (512 floats, about 2.7 KB with its graph) in the ingesting process: 200,000 rows alone
took it past 600 MB (bench/ingest.py --limits). Each row is embedded alone, rows close in meaning are grouped, and the
group is indexed under their mean vector, which finds it; each row's own vector is kept, as bytes with a scale, in the
entry's metadata (not in the index), to score the rows of a group found one by one. Packing keeps what differs
between the rows (row, title, ...). Chroma holds much of the metadata in memory too while it ingests (about 70% of
it, measured): bytes, not the half-precision floats first tried, keep a row's share at about 0.7 KB.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document

# Rows sharing a vector: 200,000 rows make 50,000 vectors (bench/ingest_memory.py, bench/ingest.py --limits); what
# that costs on the listing questions of every eval set with every listing grouped: bench/listing_views.py.
GROUP_ROWS = 4
GROUP_KEY = "group"  # packed entry's metadata: per row, its text's length, what differs from the first row, vector
ROWS_KEY = "rows"  # metadata of a packed entry: how many rows it holds
JOIN = "\n\n"
SAME_GROUP = ("language", "sheet", "source")  # rows differing in these never share a vector


def similar(rows: Sequence[Document], vectors: np.ndarray, size: int) -> list[list[int]]:
    """Groups of at most `size` rows (positions), each row with the nearest in meaning of those left; greedy."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    keys = [tuple(str(row.metadata.get(name)) for name in SAME_GROUP) for row in rows]
    codes = np.unique(np.array(["\0".join(key) for key in keys]), return_inverse=True)[1]
    closeness = np.where(codes[:, None] == codes[None, :], unit @ unit.T, -np.inf)
    free = np.ones(len(rows), dtype=bool)
    groups = []
    for first in range(len(rows)):
        if not free[first]:
            continue
        free[first] = False
        near = np.where(free, closeness[first], -np.inf)
        others = [int(j) for j in np.argsort(-near, kind="stable")[: size - 1] if near[j] > -np.inf]
        free[others] = False
        groups.append([first, *others])
    return groups


def pack(rows: list[Document], vectors: np.ndarray) -> Document:
    """One document holding `rows` and their vectors, from which `unpacked` gives each back."""
    first = rows[0].metadata
    members = [
        [
            len(row.page_content),
            _differs(first, row.metadata),
            *_quantised(vector),
        ]
        for row, vector in zip(rows, vectors, strict=True)
    ]
    metadata = {**first, GROUP_KEY: json.dumps(members, ensure_ascii=False), ROWS_KEY: len(rows)}
    return Document(page_content=JOIN.join(row.page_content for row in rows), metadata=metadata)


def _quantised(vector: np.ndarray) -> tuple[float, str]:
    """The vector as a scale and signed bytes (base64): its cosines move by about 1e-3."""
    scale = max(float(np.abs(vector).max()), 1e-12) / 127
    return scale, base64.b64encode(np.round(vector / scale).astype(np.int8).tobytes()).decode()


def _differs(first: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """What a row's metadata says differently from the first row's (None for what it lacks)."""
    return {k: own.get(k) for k in first.keys() | own.keys() if first.get(k) != own.get(k)}


def rows_in(metadata: dict[str, Any]) -> int:
    """How many rows (chunks) a stored entry holds: one unless it is a packed group."""
    return int(metadata.get(ROWS_KEY, 1))


# A row's own vector as stored: signed bytes and the scale that turns them back into the vector.
Quantised = tuple[np.ndarray, float]


def unpacked(document: str, metadata: dict[str, Any]) -> list[tuple[str, dict[str, Any], Quantised | None]]:
    """(text, metadata, own vector) of each row a stored entry holds, in order: the entry itself (with no vector of
    its own: the index's is) unless it is a packed group."""
    if GROUP_KEY not in metadata:
        return [(document, metadata, None)]
    first = {k: v for k, v in metadata.items() if k not in (GROUP_KEY, ROWS_KEY)}
    rows, start = [], 0
    for length, differs, scale, vector in json.loads(metadata[GROUP_KEY]):
        own = {k: v for k, v in {**first, **differs}.items() if v is not None}
        rows.append((document[start : start + length], own, (np.frombuffer(base64.b64decode(vector), np.int8), scale)))
        start += length + len(JOIN)
    return rows
