"""A ledger of ingest runs in DATA_DIR, so the long-running bot can count runs made by `ingest.py` processes."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Literal

from knowledge.store import utc_now

log = logging.getLogger(__name__)

LEDGER = "ingest-runs.jsonl"

Outcome = Literal["ok", "partial", "failed"]


def record_run(data_dir: Path, outcome: Outcome) -> None:
    """Append one run; a single short append is atomic, so concurrent ingests cannot interleave lines."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LEDGER).open("a", encoding="utf-8") as ledger:
        ledger.write(json.dumps({"at": utc_now(), "outcome": outcome}) + "\n")


def count_runs(data_dir: Path) -> Counter[str]:
    """How many runs ended with each outcome; an unreadable line is skipped, not fatal."""
    counts: Counter[str] = Counter()
    try:
        lines = (data_dir / LEDGER).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return counts
    for line in lines:
        try:
            counts[json.loads(line)["outcome"]] += 1
        except (ValueError, KeyError, TypeError):
            log.debug("skipping a bad ingest ledger line")
    return counts
