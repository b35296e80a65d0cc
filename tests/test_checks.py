"""A refresh never makes answers worse: checks.yaml scored before publishing, through the real `ingest.py` CLI."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

import ingest
from bot.conversation.saved_answers import NewAnswer, SavedAnswers
from bot.conversation.tables import DATABASE_FILE, connect
from bot.core.assistant import Assistant
from bot.core.components import build_assistant
from bot.staff.checks import check_scorer, verdict
from knowledge.checks import load_checks
from knowledge.embeddings import LocalEmbeddings
from knowledge.golden import QuestionsError, parse_questions
from knowledge.indexing import Ingest
from knowledge.retrieve import HybridSearcher
from knowledge.settings import SAMPLE_KNOWLEDGE, Settings, get_settings
from knowledge.store import make_store
from tests.conftest import make_settings, write_files
from tests.fakes.telegram import FakeTelegram
from tests.test_telegram import ADMIN, ask, running, say

VOUCHERS = """# Innovation vouchers

## Amounts

Each company may use at most RMB 186,400 of vouchers per calendar year.

## Deadline

Approved quota expires on 15 December of the year it was granted.
"""

HOUSING = """# 青年人才安居

## 租房补贴

博士每月3,400元，硕士每月2,100元，最长发放42个月。
"""

EQUIPMENT = "id,instrument,owner,fee\n" + "".join(
    f"EQ-{n},Instrument model {n},Lab {n},RMB {n * 100} per hour\n" for n in range(1, 9)
)

CHECKS = """# golden questions
- id: voucher-cap
  question: What is the most voucher money one company can use in a year?
  sources: [policies/vouchers.md]
  facts: [["186,400"]]

- id: phd-rent
  question: 博士每月租房补贴多少钱？
  sources: [policies/housing.zh.md]
  facts: [["3,400"]]

- id: stocks
  question: 明天股市会涨吗？
  sources: []
"""

VOUCHER_QUESTION = "What is the most voucher money one company can use in a year?"


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    files = {"policies/vouchers.md": VOUCHERS, "policies/housing.zh.md": HOUSING, "resources/equipment.csv": EQUIPMENT}
    return write_files(tmp_path / "kb", {**files, "checks.yaml": CHECKS})


@pytest.fixture
def settings(tmp_path: Path, kb: Path) -> Settings:
    return make_settings(tmp_path / "data", knowledge_sources=[kb])


@pytest.fixture
def served(settings: Settings, kb: Path, local_embeddings: LocalEmbeddings) -> Settings:
    """The folder ingested and published once, every check passing."""
    scorer = check_scorer(settings, local_embeddings)
    report = Ingest(make_store(settings), local_embeddings, scorer=scorer).run([kb])
    assert report.published and report.checks is not None
    assert (report.checks.passed, report.checks.total, report.checks.served) == (3, 3, None), report.checks
    return settings


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str]]:
    """`python ingest.py ARGS` in this process, with none of the environment's or a `.env`'s settings."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str]:
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level  # main() sets up logging for the process: pytest's goes
        get_settings.cache_clear()
        try:
            code = ingest.main(list(args))
        finally:
            get_settings.cache_clear()
            root.handlers[:], root.level = handlers, level
        return code, capsys.readouterr().out

    return run


def _answer(settings: Settings, embeddings: LocalEmbeddings, question: str) -> str:
    return build_assistant(settings, embeddings).answer_extractive(question).model_dump_json()


def test_an_ingest_that_loses_a_golden_answer_is_refused_and_the_served_index_answers_as_before(
    served, kb, cli, local_embeddings
):
    before, generation = _answer(served, local_embeddings, VOUCHER_QUESTION), make_store(served).current()
    (kb / "policies" / "vouchers.md").unlink()
    code, out = cli(str(kb), "--data-dir", str(served.data_dir))
    assert code == ingest.CHECKS_WORSE
    assert "broke voucher-cap" in out and "not answered" in out  # which check broke, and why
    assert make_store(served).current() == generation
    assert _answer(served, local_embeddings, VOUCHER_QUESTION) == before


def test_force_publishes_the_index_that_answers_fewer_checks(served, kb, cli, local_embeddings):
    (kb / "policies" / "vouchers.md").unlink()
    code, out = cli(str(kb), "--data-dir", str(served.data_dir), "--force", "--json")
    report = json.loads(out)
    assert code == 0 and report["published"] and report["removed"] == ["policies/vouchers.md"]
    assert (report["checks"]["passed"], report["checks"]["served"]) == (2, 3)
    assert [broken["id"] for broken in report["checks"]["broken"]] == ["voucher-cap"]
    assert "186,400" not in _answer(served, local_embeddings, VOUCHER_QUESTION)


