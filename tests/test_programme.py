"""The programme's identity is data (programme.yaml): validated by ingest, reloaded with the index, neutral without."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from bot.core import interview
from bot.core.components import build_assistant
from bot.core.eligibility import EligibilityAdvisor
from bot.core.interview import Interview
from bot.core.llm import answer_messages
from bot.core.texts import EN, ZH, identity, text
from knowledge.embeddings import LocalEmbeddings
from knowledge.facts import FACTS
from knowledge.indexing import Ingest
from knowledge.programme import PROGRAMME_FILE, Programme, ProgrammeError, parse_programme
from knowledge.settings import SAMPLE_KNOWLEDGE
from knowledge.store import make_store
from tests.conftest import make_settings

SAMPLE = parse_programme(SAMPLE_KNOWLEDGE / PROGRAMME_FILE)
HARBOUR = """\
name: {en: Harbour Bay Founders programme, zh: 港湾创业者计划}
short_name: {en: HBF, zh: HBF}
district: {en: Harbour Bay District, zh: 港湾区}
contact:
  office: {en: HBF Help Desk, zh: HBF服务台}
  email: help@hbf.example.org
"""


def _placeholders(sentence: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(sentence) if name}


def test_the_english_and_chinese_tables_have_the_same_sentences_naming_the_programme_alike() -> None:
    assert sorted(EN) == sorted(ZH)
    named = set(identity("en", None))
    differing = [key for key in EN if _placeholders(EN[key]) & named != _placeholders(ZH[key]) & named]
    assert differing == []


def test_no_sentence_names_the_sample_programme() -> None:
    named = re.compile(r"GOI|Pudong|浦东|Shanghai|上海|goi-sample")
    assert [key for table in (EN, ZH) for key, sentence in table.items() if named.search(sentence)] == []


def test_without_a_programme_file_the_wording_is_neutral_and_names_no_contact() -> None:
    assert text("en", "not_found").endswith("or ask the programme's service centre.")
    assert text("zh", "curated") == "📌 项目团队整理的解答："
    assert "about the programme." in answer_messages("hi", "en", [])[0].content


def test_the_sample_programme_names_itself_its_office_and_contact() -> None:
    assert text("en", "not_found", SAMPLE).endswith("the GOI Service Centre (service@goi-sample.example.org).")
    assert text("en", "staff_reply", SAMPLE, text="ok") == "GOI team: ok"
    system = answer_messages("hi", "en", [], SAMPLE)[0].content
    assert "about the Pudong Group Open Innovation (GOI) programme." in system


def test_the_guided_check_asks_the_rule_files_fact_questions_in_the_programme_s_words(tmp_path: Path) -> None:
    assert all(spec.ask["en"] and spec.ask["zh"] for spec in FACTS.values())
    (tmp_path / PROGRAMME_FILE).write_text(HARBOUR, encoding="utf-8")
    harbour = parse_programme(tmp_path / PROGRAMME_FILE)
    schemes = [s for s in EligibilityAdvisor.from_sources([SAMPLE_KNOWLEDGE]).schemes if s.applies_to == "company"]
    start = Interview(language="en", subject="company", asking=None)
    asked = {}
    for programme in (harbour, None):
        state, prompt = start, None
        for _ in range(len(FACTS)):
            state, prompt = interview.next_prompt(state, schemes, programme)
            if prompt is None or prompt.fact == "registered_in_district":
                break
            state = interview.skip(state) or state
        assert prompt is not None and prompt.fact == "registered_in_district"
        asked[programme is not None] = prompt.text
    assert asked == {
        True: "Is your company registered in Harbour Bay District?",
        False: "Is your company registered in the programme's district?",
    }


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("name: {en: X}\n", "line 1: name.zh: Field required"),
        ("short_name: {en: A, zh: B}\ncontact:\n  office: {en: O, zh: O}\n  email: nobody\n", "line 4: contact.email"),
        (
            "topics:\n  - id: Housing Help\n    label: {en: H, zh: H}\n    question: {en: Q, zh: Q}\n",
            "line 2: topics.0.id",
        ),
        ("nmae: {en: X, zh: Y}\n", "line 1: nmae: Extra inputs are not permitted"),
        ("name: [unclosed\n", "not valid YAML (line 2): expected ',' or ']'"),
    ],
)
def test_a_mistake_in_programme_yaml_is_reported_with_its_key_and_line(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / PROGRAMME_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ProgrammeError, match=re.escape(problem)):
        parse_programme(tmp_path / PROGRAMME_FILE)


def test_ingest_lists_an_invalid_programme_file_and_never_indexes_it(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "about.md").write_text("# About\n\nThe programme funds robotics start-ups.\n", encoding="utf-8")
    broken = "short_name: {en: HBF}\ncontact:\n  office: {en: Desk, zh: 服务台}\n  email: nobody\n"
    (kb / PROGRAMME_FILE).write_text(broken, encoding="utf-8")
    report = Ingest(make_store(make_settings(tmp_path / "data")), DeterministicFakeEmbedding(size=32)).run([kb])
    [failure] = report.failed
    assert failure.path == PROGRAMME_FILE and "line 1: short_name.zh: Field required" in failure.reason
    assert "line 4: contact.email" in failure.reason  # every mistake at once
    assert PROGRAMME_FILE in [skipped.path for skipped in report.ignored] and report.added == ["about.md"]


async def test_a_programme_file_added_or_edited_is_used_after_the_next_ingest_without_a_restart(
    tmp_path: Path, local_embeddings: LocalEmbeddings
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "about.md").write_text("# About\n\nThe programme funds robotics start-ups.\n", encoding="utf-8")
    settings = make_settings(tmp_path / "data", knowledge_sources=[kb])
    ingest = Ingest(make_store(settings), local_embeddings)
    ingest.run([kb])
    assistant = build_assistant(settings)
    assistant.searcher.refresh_seconds = 0
    assert assistant.programme == Programme()  # neutral: no file yet

    (kb / PROGRAMME_FILE).write_text(HARBOUR, encoding="utf-8")
    assert ingest.run([kb]).published  # the programme file alone publishes a generation
    refused = await assistant.answer("陆家嘴附近哪家小笼包好吃？")
    assert "HBF服务台（help@hbf.example.org）" in refused.answer

    (kb / PROGRAMME_FILE).write_text(HARBOUR.replace("HBF Help Desk", "") + "  phone: 1\n", encoding="utf-8")
    assert ingest.run([kb]).published
    kept = await assistant.answer("陆家嘴附近哪家小笼包好吃？")
    assert "HBF服务台（help@hbf.example.org）" in kept.answer  # an invalid file is logged, the last good one stays
