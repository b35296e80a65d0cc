"""Start-up benchmark: each command's whole process, from exec to exit, beside its target (issue 17).

    .venv/bin/python bench/startup.py [--runs 5] [--json]

`--help` of every command must answer in 0.5 s; re-ingesting an unchanged folder (the sample knowledge, indexed
once into a temporary data folder before timing) in 1.5 s. Each figure is the median of the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "knowledge" / "sample"
HELP_TARGET = 0.5
UNCHANGED_TARGET = 1.5
BIN = Path(sys.executable).parent

# Issue 17's baseline, measured before the imports were made lazy.
BASELINE = {"ingest.py --help": 3.0, "python -m bot qr --help": 6.0}


def _commands(data_dir: Path) -> list[tuple[str, list[str], float]]:
    python = [sys.executable]
    helps = [
        ("ingest.py --help", [*python, "ingest.py", "--help"]),
        ("goi-ingest --help", [str(BIN / "goi-ingest"), "--help"]),
        ("python -m bot --help", [*python, "-m", "bot", "--help"]),
        ("goi-bot --help", [str(BIN / "goi-bot"), "--help"]),
        *(
            (f"python -m bot {name} --help", [*python, "-m", "bot", name, "--help"])
            for name in ("console", "telegram", "serve", "qr", "report", "ask", "eval")
        ),
    ]
    reingest = [*python, "ingest.py", str(SAMPLE), "--data-dir", str(data_dir), "--json"]
    timed = [(name, argv, HELP_TARGET) for name, argv in helps]
    return [*timed, ("re-ingest unchanged sample", reingest, UNCHANGED_TARGET)]


def _seconds(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    """Time every command and print a table (or JSON); exit 1 when a median misses its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TELEGRAM_", "CHROMA_"))}
    env["EMBEDDING_PROVIDER"] = "local"
    with tempfile.TemporaryDirectory(prefix="goi-startup-") as tmp:
        data_dir = Path(tmp)
        subprocess.run(
            [sys.executable, "ingest.py", str(SAMPLE), "--data-dir", str(data_dir), "--json"],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
        rows = []
        for name, argv, target in _commands(data_dir):
            median = statistics.median(_seconds(argv, env) for _ in range(args.runs))
            baseline = BASELINE.get(name)
            rows.append({"command": name, "seconds": round(median, 3), "target": target, "baseline": baseline})
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'command':34} {'median s':>9} {'target s':>9} {'issue baseline s':>17}")
        for row in rows:
            baseline = "" if row["baseline"] is None else f"{row['baseline']:.1f}"
            ok = "ok" if row["seconds"] <= row["target"] else "MISSED"
            print(f"{row['command']:34} {row['seconds']:9.3f} {row['target']:9.1f} {baseline:>17}  {ok}")
        print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0 if all(row["seconds"] <= row["target"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
