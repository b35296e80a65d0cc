"""bench/answer.py run as staff would run it, on a small evaluation set written here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

BENCH = ROOT / "bench" / "answer.py"
# Each run starts three fresh interpreters that load the embedding model; slow on a busy 2-core machine.
pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]  # runs the answer benchmark in subprocesses
DESK = """# Coworking Desk Subsidy

The programme pays 60% of a hot-desk fee, up to RMB 3,000 per month, for at most twelve months.
Apply through the service window with a signed desk contract.
"""
LAB = """# Shared Laboratory Access

Member startups may book the shared wet lab on weekdays from 9:00 to 18:00.
A booking cancelled less than 24 hours ahead is charged in full.
"""
QUESTIONS = [
    {
        "id": "d1",
        "question": "How much of the hot-desk fee is paid, and up to what amount?",
        "lang": "en",
        "kind": "fact",
        "sources": ["desk.md"],
        "facts": [["60%"], ["3,000"]],
    },
    {
        "id": "a1",
        "question": "What is the weather like on Mars in July?",
        "lang": "en",
        "kind": "abstain",
        "sources": [],
        "facts": [],
    },
]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=600, cwd=ROOT, check=False
    )


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An evaluation folder in the dev set's layout: corpus/ and questions.yaml."""
    root = tmp_path_factory.mktemp("eval")
    (root / "corpus").mkdir()
    (root / "corpus" / "desk.md").write_text(DESK, encoding="utf-8")
    (root / "corpus" / "lab.md").write_text(LAB, encoding="utf-8")
    (root / "questions.yaml").write_text(yaml.safe_dump(QUESTIONS), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index folder both runs share, so the second reuses the first's ingest."""
    return tmp_path_factory.mktemp("index")


def test_json_report_scores_both_systems_against_the_targets(eval_dir: Path, index_dir: Path) -> None:
    result = _bench(str(eval_dir), "--data-dir", str(index_dir), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    ours, baseline = report["ours"]["summary"], report["baseline"]["summary"]
    # The plain recipe finds the one document that answers, quotes whole chunks and never says "I don't know".
    assert baseline["all"]["recall@1"] == 1.0
    assert baseline["all"]["facts"] == 1.0
    assert baseline["all"]["abstain_recall"] == 0.0
    assert baseline["all"]["abstain_precision"] is None
    assert [q["answered"] for q in report["baseline"]["questions"]] == [True, True]
    assert {"all", "kind=fact", "kind=abstain", "lang=en"} <= set(ours)
    assert ours["all"]["questions"] == 2
    assert 0 < ours["all"]["rss_mb"] < 2000
    for metric, target in report["targets"].items():
        figure = ours["all"][metric]
        expected = figure is not None and (
            figure >= target["value"] if target["at_least"] else figure <= target["value"]
        )
        assert target["met"] == expected, metric
    assert (index_dir / "index").is_dir()


def test_table_shows_ours_beside_the_baseline_and_the_issue_figures(eval_dir: Path, index_dir: Path) -> None:
    result = _bench(str(eval_dir), "--data-dir", str(index_dir))
    assert result.returncode == 0, result.stderr
    table = result.stdout
    for heading in ("ours", "baseline (measured)", "baseline (issue)", "target", "kind=fact", "lang=en"):
        assert heading in table
    assert "0.73" in table and "3015" in table
    rows = {line.split("│")[1].strip(): line.split("│")[-2].strip() for line in table.splitlines() if "│" in line}
    assert rows["recall@1"] in ("met", "NOT met")
    assert rows["peak RSS (MB)"] in ("met", "NOT met")
    assert rows["MRR"] == ""  # the issue sets no target on it


def test_a_folder_without_questions_is_refused(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    result = _bench(str(tmp_path))
    assert result.returncode == 2
    assert "questions.yaml" in result.stderr
