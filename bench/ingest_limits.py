"""Ingest limits, each measured on a whole `ingest.py` process (model loading included) with its own peak RSS.

    .venv/bin/python bench/ingest.py --limits [--listing-rows 200000] [--policies 2000] [--kill]

Targets (issue 13): a 200,000-row listing <= 600 MB and <= 15 min; 2,000 policy files <= 600 MB and the re-ingest
of one changed file <= 3 s; a kill at a random moment leaves the served index answering as before. The small
hostile inputs of issue 18 (alias bombs, a 967 KB record) are measured by bench/bounds.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from knowledge.embeddings import LocalEmbeddings
from knowledge.manifest import load_manifest
from knowledge.retrieve import HybridSearcher
from knowledge.settings import Settings
from knowledge.store import make_store

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 600
POLICY = "# Rent subsidy\n\nA doctor receives RMB {amount} a month for at most 24 months.\n"
QUERIES = ("rent subsidy for a doctor", "Lathe 17 fee", "博士租房补贴")
# What issue 13 measured before this work, shown beside each case.
BASELINE = {
    "listing": "897 MB, 438 s at load 2.2 (one vector a row); first 1.7 GB after 1 min and growing",
    "policies": "590 s, 293 MB (load 7-13)",
    "reingest": "14.3 s whole process (load 7-13)",
    "kill": "small case only (tests/test_faults.py)",
    "serving": "not measured",
}


def ingest_process(folder: Path, data: Path, *flags: str, kill_after: float | None = None) -> dict[str, Any]:
    """Run `ingest.py FOLDER --json` and measure it: wall seconds, its own peak RSS, exit code, summary. Listings
    are embedded one view a row whatever their size, so a short listing's figures extrapolate to a long one's."""
    command = [sys.executable, str(ROOT / "ingest.py"), str(folder), "--json", *flags]
    return measured(command, data, kill_after)


def measured(command: list[str], data: Path, kill_after: float | None = None) -> dict[str, Any]:
    """Run one command of ours on DATA_DIR `data` and measure it (see ingest_process); `summary` is its JSON."""
    env = {**os.environ, "DATA_DIR": str(data), "EMBEDDING_PROVIDER": "local", "LOG_LEVEL": "WARNING"}
    env["INGEST_LEAN_LISTING_BYTES"] = "0"
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    if kill_after is not None:
        time.sleep(kill_after)
        child.send_signal(signal.SIGKILL)
    out = child.stdout.read() if child.stdout else b""  # type: ignore[union-attr]
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    summary = json.loads(out) if out.strip() else {}
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "rss_mb": round(usage.ru_maxrss / 1024),  # KiB on Linux
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),  # what the run cost whatever else the machine ran
        "load": round(os.getloadavg()[0], 1),
        "exit": child.returncode,
        "summary": summary,
    }


def _listing(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id,name,fee\n")
        for n in range(1, rows + 1):
            handle.write(f"EQ-{n},Lathe {n},RMB {n % 97 + 3} per hour\n")


def _policies(folder: Path, files: int) -> None:
    """Mixed formats: Markdown with front matter, plain text, HTML; English and Chinese."""
    rng = random.Random(files)
    for n in range(files):
        amount = rng.randint(1, 90) * 100
        body = f"Article {n}. Companies in sector {n % 17} receive RMB {amount} for testing fees, once a year.\n"
        zh = f"第{n}条 第{n % 17}类企业每年可申请检测费用补贴{amount}元。\n"
        kind = n % 3
        if kind == 0:
            text = f"---\ntitle: Policy {n}\nlanguage: en, zh\n---\n# Policy {n}\n\n{body}\n{zh}"
            (folder / f"policy-{n:04d}.md").write_text(text, encoding="utf-8")
        elif kind == 1:
            (folder / f"policy-{n:04d}.txt").write_text(f"Policy {n}\n\n{body}", encoding="utf-8")
        else:
            html = f"<html lang='zh'><title>政策{n}</title><body><h1>政策{n}</h1><p>{zh}</p></body></html>"
            (folder / f"policy-{n:04d}.html").write_text(html, encoding="utf-8")


def _answers(data: Path) -> list[list[tuple[str, str]]]:
    """What the served index answers to a few questions (top 3 passages: source and text)."""
    settings = Settings(data_dir=data, _env_file=None)  # type: ignore[call-arg]
    searcher = HybridSearcher(make_store(settings), LocalEmbeddings(), refresh_seconds=0)
    return [[(p.source_key, p.text) for p in searcher.search(q, k=3)] for q in QUERIES]


def _vectors(data: Path) -> int:
    """Entries (vectors) in the served generation, from its manifest: opening it would load its index here."""
    store = make_store(Settings(data_dir=data, _env_file=None))  # type: ignore[call-arg]
    info = store.current()
    files = load_manifest(store, info.generation) if info else None
    return sum(file.entries for file in (files or {}).values())


def _row(table: Table, case: str, run: dict[str, Any], target: str, met: bool, note: str, baseline: str) -> None:
    summary = run["summary"]
    reason = "; ".join(f"{f['path']}: {f['reason']}" for f in summary.get("failed", []))
    own = summary.get("seconds", "")
    verdict = "met" if met else "MISSED"
    cells = (case, run["seconds"], own, run["cpu_s"], run["rss_mb"], run["load"], run["exit"], target, verdict)
    table.add_row(*map(str, cells), note or reason, BASELINE[baseline])


def _many(work: Path, files: int, table: Table) -> None:
    folder = work / "policies"
    folder.mkdir()
    _policies(folder, files)
    data = work / "data-policies"
    run = ingest_process(folder, data)
    _row(
        table,
        f"{files:,} policy files",
        run,
        "<= 600 MB",
        run["rss_mb"] <= LIMIT_MB,
        f"{run['summary'].get('chunks')} chunks",
        "policies",
    )
    changed = folder / "policy-0001.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\nAmended: applications close on 20 December.\n")
    again = ingest_process(folder, data)
    ok = again["seconds"] <= 3 and again["summary"].get("updated") == [changed.name]
    _row(table, "  re-ingest, one file changed", again, "<= 3 s whole process", ok, "", "reingest")


def _long(work: Path, rows: int, kill: bool, table: Table) -> None:
    folder = work / "listing"
    folder.mkdir()
    (folder / "rent.md").write_text(POLICY.format(amount="2,500"), encoding="utf-8")
    data = work / "data-listing"
    ingest_process(folder, data)  # what is served before the long listing arrives
    before, pointer = _answers(data), (data / "index" / "current.json").read_bytes()
    _listing(folder / "equipment.csv", rows)
    if kill:
        moment = random.uniform(5, 60)
        killed = ingest_process(folder, data, kill_after=moment)
        same = _answers(data) == before and (data / "index" / "current.json").read_bytes() == pointer
        note = f"killed at {moment:.0f} s; served index answers {'exactly as before' if same else 'DIFFERENTLY'}"
        _row(table, "  kill -9 mid-ingest", killed, "answers unchanged", same, note, "kill")
    run = ingest_process(folder, data)
    rate = rows / run["seconds"]
    ok = run["rss_mb"] <= LIMIT_MB and run["seconds"] <= 15 * 60
    summary = run["summary"]
    chunks, embedded = summary.get("chunks"), summary.get("embedded")
    note = f"{rate:.0f} rows/s; {chunks} chunks, {embedded} embedded, {_vectors(data)} vectors"
    _row(table, f"{rows:,}-row listing", run, "<= 600 MB, 15 min", ok, note, "listing")
    _serving(data, rows, table)


def _serving(data: Path, rows: int, table: Table) -> None:
    """The assistant loading that index and answering from it, in a process of its own (`python -m bot ask`)."""
    row = rows // 2 + 1
    asked = measured([sys.executable, "-m", "bot", "ask", "--json", f"Lathe {row} fee"], data)
    sources = [source.get("row") for source in asked["summary"].get("sources", [])]
    found = bool(sources) and str(sources[0]) == str(row)
    note = f"'Lathe {row} fee' cites row {sources[0] if sources else 'nothing'}"
    _row(table, "  the bot answering from it", asked, "<= 500 MB", found and asked["rss_mb"] <= 500, note, "serving")


def run_limits(rows: int, policies: int, *, kill: bool) -> int:
    """Run every case and print one table; exit 0 whatever the figures (they are for reading)."""
    table = Table(
        title=f"Ingest limits, whole ingest.py processes (load average {os.getloadavg()[0]:.1f}, 2 cores shared)"
    )
    columns = ("case", "wall s", "ingest s", "CPU s", "peak RSS MB", "load", "exit", "target", "", "notes", "baseline")
    for column in columns:
        table.add_column(column, justify="left" if column in ("case", "target", "notes", "baseline") else "right")
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp:
        work = Path(tmp)
        if policies:
            _many(work, policies, table)
        if rows:
            _long(work, rows, kill, table)
    table.caption = "load = 1-minute load average when the run ended; CPU s = the process's own user + system time"
    Console(width=200).print(table)
    return 0
