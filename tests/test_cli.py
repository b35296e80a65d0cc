"""`python -m bot` as staff type it: options where they put them, nonsense refused with what is wrong, and a `--help`
that explains every option."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import _parser
from tests.conftest import clean_env, interruptible

ROOT = Path(__file__).resolve().parents[1]


def _bot(*argv: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env(DATA_DIR=str(data_dir / "elsewhere"))
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


def test_answers_take_data_dir_after_the_action_like_every_other_command(tmp_path: Path) -> None:
    """`answers import FAQ.csv --data-dir DIR` was 'unrecognized arguments: --data-dir'."""
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\nIs parking free for visitors?,Yes: two hours at gate 2.\n", encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    imported = _bot("answers", "import", str(faq), "--data-dir", str(data), data_dir=tmp_path)
    assert imported.returncode == 0, imported.stderr
    listed = _bot("answers", "export", "--data-dir", str(data), data_dir=tmp_path)
    assert "Is parking free for visitors?,Yes: two hours at gate 2." in listed.stdout
    assert not (tmp_path / "elsewhere").exists(), "the DATA_DIR setting was not used instead"
    before = _bot("--data-dir", str(data), "answers", "export", data_dir=tmp_path)
    assert before.stdout == listed.stdout, "--data-dir before the command still works"


@pytest.mark.parametrize(
    "argv", [["answers", "import", "faq.csv"], ["answers", "list"], ["report"], ["gaps"], ["ask", "How much?"]]
)
def test_a_data_dir_that_does_not_exist_is_named_and_not_created(tmp_path: Path, argv: list[str]) -> None:
    """A typo in --data-dir made an empty folder: 'imported 1 answers' the bot never served, a report of no questions,
    or a traceback from SQLite."""
    (tmp_path / "faq.csv").write_text("question,answer\nIs parking free?,Yes.\n", encoding="utf-8")
    typo = tmp_path / "dta"
    done = _bot(
        *[str(tmp_path / a) if a.endswith(".csv") else a for a in argv], "--data-dir", str(typo), data_dir=tmp_path
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"no such data folder: {typo} (where the bot and ingest.py keep their data); check --data-dir" in done.stderr
    assert not typo.exists()


@pytest.mark.parametrize("command", ["gaps", "report"])
@pytest.mark.parametrize(("days", "why"), [("0", "must be 1 or more"), ("-3", "must be 1 or more"), ("week", "not a")])
def test_a_number_of_days_below_one_is_refused_with_what_is_wrong(
    tmp_path: Path, command: str, days: str, why: str
) -> None:
    """It listed nothing and exited 0, as if nothing had gone wrong in that many days."""
    done = _bot(command, "--days", days, data_dir=tmp_path)
    assert done.returncode == 2 and f"argument --days: {why}" in done.stderr


def test_a_chart_named_other_than_png_is_refused(tmp_path: Path) -> None:
    """`--chart hourly.jpg` wrote PNG bytes under a .jpg name."""
    done = _bot("report", "--chart", str(tmp_path / "hourly.jpg"), data_dir=tmp_path)
    assert (
        done.returncode == 2 and "the chart is a PNG: give a file name ending in .png, not 'hourly.jpg'" in done.stderr
    )
    assert not (tmp_path / "hourly.jpg").exists()


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:  # argparse keeps its subcommands here only
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += _parsers(child)
    return found


def test_every_option_and_argument_of_every_command_says_what_it_is() -> None:
    """`ask --help` showed a bare `--json`, `--data-dir DATA_DIR_SUB` and `question` with no word on what they do."""
    silent = [
        f"{parser.prog} {action.dest}"
        for parser in _parsers(_parser())
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert silent == []
    assert all("DATA_DIR_SUB" not in parser.format_help() for parser in _parsers(_parser()))


def test_eval_table_names_every_figure_in_80_columns(
    sample_data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a column a figure, an 80-column terminal showed 'rec…', 'abs…', 'co…': no figure could be told apart."""
    from bot.cli import main
    from knowledge.settings import SAMPLE_KNOWLEDGE, get_settings

    monkeypatch.setenv("COLUMNS", "80")
    for name in ("DATABASE_URL", "KNOWLEDGE_SOURCES", "OPENAI_API_KEY", "CHROMA_HOST"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        assert main(["eval", str(SAMPLE_KNOWLEDGE / "checks.yaml"), "--data-dir", str(sample_data_dir)]) == 0
    finally:
        get_settings.cache_clear()
    shown = capsys.readouterr().out
    assert "…" not in shown
    for figure in ("recall@1", "recall@3", "abstain_precision", "confidently_wrong", "p95_ms"):
        assert f"│ {figure} " in shown


@pytest.mark.slow  # a real subprocess loading the bundled model
def test_ctrl_c_in_the_console_leaves_with_one_line_not_a_traceback(tmp_path: Path) -> None:
    import signal

    (tmp_path / "data").mkdir()
    env = clean_env(DATA_DIR=str(tmp_path / "data"))
    chat = subprocess.Popen(
        [sys.executable, "-m", "bot", "console"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        text=True,
        preexec_fn=interruptible,
    )
    assert chat.stdout is not None and "Assistant console" in chat.stdout.readline()  # waiting for a question
    chat.send_signal(signal.SIGINT)
    _out, err = chat.communicate(timeout=60)
    assert chat.returncode == 130 and "Traceback" not in err
    assert err.strip().endswith("python -m bot console: interrupted")
