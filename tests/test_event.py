"""Event features: the poster's QR code, curated answers before retrieval, the staff report with its chart."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml
import zxingcpp
from PIL import Image

from bot.cli import main
from bot.conversation.records import Records
from bot.conversation.tables import connect, database_url
from bot.core.assistant import Assistant
from bot.core.components import build_assistant
from bot.core.curated import CuratedAnswers, CuratedError, load_entries
from bot.core.models import Answer
from bot.staff.qr import qr_code, run_qr
from knowledge.embeddings import LocalEmbeddings
from knowledge.indexing import Ingest
from knowledge.retrieve import HybridSearcher
from knowledge.settings import SAMPLE_KNOWLEDGE
from knowledge.store import make_store
from tests.conftest import DEV_CORPUS, make_settings
from tests.fakes.telegram import PNG_SIGNATURE, FakeTelegram
from tests.test_telegram import ADMIN, ask, running, say

SAMPLE_CURATED = SAMPLE_KNOWLEDGE / "curated.yaml"
EXPO_LINK = "https://t.me/goi_test_bot?start=event_expo2026"
SVG = "{http://www.w3.org/2000/svg}"


def qr_links(path: Path) -> list[str]:
    """What a phone reads from a poster PNG: the text of every QR code a barcode reader finds on it."""
    image = Image.open(path)
    assert image.format == "PNG"
    return [found.text for found in zxingcpp.read_barcodes(image) if found.format == zxingcpp.BarcodeFormat.QRCode]


def svg_modules(path: Path) -> list[list[bool]]:
    """The dark/light modules of the QR code in a poster SVG, from its path of unit squares."""
    root = ElementTree.parse(path).getroot()
    squares = re.findall(r"M(\d+),(\d+)h1v1h-1z", root.find(f"{SVG}path").get("d"))
    dark = {(int(x), int(y)) for x, y in squares}
    size = max(max(x, y) for x, y in dark) + 1
    return [[(x, y) in dark for x in range(size)] for y in range(size)]


def modules_of(link: str) -> list[list[bool]]:
    """What the QR code of `link` must look like."""
    return [[bool(module) for module in row] for row in qr_code(link).matrix]


# ---- QR codes -------------------------------------------------------------------------------------------------


def test_qr_encodes_the_deep_link_of_the_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "poster" / "expo.png"
    assert main(["qr", "--event", "expo2026", "--bot", "@goi_test_bot", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: {EXPO_LINK}"
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert qr_links(out) == [EXPO_LINK]


def test_the_poster_has_the_programme_name_the_call_in_both_languages_and_the_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["qr", "--event", "expo2026", "--bot", "goi_test_bot", "--name", "Harbour Bay Open Innovation"]) == 0
    png, svg = tmp_path / "qr-expo2026.png", tmp_path / "qr-expo2026.svg"
    assert capsys.readouterr().out.splitlines() == [f"{png.name}: {EXPO_LINK}", f"{svg.name}: {EXPO_LINK}"]
    assert qr_links(png) == [EXPO_LINK]
    assert Image.open(png).size == (1240, 1754)  # A4 at 150 dpi
    texts = [element.text for element in ElementTree.parse(svg).getroot().iter(f"{SVG}text")]
    assert texts == ["Harbour Bay Open Innovation", "Scan to ask", "扫码提问", EXPO_LINK]
    assert svg_modules(svg) == modules_of(EXPO_LINK)


def test_a_poster_without_a_programme_name_has_a_neutral_title(tmp_path: Path) -> None:
    out = tmp_path / "poster.svg"
    assert main(["qr", "--event", "expo2026", "--bot", "goi_test_bot", "--out", str(out)]) == 0
    texts = [element.text for element in ElementTree.parse(out).getroot().iter(f"{SVG}text")]
    assert texts[:2] == ["The programme assistant", "项目咨询助手"]
    assert not (tmp_path / "poster.png").exists()


def test_a_poster_is_png_or_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "poster.pdf"
    assert main(["qr", "--event", "expo2026", "--bot", "goi_test_bot", "--out", str(out)]) == 2
    assert "a poster is written as .png or .svg" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("expo 2026!", "may only use letters A-Z a-z, digits, _ and -"),
        ("展会", "may only use letters"),
        ("x" * 59, "is 59 characters; at most 58 fit in a start payload"),
    ],
)
def test_qr_refuses_an_event_code_telegram_would_drop(
    code: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "qr.png"
    assert main(["qr", "--event", code, "--bot", "goi_test_bot", "--out", str(out)]) == 2
    assert reason in capsys.readouterr().err
    assert not out.exists()


def test_qr_without_bot_name_or_token_says_what_to_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_qr(make_settings(tmp_path), "expo2026", tmp_path / "qr.png", None) == 2
    error = capsys.readouterr().err
    assert "--bot" in error and "TELEGRAM_BOT_TOKEN" in error
    assert not (tmp_path / "qr.png").exists()


async def test_qr_asks_telegram_for_the_bot_name_with_the_token(tg: FakeTelegram, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TELEGRAM_", "CHROMA_"))}
    env |= {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_BASE_URL": tg.base_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "qr", "--event", "expo2026", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, output.decode()
    assert tg.calls_to("getMe")
    assert qr_links(tmp_path / "qr-expo2026.png") == [EXPO_LINK]
    assert tg.token not in output.decode()


# ---- curated answers ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def curated(local_embeddings: LocalEmbeddings) -> CuratedAnswers:
    """The sample's curated answers."""
    return CuratedAnswers.from_files([SAMPLE_CURATED], local_embeddings)


