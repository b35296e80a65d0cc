"""Commands start at once and install as locked: lazy imports, entry points, a lock that matches pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("chromadb", "langchain_core", "jieba", "telegram", "rich", "pydantic_settings")


def test_importing_ingest_loads_no_heavy_library() -> None:
    probe = f"import sys, ingest; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize(("script", "usage"), [("goi-bot", "usage: python -m bot"), ("goi-ingest", "usage: ingest.py")])
def test_the_entry_points_are_installed_and_answer_help(script: str, usage: str) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / script), "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.startswith(usage)


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=~!;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_pinned_in_the_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = {_name(line) for line in lock.splitlines() if "==" in line and not line.startswith((" ", "#"))}
    assert wanted - pinned == set(), "run scripts/lock.sh after editing pyproject.toml's dependencies"
