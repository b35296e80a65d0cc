"""`ingest.py` as staff run it: a run cut short (Ctrl-C, a wrong folder, a second ingest) says what it left, with the
right exit code, and `--json` still prints one JSON object."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from knowledge.indexing import Ingest
from knowledge.store import make_store
from tests.conftest import clean_env, interruptible, make_settings, write_files

ROOT = Path(__file__).resolve().parents[1]
INGEST = [sys.executable, str(ROOT / "ingest.py")]


def _listing(rows: int) -> str:
    return "name,fee\n" + "".join(f"Instrument {n},RMB {n * 7} per hour for booked slot {n}\n" for n in range(rows))


@pytest.mark.slow  # a real ingest with the bundled model, interrupted
def test_ctrl_c_half_way_says_nothing_was_published_and_the_served_index_stays(tmp_path: Path) -> None:
    """It printed a traceback from inside Chroma and exited -2, with no JSON."""
    kb = write_files(tmp_path / "kb", {"rent.md": "# Rent\n\nA doctor receives RMB 2,500 a month.\n"})
    settings = make_settings(tmp_path / "data")
    store = make_store(settings)
    served = Ingest(store, DeterministicFakeEmbedding(size=16)).run([kb]).generation
    (kb / "instruments.csv").write_text(_listing(5_000), encoding="utf-8")
    env = clean_env(DATA_DIR=str(tmp_path / "data"), EMBEDDING_PROVIDER="local")
    command = [*INGEST, str(kb), "--rebuild", "--json"]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, preexec_fn=interruptible)
    index = tmp_path / "data" / "index"
    deadline = time.monotonic() + 120
    while len([p for p in index.iterdir() if p.is_dir()]) < 2 and time.monotonic() < deadline:  # building started
        time.sleep(0.2)
    time.sleep(1)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130 and b"Traceback" not in err
    said = f"interrupted: nothing was published, the bot still serves {served}"
    assert json.loads(out) == {"error": f"{said}; the next ingest removes the unfinished generation", "exit_code": 130}
    assert said.encode() in err
    info = make_store(settings).current()
    assert info is not None and info.generation == served
    assert make_store(settings).open(served).count() == 1, "the served generation still holds its passage"


def test_a_folder_that_does_not_exist_is_exit_2_and_still_json(tmp_path: Path) -> None:
    env = clean_env(DATA_DIR=str(tmp_path / "data"))
    missing = tmp_path / "Knowledge Base"
    done = subprocess.run([*INGEST, str(missing), "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert json.loads(done.stdout) == {"error": f"no such file or folder: {missing}", "exit_code": 2}
    assert f"ingest.py: no such file or folder: {missing}" in done.stderr


def test_a_second_ingest_while_one_runs_says_to_wait_and_changes_nothing(tmp_path: Path) -> None:
    kb = write_files(tmp_path / "kb", {"rent.md": "# Rent\n\nA doctor receives RMB 2,500 a month.\n"})
    store = make_store(make_settings(tmp_path / "data"))
    env = clean_env(DATA_DIR=str(tmp_path / "data"), EMBEDDING_PROVIDER="local")
    with store.writer_lock():  # the first ingest, still running
        done = subprocess.run([*INGEST, str(kb), "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error.startswith("another ingest is running on this data folder (")
    assert error.endswith("nothing was changed; wait for it to finish, then run this one again")
    assert store.current() is None


def test_a_missing_folder_from_the_settings_says_it_came_from_knowledge_sources(tmp_path: Path) -> None:
    """Without a path on the command line, staff did not know where the folder in the error came from."""
    gone = tmp_path / "mnt" / "knowledge"
    env = clean_env(DATA_DIR=str(tmp_path / "data"), KNOWLEDGE_SOURCES=str(gone))
    done = subprocess.run([*INGEST], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert f"no such file or folder: {gone} (from KNOWLEDGE_SOURCES: set it, or give the folder)" in done.stderr


def test_a_library_imported_after_logging_is_set_up_does_not_print_debug_lines(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """bm25s sets its logger to DEBUG when imported, which the heavy imports do after setup: every ingest and `ask`
    printed 'DEBUG bm25s Building index from tokens' among the staff's output."""
    import logging

    from knowledge.logs import setup_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging(make_settings(tmp_path, log_level="INFO"))
        logging.getLogger("bm25s").setLevel(logging.DEBUG)  # what bm25s/__init__.py does, imported after setup
        logging.getLogger("bm25s").debug("Building index from tokens")
        logging.getLogger("knowledge.indexing").info("ingest done")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capfd.readouterr().err
    assert "ingest done" in err and "Building index" not in err


@pytest.mark.parametrize("broken", ["data", "data/index"])
def test_a_data_folder_that_is_a_file_is_named_not_a_traceback(tmp_path: Path, broken: str) -> None:
    """--data-dir README.md, or a data folder whose index/ is a file, ended in NotADirectoryError's traceback."""
    kb = write_files(tmp_path / "kb", {"rent.md": "# Rent\n\nA doctor receives RMB 2,500 a month.\n"})
    (tmp_path / broken).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / broken).write_text("not a folder", encoding="utf-8")
    env = clean_env(DATA_DIR=str(tmp_path / "data"), EMBEDDING_PROVIDER="local")
    done = subprocess.run([*INGEST, str(kb), "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in done.stderr
    error = json.loads(done.stdout)["error"]
    if broken == "data":
        assert done.returncode == 2
        assert error == f"the data folder {tmp_path / 'data'} is a file; give a folder (--data-dir or DATA_DIR)"
    else:
        assert done.returncode == 1
        assert error.startswith(f"Not a directory: {tmp_path / 'data' / 'index'}")