def test_the_sample_knowledge_folder_brings_its_curated_answers(tmp_path: Path) -> None:
    assert make_settings(tmp_path).curated_files == [SAMPLE_CURATED]
    assert make_settings(tmp_path, knowledge_sources=[DEV_CORPUS]).curated_files == []
    mine = tmp_path / "pinned.yaml"
    assert make_settings(tmp_path, curated_answers=mine).curated_files == [mine]
    assert [entry.id for entry in load_entries([SAMPLE_CURATED])] == [
        "sme-join", "team-not-registered", "large-firm-join", "contact", "what-is-goi",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("how do i join goi", "sme-join"),
        ("公司怎样申请加入GOI？", "sme-join"),
        ("How can I contact GOI?", "contact"),
        ("GOI怎么联系？", "contact"),
        # The first thing a visitor asks: "GOI" is in every passage, so retrieval quoted a GPU server row.
        ("what's GOI", "what-is-goi"),
        ("GOI是什么", "what-is-goi"),
        # Same topic, another question: retrieval must answer these.
        ("How much does GOI membership cost?", None),
        ("What documents do I need to apply for GOI membership?", None),
        ("加入GOI需要什么条件？", None),
        ("How do I apply for the rent subsidy?", None),
        ("Can a company registered nine years ago become a GOI SME member?", None),
        ("what is GOI 2.0", None),
    ],
)
def test_a_paraphrase_matches_its_entry_and_other_questions_do_not(
    curated: CuratedAnswers, question: str, entry: str | None
) -> None:
    found = curated.match(question)
    assert (found.entry.id if found else None) == entry


def test_curated_answer_comes_first_in_the_question_language_and_is_marked(curated: CuratedAnswers) -> None:
    answer = curated.answer("公司怎样申请加入GOI？", "zh")
    assert answer is not None and answer.curated and answer.answered
    assert answer.answer.startswith('📌 GOI团队整理的解答：\n\n在"GOI开放创新服务平台"注册')
    [source] = answer.sources
    assert (source.path, source.section) == ("policies/sme-eligibility-and-joining.zh.md", "第七条")


