"""Every benchmark script still starts: a refactor that moves what one imports breaks it before anyone runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, clean_env

SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if "__main__" in p.read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_a_benchmark_answers_help(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--help"], env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "usage" in done.stdout.lower(), done.stderr
