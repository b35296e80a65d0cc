"""The files staff edit beside the documents (curated.yaml, programme.yaml, glossary.yaml, checks.yaml, ...), with
the mistakes staff make: each is named with its line and what to do; none crashes ingest or the bot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from bot.core.curated import curated_problem
from knowledge.indexing import Ingest
from knowledge.programme import ProgrammeError, parse_programme
from knowledge.store import make_store
from tests.conftest import clean_env, make_settings, write_files

ROOT = Path(__file__).resolve().parents[1]
POLICY = "# Rent subsidy\n\nA doctor receives RMB 2,500 a month for at most 24 months.\n"
CURATED = """- id: rent-phd
  questions: {en: ["How much rent subsidy does a PhD get?"], zh: ["博士租房补贴多少？"]}
  answer: {en: "RMB 2,500 a month.", zh: 每月2500元。}
  sources: [{title: Rent subsidy, path: rent.md}]
"""
CHECKS = "- id: rent\n  question: How much rent subsidy does a doctor get?\n  sources: [rent.md]\n"


def _kb(tmp_path: Path, **files: str) -> Path:
    return write_files(tmp_path / "kb", {"rent.md": POLICY, **files})


def _fake_ingest(tmp_path: Path) -> Ingest:
    store = make_store(make_settings(tmp_path / "data"))
    return Ingest(store, DeterministicFakeEmbedding(size=16), curated_problem=curated_problem)


def test_a_tab_in_curated_yaml_is_that_files_failure_with_its_line(tmp_path: Path) -> None:
    kb = _kb(tmp_path, **{"curated.yaml": CURATED.replace("  answer:", "\tanswer:")})
    report = _fake_ingest(tmp_path).run([kb])
    assert [(f.path, f.reason) for f in report.failed] == [
        ("curated.yaml", "not valid YAML (line 3): found character '\\t' that cannot start any token")
    ]
    assert report.published and report.added == ["rent.md"], "the documents still ingest"


def test_a_curated_entry_of_the_wrong_shape_names_its_entry_and_key(tmp_path: Path) -> None:
    kb = _kb(
        tmp_path,
        **{"curated.yaml": CURATED.replace("sources: [{title: Rent subsidy, path: rent.md}]", "sources: rent.md")},
    )
    [failure] = _fake_ingest(tmp_path).run([kb]).failed
    assert failure.path == "curated.yaml" and failure.reason.startswith("entry 1 (rent-phd): sources:")


def test_a_programme_file_saved_in_gbk_says_so_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "programme.yaml"
    path.write_bytes("name: {en: Harbour Fund, zh: 港湾基金}\n".encode("gbk"))
    with pytest.raises(ProgrammeError, match=r"not UTF-8 text \(byte 0xb8 on line 1\): save the file as UTF-8$"):
        parse_programme(path)


@pytest.mark.slow  # real subprocesses and the bundled model
def test_a_curated_file_in_gbk_is_listed_by_ingest_and_the_bot_still_starts_and_answers(tmp_path: Path) -> None:
    """It crashed ingest with a traceback (no JSON), and the bot at its next start, until the file was fixed."""
    kb = _kb(tmp_path, **{"checks.yaml": CHECKS})
    (kb / "curated.yaml").write_bytes(CURATED.encode("gbk"))
    env = clean_env(DATA_DIR=str(tmp_path / "data"), EMBEDDING_PROVIDER="local")
    ingest = [sys.executable, str(ROOT / "ingest.py"), str(kb), "--json"]
    done = subprocess.run(ingest, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert summary["failed"] == [
        {"path": "curated.yaml", "reason": "not UTF-8 text (byte 0xb2 on line 2): save the file as UTF-8"}
    ]
    assert summary["published"] and summary["added"] == ["rent.md"]
    ask = [sys.executable, "-m", "bot", "ask", "How much rent subsidy does a doctor get a month?"]
    asked = subprocess.run(ask, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)
    assert asked.returncode == 0 and "Traceback" not in asked.stderr
    assert "2,500" in asked.stdout, "answered from the documents"
    assert "starting without rules, curated answers and programme until the file is fixed" in asked.stderr
    assert "curated.yaml: not UTF-8 text (byte 0xb2 on line 2)" in asked.stderr


PROGRAMME = "name: {en: Harbour Fund, zh: 港湾基金}\ncity: {en: Shanghai, zh: 上海}\ncity: {en: Beijing, zh: 北京}\n"


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("programme.yaml", PROGRAMME, "not valid YAML (line 3): key 'city' appears twice (first on line 2)"),
        ("curated.yaml", CURATED.replace("  answer:", "  answer: {en: x, zh: y}\n  answer:"), "(line 4): key 'answer'"),
        ("checks.yaml", CHECKS + "  question: How long is it paid?\n", "(line 4): key 'question' appears twice"),
        ("fees.yaml", "- fee: RMB 100\n  unit: hour\n  fee: RMB 200\n", "(line 3): key 'fee' appears twice"),
        ("about.md", "---\ntitle: About\nlanguage: en\ntitle: Rent\n---\n# About\n\nText.\n", "(line 4): key 'title'"),
    ],
)
def test_a_key_written_twice_is_named_with_both_lines_instead_of_the_last_silently_winning(
    tmp_path: Path, name: str, content: str, line: str
) -> None:
    kb = _kb(tmp_path, **{name: content})
    [failure] = _fake_ingest(tmp_path).run([kb]).failed
    assert failure.path == name and line in failure.reason


def test_a_running_bot_keeps_its_curated_answers_when_the_new_file_is_in_gbk(tmp_path: Path) -> None:
    """The bot reloads curated.yaml when a generation is published and keeps the previous answers on a CuratedError;
    a GBK file raised UnicodeDecodeError instead, which that reload did not catch: the question asked then failed."""
    from bot.core.curated import CuratedError, load_entries

    path = tmp_path / "curated.yaml"
    path.write_bytes(CURATED.encode("gbk"))
    with pytest.raises(CuratedError, match=r"curated.yaml: not UTF-8 text \(byte 0xb2 on line 2\)"):
        load_entries([path])


def test_a_mistake_in_vocabulary_yaml_names_its_line(tmp_path: Path) -> None:
    """It named the key alone ('place: Extra inputs are not permitted'), in a file of fifty lines."""
    vocabulary = "programme: [goi]\n\n# where firms are\nplace:\n  city: [shanghai, 上海]\n"
    kb = _kb(tmp_path, **{"vocabulary.yaml": vocabulary})
    [failure] = _fake_ingest(tmp_path).run([kb]).failed
    assert (failure.path, failure.reason) == ("vocabulary.yaml", "line 4: place: Extra inputs are not permitted")


def test_a_rule_file_copied_without_a_new_scheme_name_is_named_not_silently_skipped(tmp_path: Path) -> None:
    """Ingest said nothing; the bot read one of the two and skipped the other, with a line in its log."""
    import shutil

    from knowledge.settings import SAMPLE_KNOWLEDGE

    kb = tmp_path / "kb"
    shutil.copytree(SAMPLE_KNOWLEDGE, kb)
    rules = kb / "programmes"
    (rules / "voucher-topup-2027.yaml").write_text((rules / "voucher-topup.yaml").read_text(encoding="utf-8"))
    report = _fake_ingest(tmp_path).run([kb])
    assert [(f.path, f.reason) for f in report.failed] == [
        (
            "programmes/voucher-topup.yaml",
            "scheme 'voucher-topup' is already defined by programmes/voucher-topup-2027.yaml: "
            "give each rule file its own scheme:",
        )
    ]