async def test_the_assistant_answers_a_curated_question_before_searching(
    searcher: HybridSearcher,
    curated: CuratedAnswers,
) -> None:
    assistant = Assistant(searcher, curated=curated)
    pinned = await assistant.answer("Who can I contact at GOI?")
    assert pinned.curated and pinned.answer.startswith("📌 Answer prepared by the GOI team:")
    assert "goi@goi-sample.example.org" in pinned.answer
    searched = await assistant.answer("What is the maximum innovation voucher amount per year?")
    assert not searched.curated and "186,400" in searched.answer
    # A follow-up that points back at the previous turn is about that turn's topic, not the pinned question.
    follow_up = await assistant.answer("and who do I contact about that?", [searched.question])
    assert not follow_up.curated


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_python_m_bot_ask_serves_curated_answers_from_the_configured_file(dev_data_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TELEGRAM_", "CHROMA_", "CURATED_"))}
    env |= {"DATA_DIR": str(dev_data_dir), "KNOWLEDGE_SOURCES": str(DEV_CORPUS), "CURATED_ANSWERS": str(SAMPLE_CURATED)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "How can I contact GOI?"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["curated"] is True and answer["mode"] == "extractive"
    assert set(answer) == set(Answer.model_fields)
    assert answer["sources"][0]["path"] == "policies/goi-programme-overview.md"


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ({"answer": {"en": "Write to us."}}, "entry 2 (contact): answer.zh: Field required"),
        ({"sources": []}, "entry 2 (contact): sources: List should have at least 1 item"),
        ({"questions": {"en": [], "zh": []}}, "entry 2 (contact): entry: Value error, questions: give at least one"),
        ({"question": "typo"}, "entry 2 (contact): question: Extra inputs are not permitted"),
        ({"id": "sme-join"}, "entry 2: id 'sme-join' is used twice"),
    ],
)
def test_a_broken_curated_file_is_refused_with_its_file_and_entry(
    tmp_path: Path, mistake: dict[str, object], message: str
) -> None:
    entries = yaml.safe_load(SAMPLE_CURATED.read_text(encoding="utf-8"))
    broken = [entries[0], {**entries[3], **mistake}]
    path = tmp_path / "curated.yaml"
    path.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CuratedError) as error:
        load_entries([path])
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_ingest_leaves_the_curated_file_to_the_bot(tmp_path: Path, local_embeddings: LocalEmbeddings) -> None:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "policy.md").write_text("# Vouchers\n\n1.1 Each company may use RMB 186,400 a year.\n", encoding="utf-8")
    (folder / "curated.yaml").write_bytes(SAMPLE_CURATED.read_bytes())
    report = Ingest(make_store(make_settings(tmp_path / "data")), local_embeddings).run([folder])
    assert (
        report.added == ["policy.md"] and [i.path for i in report.ignored] == ["curated.yaml"] and report.failed == []
    )


# ---- the staff report -----------------------------------------------------------------------------------------


def _answer(question: str, answered: bool) -> Answer:
    return Answer(question=question, answer="…", answered=answered, language="en", mode="extractive")


@pytest.fixture
def records_dir(tmp_path: Path) -> Path:
    """A data folder whose bot database holds questions at two events, through the records' public methods."""
    records = Records(connect(database_url(make_settings(tmp_path))))
    asked = [
        ("expo2026", "How do I book the NMR?", True),
        ("expo2026", "Is parking free at the expo?", False),
        ("expo2026", "is parking free at the expo? ", False),
        ("expo2026", "What is the voucher cap?", True),
        ("demo-day", "Who judges the pitches?", False),
        (None, "How do I join GOI?", True),
    ]
    ids = [records.add_question(7, 7, event, _answer(question, ok)) for event, question, ok in asked]
    records.feedback(ids[0], 7, 7, helpful=True)
    records.feedback(ids[3], 7, 8, helpful=False)
    records.close()
    return tmp_path


