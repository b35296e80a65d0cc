"""Server mode against a real `chroma run`: ingest, answers, several processes, new generations, an outage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from bot.core.assistant import Assistant
from bot.core.components import build_assistant
from bot.core.texts import text
from knowledge.embeddings import LocalEmbeddings
from knowledge.indexing import Ingest
from knowledge.retrieve import HybridSearcher
from knowledge.settings import Settings
from knowledge.store import StoreUnavailable, make_store
from tests.chroma_server import ChromaServer, running_server
from tests.conftest import DEV_CORPUS, ROOT, make_settings

# A Chroma server in a subprocess, filled by a real-model ingest: the slow run (scripts/test.sh) covers it.
pytestmark = pytest.mark.slow

HOUSING = "博士的租房补帖一个月给多少"  # sic: 补帖 is a common typo of 补贴
HOUSING_SOURCE = "policies/youth-housing-support.zh.md"
CHIP = "how much of our MPW shuttle cost does the chip fund cover?"
CHIP_SOURCE = "policies/integrated-circuit-fund.md"

VOUCHERS = "# Innovation vouchers\n\nEach company may use at most RMB 186,400 of vouchers per calendar year.\n"
CRYO = "# Cryo-electron microscope\n\nThe cryo-EM at Lingjing Biologics is booked at RMB 9,800 per day.\n"


@pytest.fixture(scope="session")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """One real Chroma server for the session, stopped at the end."""
    with running_server(tmp_path_factory.mktemp("chroma") / "db") as server:
        yield server


@pytest.fixture(scope="module")
def server_settings(
    chroma: ChromaServer, tmp_path_factory: pytest.TempPathFactory, local_embeddings: LocalEmbeddings
) -> Settings:
    """Settings for the server, with the dev corpus ingested into it once."""
    settings = make_settings(tmp_path_factory.mktemp("bot-data"), chroma_host="127.0.0.1", chroma_port=chroma.port)
    report = Ingest(make_store(settings), local_embeddings).run([DEV_CORPUS])
    assert report.published and report.failed == [], report.failed
    return settings


@pytest.fixture(scope="module")
def assistant(server_settings: Settings, local_embeddings: LocalEmbeddings) -> Assistant:
    return build_assistant(server_settings, local_embeddings)


def _process_env(chroma: ChromaServer, data_dir: Path, **extra: str) -> dict[str, str]:
    """Another process's environment: this server, its own data folder, none of the caller's settings."""
    fields = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key not in fields}
    return env | {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(chroma.port), "DATA_DIR": str(data_dir)} | extra


def test_index_lives_on_the_server(chroma: ChromaServer, server_settings: Settings) -> None:
    info = make_store(server_settings).current()
    assert info is not None
    client = chromadb.HttpClient(
        host="127.0.0.1", port=chroma.port, settings=ChromaSettings(anonymized_telemetry=False)
    )
    names = {c.name for c in client.list_collections()}
    assert {f"goi-{info.generation}", "goi-pointer"} <= names
    assert not (server_settings.data_dir / "index").exists(), "server mode must not touch the embedded store"


@pytest.mark.parametrize(
    ("question", "source", "fact"),
    [(HOUSING, HOUSING_SOURCE, "3,400"), (CHIP, CHIP_SOURCE, "")],
)
def test_answers_from_the_server(assistant: Assistant, question: str, source: str, fact: str) -> None:
    answer = assistant.answer_extractive(question)
    assert answer.answered, answer.answer
    assert answer.sources[0].path == source, [s.path for s in answer.sources]
    assert fact in answer.answer


def test_unchanged_reingest_publishes_nothing(server_settings: Settings, local_embeddings: LocalEmbeddings) -> None:
    store = make_store(server_settings)
    before = store.current()
    report = Ingest(store, local_embeddings).run([DEV_CORPUS])
    assert before is not None
    assert not report.published
    assert report.added == report.updated == report.removed == []
    assert len(report.unchanged) == before.files
    assert store.current() == before


@pytest.mark.usefixtures("server_settings")
def test_two_bot_processes_see_the_completed_ingest(chroma: ChromaServer, tmp_path: Path) -> None:
    questions = {"one": (HOUSING, HOUSING_SOURCE), "two": (CHIP, CHIP_SOURCE)}
    bots = {
        name: subprocess.Popen(
            [sys.executable, "-m", "bot", "ask", "--json", question],
            env=_process_env(chroma, tmp_path / name),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (question, _) in questions.items()
    }
    for name, bot in bots.items():
        out, err = bot.communicate(timeout=120)
        assert bot.returncode == 0, err[-2000:]
        answer = json.loads(out)
        assert answer["answered"] and answer["sources"][0]["path"] == questions[name][1], answer


def test_running_searcher_picks_up_a_generation_another_process_publishes(
    chroma: ChromaServer, tmp_path: Path, local_embeddings: LocalEmbeddings
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "vouchers.md").write_text(VOUCHERS, encoding="utf-8")
    settings = make_settings(
        tmp_path / "data", chroma_host="127.0.0.1", chroma_port=chroma.port, collection_prefix="pickup"
    )
    Ingest(make_store(settings), local_embeddings).run([kb])
    searcher = HybridSearcher(make_store(settings), local_embeddings, refresh_seconds=0.2)
    first = searcher.info.generation
    assert {p.source for p in searcher.search("cryo-EM day rate", k=5)} == {"vouchers.md"}

    (kb / "cryo-em.md").write_text(CRYO, encoding="utf-8")
    env = _process_env(chroma, tmp_path / "ingest-data", COLLECTION_PREFIX="pickup")
    done = subprocess.run(
        [sys.executable, str(ROOT / "ingest.py"), str(kb), "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["published"] and report["added"] == ["cryo-em.md"] and report["unchanged"] == ["vouchers.md"]

    deadline = time.monotonic() + 10
    while searcher.info.generation == first and time.monotonic() < deadline:
        time.sleep(0.1)
    assert searcher.info.generation == report["generation"]
    assert searcher.search("cryo-EM day rate", k=1)[0].source == "cryo-em.md"


def test_outage_refuses_politely_then_recovers_without_restart(
    chroma: ChromaServer, server_settings: Settings, assistant: Assistant, local_embeddings: LocalEmbeddings
) -> None:
    assert assistant.answer_extractive(CHIP).answered
    chroma.stop()
    try:
        down = assistant.answer_extractive(CHIP)
        assert not down.answered and down.answer == text("en", "store_down")
        started_during_outage = build_assistant(
            server_settings, local_embeddings
        )  # must not fail: the client connects lazily
        down_zh = started_during_outage.answer_extractive(HOUSING)
        assert not down_zh.answered and down_zh.answer == text("zh", "store_down")
        with pytest.raises(StoreUnavailable):
            Ingest(make_store(server_settings), local_embeddings).run([DEV_CORPUS])
    finally:
        chroma.start()
    assert assistant.answer_extractive(CHIP).sources[0].path == CHIP_SOURCE
    back = started_during_outage.answer_extractive(HOUSING)
    assert back.answered and "3,400" in back.answer


def test_a_changed_file_on_the_server_keeps_the_others_without_reembedding(
    chroma: ChromaServer, tmp_path: Path, local_embeddings: LocalEmbeddings
) -> None:
    settings = make_settings(
        tmp_path / "data", chroma_host="127.0.0.1", chroma_port=chroma.port, collection_prefix="chg"
    )
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "vouchers.md").write_text(VOUCHERS, encoding="utf-8")
    (folder / "cryo.md").write_text(CRYO, encoding="utf-8")
    Ingest(make_store(settings), local_embeddings).run([folder])
    (folder / "cryo.md").write_text(CRYO.replace("9,800", "10,200"), encoding="utf-8")
    report = Ingest(make_store(settings), local_embeddings).run([folder])
    assert report.updated == ["cryo.md"] and report.unchanged == ["vouchers.md"] and report.embedded == 1
    searcher = HybridSearcher(make_store(settings), local_embeddings, refresh_seconds=0)
    assert "10,200" in searcher.search("cryo-EM daily fee", k=1)[0].text
    assert "186,400" in searcher.search("innovation vouchers per year", k=1)[0].text
