"""Ingest: incremental, idempotent, atomic; the CLI's summary and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from knowledge.embeddings import LocalEmbeddings
from knowledge.fill import is_view
from knowledge.indexing import READING, Ingest
from knowledge.retrieve import HybridSearcher, IndexMissing
from knowledge.settings import Settings
from knowledge.store import make_store
from tests.conftest import write_files

ROOT = Path(__file__).resolve().parents[1]

VOUCHERS = """---
title: Innovation vouchers
language: en
effective: 2025-10-01
---
# Innovation vouchers

## Amounts

Each company may use at most RMB 186,400 of vouchers per calendar year.

## Deadline

Approved quota expires on 15 December of the year it was granted.
"""

HOUSING = """# 青年人才安居

## 租房补贴

博士每月3,400元，硕士每月2,100元，最长发放42个月。
"""

EQUIPMENT = (
    "id,instrument,owner,fee\n"
    "EQ-1,Cryo-electron microscope,Lingjing Biologics,RMB 9800 per day\n"
    "EQ-2,NMR 600 MHz,Kelan Pharma,RMB 780 per hour\n"
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    files = {"policies/vouchers.md": VOUCHERS, "policies/housing.zh.md": HOUSING, "resources/equipment.csv": EQUIPMENT}
    return write_files(tmp_path / "kb", files)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def embeddings() -> LocalEmbeddings:
    return LocalEmbeddings()


def _ingest(settings: Settings, embeddings: LocalEmbeddings, corpus: Path, **flags: bool):
    return Ingest(make_store(settings), embeddings).run([corpus], **flags)


def _top_sources(settings: Settings, embeddings: LocalEmbeddings, query: str) -> list[str]:
    searcher = HybridSearcher(make_store(settings), embeddings, refresh_seconds=0)
    return [p.source_key for p in searcher.search(query, k=3)]


def test_first_ingest_indexes_every_file_and_row(settings, embeddings, corpus):
    report = _ingest(settings, embeddings, corpus)
    assert sorted(report.added) == ["policies/housing.zh.md", "policies/vouchers.md", "resources/equipment.csv"]
    assert report.failed == [] and report.published
    assert _top_sources(settings, embeddings, "NMR spectrometer hourly fee")[0] == "resources/equipment.csv#2"
    assert _top_sources(settings, embeddings, "PhD rent subsidy per month")[0] == "policies/housing.zh.md"


def test_unchanged_reingest_changes_nothing(settings, embeddings, corpus):
    first = _ingest(settings, embeddings, corpus)
    again = _ingest(settings, embeddings, corpus)
    assert len(again.unchanged) == 3 and not again.added and not again.published
    assert make_store(settings).current().generation == first.generation  # type: ignore[union-attr]


def test_changed_file_replaces_its_chunks_without_duplicates(settings, embeddings, corpus):
    first = _ingest(settings, embeddings, corpus)
    (corpus / "policies" / "vouchers.md").write_text(VOUCHERS.replace("186,400", "200,000"), encoding="utf-8")
    report = _ingest(settings, embeddings, corpus)
    assert report.updated == ["policies/vouchers.md"] and len(report.unchanged) == 2
    assert report.chunks == first.chunks and report.embedded < first.chunks
    store = make_store(settings)
    collection = store.open(store.current().generation)  # type: ignore[union-attr]
    texts = collection.get(include=["documents"])["documents"]
    assert any("200,000" in t for t in texts) and not any("186,400" in t for t in texts)
    ids = collection.get()["ids"]
    assert len([i for i in ids if not is_view(i)]) == first.chunks and len(set(ids)) == len(ids)


def test_removed_file_leaves_the_index(settings, embeddings, corpus):
    _ingest(settings, embeddings, corpus)
    (corpus / "resources" / "equipment.csv").unlink()
    report = _ingest(settings, embeddings, corpus)
    assert report.removed == ["resources/equipment.csv"]
    assert all(not s.startswith("resources/") for s in _top_sources(settings, embeddings, "NMR fee"))


def test_corrupt_file_is_reported_and_the_rest_ingests(settings, embeddings, corpus):
    (corpus / "policies" / "scan.pdf").write_bytes(b"\x89PNG not a pdf at all")
    report = _ingest(settings, embeddings, corpus)
    assert [f.path for f in report.failed] == ["policies/scan.pdf"]
    assert report.failed[0].reason
    assert len(report.added) == 3 and report.published


def test_strict_changes_nothing_when_a_file_fails(settings, embeddings, corpus):
    first = _ingest(settings, embeddings, corpus)
    (corpus / "policies" / "vouchers.md").write_text(VOUCHERS.replace("186,400", "1"), encoding="utf-8")
    (corpus / "policies" / "empty.md").write_bytes(b"")
    report = _ingest(settings, embeddings, corpus, strict=True)
    assert not report.published and report.failed
    assert make_store(settings).current().generation == first.generation  # type: ignore[union-attr]


def test_dry_run_reports_without_writing(settings, embeddings, corpus):
    report = _ingest(settings, embeddings, corpus, dry_run=True)
    assert len(report.added) == 3 and not report.published
    assert make_store(settings).current() is None


def test_running_searcher_sees_a_new_generation_without_restart(settings, embeddings, corpus):
    _ingest(settings, embeddings, corpus)
    searcher = HybridSearcher(make_store(settings), embeddings, refresh_seconds=0)
    assert not any("quantum" in p.text for p in searcher.search("quantum computer time", k=5))
    (corpus / "policies" / "quantum.md").write_text("# Quantum\n\nQuantum computer time costs RMB 50,000 a day.\n")
    _ingest(settings, embeddings, corpus)
    assert searcher.search("quantum computer time", k=1)[0].source == "policies/quantum.md"


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, str(ROOT / "ingest.py"), *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_cli_json_summary_and_exit_codes(tmp_path, corpus):
    data = tmp_path / "cli-data"
    ok = _cli(str(corpus), "--json", data_dir=data)
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert len(summary["added"]) == 3 and summary["failed"] == []
    (corpus / "broken.json").write_text("{not json", encoding="utf-8")
    failed = _cli(str(corpus), "--json", data_dir=data)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["failed"][0]["path"] == "broken.json"
    assert _cli(str(tmp_path / "nope"), data_dir=data).returncode == 2
    table = _cli(str(corpus), data_dir=data)
    assert "broken.json" in table.stdout and "unchanged" in table.stdout


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_ingest_killed_midway_leaves_previous_index_answering(settings, embeddings, corpus):
    first = _ingest(settings, embeddings, corpus)
    big = corpus / "resources" / "big.csv"
    rows = "\n".join(
        f"R{i},Instrument number {i} for testing batch {i % 97},Owner {i % 13},RMB {i} per hour" for i in range(2000)
    )
    big.write_text("id,instrument,owner,fee\n" + rows + "\n", encoding="utf-8")
    env = {**os.environ, "DATA_DIR": str(settings.data_dir)}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "ingest.py"), str(corpus)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    index = settings.data_dir / "index"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len([p for p in index.iterdir() if p.is_dir()]) < 2:
        time.sleep(0.05)
    time.sleep(0.5)  # let it write part of the new generation
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert make_store(settings).current().generation == first.generation  # type: ignore[union-attr]
    assert _top_sources(settings, embeddings, "NMR spectrometer hourly fee")[0] == "resources/equipment.csv#2"
    report = _ingest(settings, embeddings, corpus)
    assert report.published and "resources/big.csv" in report.added
    assert sorted(p.name for p in index.iterdir() if p.is_dir()) == sorted([first.generation, report.generation])


def _vector_sizes(settings: Settings) -> set[int]:
    store = make_store(settings)
    collection = store.open(store.current().generation)  # type: ignore[union-attr]
    return {len(vector) for vector in collection.get(include=["embeddings"])["embeddings"]}


def test_a_different_embedding_model_rebuilds_everything_and_never_mixes_vectors(settings, embeddings, corpus):
    first = _ingest(settings, embeddings, corpus)
    other = DeterministicFakeEmbedding(size=64)
    switched = Ingest(make_store(settings), other).run([corpus])
    assert sorted(switched.added) == sorted(first.added) and not switched.unchanged
    assert switched.published and switched.embedded == first.chunks
    assert make_store(settings).current().embedding_model == "DeterministicFakeEmbedding"  # type: ignore[union-attr]
    assert _vector_sizes(settings) == {64}
    with pytest.raises(IndexMissing, match="--rebuild"):
        _top_sources(settings, embeddings, "NMR spectrometer hourly fee")
    back = _ingest(settings, embeddings, corpus)
    assert len(back.added) == 3 and back.embedded == first.chunks
    assert _vector_sizes(settings) == {512}
    assert _top_sources(settings, embeddings, "NMR spectrometer hourly fee")[0] == "resources/equipment.csv#2"


def test_an_index_read_by_an_older_version_is_rebuilt_not_mixed(settings, embeddings, corpus):
    first = _ingest(settings, embeddings, corpus)
    store = make_store(settings)
    store.publish(store.current().model_copy(update={"reading": READING - 1}))  # type: ignore[union-attr]
    again = _ingest(settings, embeddings, corpus)
    assert sorted(again.added) == sorted(first.added) and not again.unchanged and again.published
    # said in the summary, not only in a log line: otherwise every file "added" looks like a new knowledge base
    assert (
        again.rebuilt
        == f"this version reads files differently ({READING - 1}, now {READING}): every file is read again"
    )
    assert make_store(settings).current().reading == READING  # type: ignore[union-attr]
    assert _ingest(settings, embeddings, corpus).unchanged  # and then incremental again


def _served(settings: Settings) -> tuple[str, list[str]]:
    store = make_store(settings)
    generation = store.current().generation  # type: ignore[union-attr]
    return generation, sorted(store.open(generation).get(include=["documents"])["documents"])


@pytest.mark.parametrize(
    "changed", [["policies/vouchers.md"], ["policies/vouchers.md", "resources/equipment.csv"]], ids=["one", "most"]
)
def test_a_reingest_builds_on_the_served_index_without_touching_it(settings, embeddings, corpus, changed):
    _ingest(settings, embeddings, corpus)
    before = _served(settings)
    for rel in changed:
        path = corpus / rel
        path.write_text(path.read_text(encoding="utf-8").replace("RMB", "CNY"), encoding="utf-8")
    report = _ingest(settings, embeddings, corpus)
    assert sorted(report.updated) == changed and report.published
    store = make_store(settings)
    assert sorted(store.open(before[0]).get(include=["documents"])["documents"]) == before[1]  # the old one unchanged
    after = _served(settings)[1]
    assert len(after) == len(before[1]) and not any("RMB 186,400" in text for text in after)
    assert any("CNY 186,400" in text for text in after) and any("3,400" in text for text in after)
    assert any("RMB 780" in text for text in after) == ("resources/equipment.csv" not in changed)
    assert _top_sources(settings, embeddings, "NMR spectrometer hourly fee")[0] == "resources/equipment.csv#2"


def test_an_index_without_a_manifest_is_still_reingested_incrementally(settings, embeddings, corpus):
    first = _ingest(settings, embeddings, corpus)
    (settings.data_dir / "index" / first.generation / "ingest-manifest.json").unlink()  # type: ignore[operator]
    (corpus / "resources" / "equipment.csv").write_text(EQUIPMENT.replace("780", "820"), encoding="utf-8")
    report = _ingest(settings, embeddings, corpus)
    assert report.updated == ["resources/equipment.csv"] and len(report.unchanged) == 2
    assert report.chunks == first.chunks and report.embedded == 2  # its two rows
    assert _ingest(settings, embeddings, corpus).unchanged  # the new generation has its manifest again
