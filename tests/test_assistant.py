"""The answering core without an LLM: right answers with sources, refusals, languages, follow-ups."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.assistant import Assistant
from bot.core.components import build_assistant
from knowledge.indexing import Ingest
from knowledge.settings import SAMPLE_KNOWLEDGE
from knowledge.store import make_store
from tests.conftest import DEV_CORPUS, ROOT, make_settings


@pytest.fixture(scope="module")
def assistant(dev_data_dir, local_embeddings) -> Assistant:
    """One assistant over the dev index for the module's read-only questions: building one loads the model."""
    return build_assistant(make_settings(dev_data_dir, knowledge_sources=[DEV_CORPUS]), local_embeddings)


def test_english_question_gets_the_figure_and_its_source(assistant):
    answer = assistant.answer_extractive("What is the most voucher money one company can use in a year?")
    assert answer.answered and answer.mode == "extractive" and answer.language == "en"
    assert "186,400" in answer.answer
    assert answer.sources[0].path == "policies/innovation-vouchers.md"
    assert answer.sources[0].row is None


def test_chinese_question_is_answered_in_chinese(assistant):
    answer = assistant.answer_extractive("博士的租房补贴每个月多少钱？")
    assert answer.language == "zh" and answer.answered
    assert "3,400" in answer.answer
    assert answer.sources[0].path == "policies/youth-housing-support.zh.md"
    assert "日期" in answer.answer  # the "as of" label speaks the question's language


def test_chinese_question_finds_an_english_policy(assistant):
    answer = assistant.answer_extractive("从孵化器毕业后继续留在浦东，有一次性奖励吗？")
    assert answer.answered
    assert answer.sources[0].path == "policies/incubator-rent-support.md"


def test_listing_question_gets_a_card_with_owner_and_fee(assistant):
    answer = assistant.answer_extractive(
        "we need the 3D structure of a purified membrane protein, which microscope can we book?"
    )
    assert answer.sources[0].path == "resources/equipment.csv" and answer.sources[0].row == 1
    assert "Lingjing" in answer.answer and "9,800" in answer.answer
    assert len(answer.answer) <= 700


def test_out_of_domain_question_is_refused_without_sources(assistant):
    answer = assistant.answer_extractive("陆家嘴附近哪家小笼包好吃？")
    assert not answer.answered and answer.sources == []
    assert "服务中心" in answer.answer  # tells whom to contact


def test_follow_up_uses_the_previous_turn(assistant):
    history = ["how does the rent subsidy work for startups in incubators?"]
    answer = assistant.answer_extractive("and in the 3rd year?", history)
    assert answer.sources[0].path == "policies/incubator-rent-support.md"
    assert "38%" in answer.answer


def test_expired_policy_is_flagged(tmp_path, local_embeddings):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "old.md").write_text(
        "---\ntitle: Talent apartments\neffective: 2022-07-01\nexpires: 2025-12-31\n---\n# Talent apartments\n\n"
        "## Rent\n\nTalent apartments rent at 60% of the market price for up to 3 years.\n",
        encoding="utf-8",
    )
    settings = make_settings(tmp_path / "data")
    Ingest(make_store(settings), local_embeddings).run([kb])
    answer = build_assistant(settings, local_embeddings).answer_extractive(
        "How much is the rent of a talent apartment?"
    )
    assert answer.sources[0].expired and answer.sources[0].date == "2022-07-01"
    assert "expired on 2025-12-31" in answer.answer


def test_empty_knowledge_base_says_so(tmp_path, local_embeddings):
    answer = build_assistant(make_settings(tmp_path / "empty"), local_embeddings).answer_extractive("anything?")
    assert not answer.answered and "not ready" in answer.answer