def test_report_shows_one_events_questions_answered_share_unanswered_and_feedback(
    records_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    chart = records_dir / "charts" / "expo.png"
    assert main(["report", "--data-dir", str(records_dir), "--event", "expo2026", "--chart", str(chart)]) == 0
    shown = capsys.readouterr().out
    assert "Questions in the last 7 days at event expo2026" in shown
    assert "│         4 │      50% │       1 │           1 │" in shown
    assert "Is parking free at the expo?" in shown and "│     2 │" in shown, "the same question, counted twice"
    assert "Who judges the pitches?" not in shown and "How do I join GOI?" not in shown
    assert "What is the voucher cap?" in shown.split("Disliked answers")[1]
    image = Image.open(chart)
    assert image.format == "PNG" and image.size == (800, 350)


def test_report_json_covers_every_event_by_day_and_by_event(
    records_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--data-dir", str(records_dir), "--days", "1", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == {"label": "", "questions": 6, "answered": 50}
    assert {t["label"]: t["questions"] for t in stats["by_event"]} == {"expo2026": 4, "": 1, "demo-day": 1}
    assert stats["by_event"][0]["label"] == "expo2026", "the busiest event first"
    assert [t["questions"] for t in stats["by_day"]] == [6]


def test_questions_per_hour_count_each_hour_of_the_event(records_dir: Path) -> None:
    records = Records(connect(database_url(make_settings(records_dir))))
    [(hour, expo)] = records.hourly(event="expo2026")
    [(_, everyone)] = records.hourly()
    records.close()
    assert (expo, everyone) == (4, 6) and len(hour) == len("2026-11-25T09")


async def test_stats_in_telegram_sends_the_events_table_and_chart_to_staff_only(
    tg: FakeTelegram,
    tmp_path: Path,
    searcher: HybridSearcher,
) -> None:
    async with running(tg, tmp_path, Assistant(searcher)):
        ada, eve, staff = tg.user(401, "Ada"), tg.user(402, "Eve"), tg.user(ADMIN, "Staff Sam")
        await say(tg, ada, "/start event_expo2026")
        await ask(tg, ada, "hey whats the max innovation voucher amount one company can use per year?")
        await ask(tg, eve, "Which football club won the 2022 world cup?")
        [refused] = await say(tg, eve, "/stats event expo2026")
        assert refused.text == "Sorry, this command is for GOI staff only."
        [usage] = await say(tg, staff, "/stats expo2026")
        assert usage.text == "Use /stats, or /stats event CODE for one event."
        [report] = await say(tg, staff, "/stats event expo2026")
        photo = await tg.wait_for(lambda: tg.photos(ADMIN) and tg.photos(ADMIN)[0])
        assert "Event: expo2026" in report.text and "1 questions, 100% answered" in report.text
        assert "world cup" not in report.text
        assert photo.data.startswith(PNG_SIGNATURE) and photo.caption == "Questions per hour"
        [everyone] = await say(tg, staff, "/stats")
        assert "2 questions, 50% answered" in everyone.text
        await tg.wait_for(lambda: len(tg.photos(ADMIN)) == 2)
    assert tg.photos(eve["id"]) == []


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
async def test_an_edited_curated_file_is_served_after_the_next_ingest_without_a_restart(
    tmp_path: Path, local_embeddings: LocalEmbeddings
) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(SAMPLE_KNOWLEDGE, kb)
    settings = make_settings(tmp_path / "data", knowledge_sources=[kb])
    ingest = Ingest(make_store(settings), local_embeddings)
    ingest.run([kb])
    assistant = build_assistant(settings, local_embeddings)
    assistant.searcher.refresh_seconds = 0
    before = await assistant.answer("How do I apply to join GOI?")
    assert before.curated and "service platform" in before.answer

    entries = yaml.safe_load((kb / "curated.yaml").read_text(encoding="utf-8"))
    entries[0]["answer"]["en"] = "Membership applications are paused until March; write to the Service Centre."
    (kb / "curated.yaml").write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    assert ingest.run([kb]).published  # nothing else changed: the curated file alone publishes

    after = await assistant.answer("How do I apply to join GOI?")
    assert after.curated and "paused until March" in after.answer

    (kb / "curated.yaml").write_text("- id: [broken\n", encoding="utf-8")
    assert ingest.run([kb]).published
    kept = await assistant.answer("How do I apply to join GOI?")
    assert kept.curated and "paused until March" in kept.answer  # an invalid file is logged, the last good one stays
