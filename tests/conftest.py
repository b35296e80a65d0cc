"""Shared fixtures: one real index of the dev corpus per test session, settings pointing at it."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.core.assistant import Assistant
from bot.core.components import build_assistant
from knowledge.embeddings import LocalEmbeddings
from knowledge.indexing import Ingest
from knowledge.retrieve import HybridSearcher
from knowledge.settings import SAMPLE_KNOWLEDGE, Settings
from knowledge.store import make_store
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared"))
DEV_CORPUS = SHARED / "eval" / "dev" / "corpus"
DEV_QUESTIONS = SHARED / "eval" / "dev" / "questions.yaml"
STAFF_CHAT = -100900  # the staff group every fake Bot API knows


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test: no `.env`, no environment leaking in beyond what the test passes."""
    return Settings(data_dir=data_dir, _env_file=None, **overrides)  # type: ignore[call-arg]


def write_files(root: Path, files: dict[str, str]) -> Path:
    """A knowledge folder holding `files` (path relative to `root` -> text)."""
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body, encoding="utf-8")
    return root


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any of the project's settings, plus `overrides`: for subprocesses."""
    fields = {name.upper() for name in Settings.model_fields}
    return {key: value for key, value in os.environ.items() if key not in fields} | overrides


def interruptible() -> None:
    """For `preexec_fn`: the child takes Ctrl-C (SIGINT) as a command run from a terminal does. A suite started in
    the background by a non-interactive shell, as CI may start it, passes on SIGINT ignored, and Python then never
    raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="session")
def local_embeddings() -> LocalEmbeddings:
    """The bundled model, loaded once."""
    return LocalEmbeddings()


def _indexed(factory: pytest.TempPathFactory, embeddings: LocalEmbeddings, name: str, corpus: Path) -> Path:
    data_dir = factory.mktemp(name)
    report = Ingest(make_store(make_settings(data_dir)), embeddings).run([corpus])
    assert report.failed == [], report.failed
    return data_dir


@pytest.fixture(scope="session")
def dev_data_dir(tmp_path_factory: pytest.TempPathFactory, local_embeddings: LocalEmbeddings) -> Path:
    """A data folder holding an index of the dev corpus (built once, read-only for tests)."""
    return _indexed(tmp_path_factory, local_embeddings, "dev-index", DEV_CORPUS)


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory: pytest.TempPathFactory, local_embeddings: LocalEmbeddings) -> Path:
    """A data folder holding an index of the shipped sample knowledge base (built once, read-only for tests)."""
    return _indexed(tmp_path_factory, local_embeddings, "sample-index", SAMPLE_KNOWLEDGE)


@pytest.fixture(scope="session")
def sample_assistant(sample_data_dir: Path, local_embeddings: LocalEmbeddings) -> Assistant:
    """The assistant over the shipped sample knowledge base, rule files included (read-only questions)."""
    return build_assistant(make_settings(sample_data_dir), local_embeddings)


@pytest.fixture
def dev_settings(dev_data_dir: Path, tmp_path: Path) -> Settings:
    """Settings over the dev-corpus index, embedded store, no LLM; the bot's database is the test's own."""
    return make_settings(dev_data_dir, knowledge_sources=[DEV_CORPUS], database_url=f"sqlite:///{tmp_path / 'bot.db'}")


@pytest.fixture(scope="module")
def searcher(dev_data_dir: Path, local_embeddings: LocalEmbeddings) -> HybridSearcher:
    """Retrieval over the dev index, loaded once per module: each test builds its own assistant or bot on it."""
    return HybridSearcher(make_store(make_settings(dev_data_dir)), local_embeddings)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    """A fresh OpenAI-compatible server on 127.0.0.1 with its default reply; tests script it as they need."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    """The fake Bot API; the test fails if the bot sent anything Telegram would refuse or left a button unanswered."""
    fake = FakeTelegram()
    await fake.start()
    fake.group(STAFF_CHAT, "GOI staff")
    yield fake
    await fake.close()
    assert fake.violations == [], "\n".join(fake.violations)
    assert fake.unanswered_callbacks() == [], "every button press must be answered"