def _bot(*args: str, data_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TELEGRAM_"))}
    env["DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        input=stdin,
        timeout=120,
    )


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_ask_json_has_the_documented_shape(dev_data_dir):
    done = _bot("ask", "--json", "how much of our MPW shuttle cost does the chip fund cover?", data_dir=dev_data_dir)
    answer = json.loads(done.stdout)
    assert set(answer) >= {"question", "answer", "answered", "language", "mode", "sources"}
    assert answer["mode"] == "extractive" and answer["language"] == "en"
    assert set(answer["sources"][0]) >= {"title", "path", "row", "score", "date"}
    assert answer["sources"][0]["path"] == "policies/integrated-circuit-fund.md"


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_ask_reads_json_lines_with_history(dev_data_dir):
    lines = [
        {"question": "想找个能做冷冻电镜的地方", "history": []},
        {"question": "How much is the PhD rent subsidy?", "history": []},
        {"question": "", "history": []},
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    done = _bot("ask", "--json", "-", data_dir=dev_data_dir, stdin=stdin)
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == 3
    assert out[0]["language"] == "zh" and out[1]["language"] == "en"
    assert "error" in out[2]  # an empty question is reported, not answered


def test_eligibility_question_is_decided_by_the_rule_and_cites_its_clause(sample_assistant):
    answer = sample_assistant.answer_extractive("我37岁，硕士，能申请租房补贴吗？")
    assert "不符合" in answer.answer and "35周岁" in answer.answer and "第三条" in answer.answer
    assert answer.sources[0].path == "policies/young-talent-rent-subsidy.zh.md"


def test_eligibility_question_without_enough_facts_asks_for_them(sample_assistant):
    answer = sample_assistant.answer_extractive("I'm 30 with a master's degree, can I get the rent subsidy?")
    assert "can't tell yet" in answer.answer and "social insurance" in answer.answer


def test_follow_up_stays_on_the_row_the_previous_turn_found(sample_assistant):
    first = sample_assistant.answer_extractive("Which NMR spectrometer can we book?")
    assert first.sources[0].path == "resources/instruments.csv"
    follow = sample_assistant.answer_extractive("how much per hour?", ["Which NMR spectrometer can we book?"])
    assert follow.sources[0].path == "resources/instruments.csv" and follow.sources[0].row == first.sources[0].row
    assert "800" in follow.answer


def test_a_follow_up_to_a_follow_up_stays_on_the_first_turns_topic(sample_assistant):
    history = ["Which NMR spectrometer can we book?", "and who runs it?"]
    follow = sample_assistant.answer_extractive("how much per hour?", history)
    first = sample_assistant.answer_extractive(history[0])
    assert follow.sources[0].path == "resources/instruments.csv" and follow.sources[0].row == first.sources[0].row
    assert "800" in follow.answer


def test_weak_match_is_labelled_not_a_clear_answer(assistant):
    answer = assistant.answer_extractive(
        "what's the corporate income tax rate for a certified high-tech enterprise in shanghai?"
    )
    assert not answer.answered
    assert answer.answer.startswith("I couldn't find a clear answer") or answer.sources == []


def test_unrelated_question_after_an_answer_is_not_answered_from_the_previous_topic(sample_assistant):
    question = "Which football club won the 2022 world cup?"
    answer = sample_assistant.answer_extractive(question, ["Which NMR spectrometer can we book?"])
    assert answer == sample_assistant.answer_extractive(question)  # the earlier turn changed nothing
    assert "NMR" not in answer.answer


def test_eligibility_question_gets_the_conditions_of_the_scheme_it_asks_about(assistant):
    answer = assistant.answer_extractive("硕士，30岁，在浦东交社保一个月了，能申请租房补贴吗？")
    assert answer.sources[0].path == "policies/youth-housing-support.zh.md"
    assert "社会保险满3个月" in answer.answer and "2,100" in answer.answer  # the condition and the amount


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_rules_and_curated_answers_come_from_the_folder_the_index_was_built_from(tmp_path, local_embeddings):
    kb = tmp_path / "kb"
    shutil.copytree(SAMPLE_KNOWLEDGE, kb)
    elsewhere = tmp_path / "elsewhere"  # KNOWLEDGE_SOURCES left pointing at a folder with no rules
    elsewhere.mkdir()
    settings = make_settings(tmp_path / "data", knowledge_sources=[elsewhere])
    Ingest(make_store(settings), local_embeddings).run([kb])
    answer = build_assistant(settings, local_embeddings).answer_extractive(
        "I'm 31, PhD, 10 months of social insurance, no home of my own, and I work at a GOI member company. "
        "Do I qualify for the rent subsidy?"
    )
    assert "you meet the 7 conditions" in answer.answer


def test_a_how_much_question_gets_the_figure_before_the_conditions(assistant):
    answer = assistant.answer_extractive(
        "after we license a patent from an open partner, how much of the fee can we get refunded?"
    )
    assert answer.answered and "48%" in answer.answer and "274,000" in answer.answer


def test_a_passage_matching_the_question_word_for_word_is_answered_plainly(assistant):
    answer = assistant.answer_extractive("拿到三类械注册证的话能奖多少钱")
    assert answer.answered and "360万" in answer.answer and "没有找到" not in answer.answer


def test_a_version_the_documents_never_mention_is_not_answered_from_another_version(assistant):
    known = assistant.answer_extractive("when was GOI 2.0 launched?")
    assert known.answered and "August 2025" in known.answer
    unknown = assistant.answer_extractive("when will GOI 3.0 launch?")
    assert not unknown.answered and unknown.answer.startswith("I couldn't find a clear answer")


def test_a_scheme_the_documents_lack_is_not_answered_with_a_neighbour_in_meaning(sample_assistant):
    answer = sample_assistant.answer_extractive("芯片首购奖励怎么拿？")  # the sample has no first-purchase reward
    assert not answer.answered and answer.answer.startswith("项目文件里没有找到明确的答案")
    assert sample_assistant.answer_extractive("创新券能抵扣多少？").answered  # one it has, in the same words