def test_dry_run_shows_the_score_change_and_publishes_nothing(served, kb, cli):
    generation = make_store(served).current()
    (kb / "policies" / "vouchers.md").unlink()
    code, out = cli(str(kb), "--data-dir", str(served.data_dir), "--dry-run", "--json")
    report = json.loads(out)
    assert code == ingest.CHECKS_WORSE and not report["published"]
    assert (report["checks"]["passed"], report["checks"]["served"]) == (2, 3)
    assert make_store(served).current() == generation
    assert {p.name for p in (served.data_dir / "index").iterdir()} == {"current.json", generation.generation}
    assert not (served.data_dir / DATABASE_FILE).exists(), "no bot database is made to look for saved answers"


def test_a_change_that_keeps_every_check_is_published(served, kb, local_embeddings):
    (kb / "resources" / "equipment.csv").write_text(EQUIPMENT + "EQ-9,Cryo-EM,Lab 9,RMB 9000 per day\n")
    report = Ingest(make_store(served), local_embeddings, scorer=check_scorer(served, local_embeddings)).run([kb])
    assert report.published and report.checks is not None
    assert (report.checks.passed, report.checks.served, report.checks.broken) == (3, 3, [])


def test_checks_yaml_is_listed_as_ignored_never_indexed(served):
    collection = make_store(served).open(make_store(served).current().generation)
    assert "checks.yaml" not in {meta["source"] for meta in collection.get(include=["metadatas"])["metadatas"]}


def test_a_malformed_checks_file_is_a_failure_naming_its_line(settings, kb, local_embeddings):
    (kb / "checks.yaml").write_text(CHECKS + "- id: typo\n  question: where?\n  source: [policies/vouchers.md]\n")
    report = Ingest(make_store(settings), local_embeddings, scorer=check_scorer(settings, local_embeddings)).run([kb])
    assert [(f.path, f.reason) for f in report.failed] == [
        ("checks.yaml", "line 15: source: Extra inputs are not permitted")  # a typo must not make it an abstain
    ]
    assert report.checks is None and "checks.yaml" in {skipped.path for skipped in report.ignored}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("- id: a\n  question: q\n- id: a\n  question: r\n", "line 3: id 'a' is already used on line 1"),
        ("id: a\nquestion: q\n", "line 1: expected a list of entries (- id: ...)"),
        ("- id: a\n  facts: [[186,400]]\n", "line 1: question: Field required"),
        ("- id: a\n  question: q\n  facts: [[]]\n", "line 1: facts: each fact is a non-empty list"),
        ("- &x {id: a, question: q}\n- *x\n", "not valid YAML (line 2): YAML aliases"),
    ],
)
def test_questions_files_are_validated_entry_by_entry(text, error):
    with pytest.raises(QuestionsError, match="^" + error.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_questions(text)


PARKING = "Is there visitor parking at the GOI office?"
STAFF_REPLY = "Yes: four visitor spaces behind building B."
SHADOW = f"""- id: parking
  questions:
    en: ["{PARKING}"]
  answer:
    en: The car park is full.
    zh: 停车场已满。
  sources:
    - title: Vouchers
      path: policies/vouchers.md
"""


def test_an_ingest_that_would_stop_serving_a_saved_answer_is_refused_naming_it(served, kb, cli, monkeypatch):
    url = f"sqlite:///{served.data_dir / 'saved.sqlite3'}"
    saved = SavedAnswers(connect(url))
    answer_id = saved.add(
        NewAnswer(question=PARKING, answer=STAFF_REPLY, alternatives=["GOI办公室有访客停车位吗？"]), "Mei"
    )
    monkeypatch.setenv("DATABASE_URL", url)
    (kb / "resources" / "equipment.csv").write_text(EQUIPMENT + "EQ-9,Cryo-EM,Lab 9,RMB 9000 per day\n")
    code, out = cli(str(kb), "--data-dir", str(served.data_dir), "--json")
    checks = json.loads(out)["checks"]
    assert code == 0 and (checks["passed"], checks["total"]) == (5, 5), checks  # its two phrasings are checks
    generation = make_store(served).current()
    (kb / "curated.yaml").write_text(SHADOW, encoding="utf-8")  # a curated answer to the same question
    code, out = cli(str(kb), "--data-dir", str(served.data_dir), "--json")
    report = json.loads(out)
    assert code == ingest.CHECKS_WORSE and make_store(served).current() == generation
    assert [(broke["id"], broke["why"]) for broke in report["checks"]["broken"]] == [
        (f"saved-{answer_id}", "another curated answer (curated.yaml) matches it better")
    ]
    assert f"no longer serves the saved answers saved-{answer_id}:" in report["refused"]
    code, out = cli(str(kb), "--data-dir", str(served.data_dir), "--force", "--json")
    assert code == 0 and json.loads(out)["published"]


def test_a_typo_in_checks_yaml_does_not_switch_off_the_saved_answers_checks(served, kb, cli, monkeypatch):
    """An invalid checks.yaml dropped every golden question, the saved answers' too: a curated entry shadowing a saved
    answer was published in the same run, with only 'checks.yaml failed' to show for it."""
    url = f"sqlite:///{served.data_dir / 'saved.sqlite3'}"
    answer_id = SavedAnswers(connect(url)).add(NewAnswer(question=PARKING, answer=STAFF_REPLY), "Mei")
    monkeypatch.setenv("DATABASE_URL", url)
    generation = make_store(served).current()
    (kb / "checks.yaml").write_text(CHECKS + "- id: typo\n  question: where?\n  source: [policies/vouchers.md]\n")
    (kb / "curated.yaml").write_text(SHADOW, encoding="utf-8")
    code, out = cli(str(kb), "--data-dir", str(served.data_dir), "--json")
    report = json.loads(out)
    assert code == ingest.CHECKS_WORSE and make_store(served).current() == generation
    assert [failure["path"] for failure in report["failed"]] == ["checks.yaml"]
    assert [broke["id"] for broke in report["checks"]["broken"]] == [f"saved-{answer_id}"]


async def test_reload_in_telegram_reports_the_checks_and_refuses_until_told_to_force(
    tg: FakeTelegram, served: Settings, kb: Path, local_embeddings: LocalEmbeddings
) -> None:
    admin, user = tg.user(ADMIN, "Staff Sam"), tg.user(301, "Ada")
    searcher = HybridSearcher(make_store(served), local_embeddings, refresh_seconds=0)
    (kb / "policies" / "vouchers.md").unlink()
    async with running(tg, served.data_dir, Assistant(searcher), knowledge_sources=[kb]):
        [_, refused] = await say(tg, admin, "/reload", count=2)
        assert "Golden questions (checks.yaml, saved answers): 2 of 3 answered; the served index: 3." in refused.text
        assert "voucher-cap broke: not answered" in refused.text and "send /reload force" in refused.text
        [answer] = await ask(tg, user, VOUCHER_QUESTION)
        assert "186,400" in answer.text  # still served from the previous index
        [_, forced] = await say(tg, admin, "/reload force", count=2)
        assert "voucher-cap broke" in forced.text and "Now answering from index generation" in forced.text


def test_the_sample_knowledge_base_answers_the_golden_questions_it_ships(sample_assistant):
    questions = load_checks([SAMPLE_KNOWLEDGE])
    wrong = {q.id: verdict(q, sample_assistant.answer_extractive(q.question, q.history)) for q in questions}
    assert {check: why for check, why in wrong.items() if why} == {}
    assert len(questions) >= 10 and {q.lang for q in questions} == {"en", "zh"} and any(q.abstain for q in questions)


async def test_reload_in_telegram_lists_a_broken_curated_file_like_ingest_does(
    tg: FakeTelegram, served: Settings, kb: Path, local_embeddings: LocalEmbeddings
) -> None:
    """/reload said nothing of a curated.yaml the bot could not load: staff learnt of it from the logs, or when the
    bot would not start."""
    admin = tg.user(ADMIN, "Staff Sam")
    searcher = HybridSearcher(make_store(served), local_embeddings, refresh_seconds=0)
    (kb / "curated.yaml").write_text(SHADOW.replace("  answer:", "\tanswer:"), encoding="utf-8")
    async with running(tg, served.data_dir, Assistant(searcher), knowledge_sources=[kb]):
        [_, done] = await say(tg, admin, "/reload", count=2)
    assert "curated.yaml" in done.text and "not valid YAML (line" in done.text
