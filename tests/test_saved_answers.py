"""Curated answers staff save into the bot's database: served like curated.yaml entries by every replica."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bot.conversation.saved_answers import NewAnswer, SavedAnswers
from bot.conversation.tables import connect
from bot.core.assistant import Assistant
from bot.core.curated import load_entries
from knowledge.embeddings import LocalEmbeddings
from knowledge.retrieve import HybridSearcher
from knowledge.store import make_store
from tests.conftest import DEV_CORPUS, make_settings

PARKING = "Is there visitor parking at the GOI office?"
PARKING_ZH = "GOI办公室有访客停车位吗？"
REPLY = "Yes: four visitor spaces behind building B; tell the front desk your plate number."


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.sqlite3'}"


def _replica(url: str, dev_data_dir: Path, embeddings: LocalEmbeddings) -> Assistant:
    """An assistant as one bot process builds it: its own index reader and database connection."""
    assistant = Assistant(HybridSearcher(make_store(make_settings(dev_data_dir)), embeddings))
    assistant.use_saved(SavedAnswers(connect(url)))
    return assistant


async def test_a_saved_answer_is_served_by_every_replica_from_its_next_question_and_gone_once_removed(
    url: str, dev_data_dir: Path, local_embeddings: LocalEmbeddings
) -> None:
    first, second = (_replica(url, dev_data_dir, local_embeddings) for _ in range(2))
    assert not (await first.answer(PARKING)).answered and not (await second.answer(PARKING)).answered
    answers = SavedAnswers(connect(url))
    saved = answers.add(NewAnswer(question=PARKING, answer=REPLY, alternatives=[PARKING_ZH]), saved_by="Mei")
    for replica in (first, second):
        pinned = await replica.answer("is there any parking for visitors at GOI's office")
        assert pinned.curated and pinned.answered and pinned.answer.endswith(REPLY)
        assert pinned.answer.startswith("📌 Answer prepared by")
        in_chinese = await replica.answer("访客在GOI办公室有停车位吗")
        assert in_chinese.curated and in_chinese.language == "zh" and in_chinese.answer.endswith(REPLY)
    assert answers.remove(saved) and not answers.remove(saved)
    assert not (await first.answer(PARKING)).curated and not (await second.answer(PARKING)).curated


def test_saved_answers_keep_who_saved_them_and_when(url: str) -> None:
    answers = SavedAnswers(connect(url))
    before = answers.version()
    answer_id = answers.add(
        NewAnswer(question=f"  {PARKING} ", answer=REPLY, alternatives=[PARKING, "", PARKING_ZH]), "Mei"
    )
    [saved] = answers.all()
    assert (saved.id, saved.question, saved.saved_by, saved.language) == (answer_id, PARKING, "Mei", "en")
    assert saved.at[:2] == "20" and saved.alternatives == [PARKING, PARKING_ZH]
    entry = saved.entry()
    assert entry.questions.en == [PARKING] and entry.questions.zh == [PARKING_ZH], "the question is not repeated"
    assert entry.answer.of("zh") == REPLY and entry.saved_by == "Mei"
    assert answers.version() == before + 1


def _main(url: str, data_dir: Path, *argv: str) -> int:
    """`python -m bot ARGV` in this process, with the bot's database at `url` and DATA_DIR `data_dir`."""
    from bot.cli import main
    from knowledge.settings import get_settings

    get_settings.cache_clear()  # the settings of this call's environment, not of an earlier one
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DATABASE_URL", url)
        env.setenv("DATA_DIR", str(data_dir))
        env.setenv("KNOWLEDGE_SOURCES", json.dumps([str(DEV_CORPUS)]))
        try:
            return main(list(argv))
        finally:
            get_settings.cache_clear()


def test_ask_and_the_console_serve_the_answers_saved_in_the_bots_database(
    url: str, dev_data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    SavedAnswers(connect(url)).add(NewAnswer(question=PARKING, answer=REPLY, alternatives=[PARKING_ZH]), "Mei")
    assert _main(url, dev_data_dir, "ask", "--json", "is there any parking for visitors at GOI's office") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["curated"] and answer["answer"].endswith(REPLY)
    monkeypatch.setattr("sys.stdin", io.StringIO("访客在GOI办公室有停车位吗\n\n"))
    assert _main(url, dev_data_dir, "console") == 0
    assert REPLY in capsys.readouterr().out


# ---- python -m bot answers ------------------------------------------------------------------------------------


def _run(url: str, tmp_path: Path, *argv: str) -> int:
    return _main(url, tmp_path, "answers", *argv)


def _sheet(tmp_path: Path, rows: list[list[str]], name: str = "faq.csv") -> Path:
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    return path


FAQ = [
    ["Question", "Answer", "Alternatives"],
    [PARKING, REPLY, f"{PARKING_ZH} | Can visitors park at GOI?"],
    ["", "", ""],
    ["When is the office open?", "Weekdays 9:00-18:00.", ""],
]


def test_import_a_spreadsheet_list_export_and_load_the_export_back(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert _run(url, tmp_path, "import", str(_sheet(tmp_path, FAQ))) == 0
    assert "imported 2 answers" in capsys.readouterr().out
    assert _run(url, tmp_path, "list") == 0
    listed = capsys.readouterr().out
    assert "Saved answers: 2" in listed and "When is the office open?" in listed and "import of faq.csv" in listed
    assert _run(url, tmp_path, "export", "--yaml") == 0
    exported = tmp_path / "curated.yaml"
    exported.write_text(capsys.readouterr().out, encoding="utf-8")
    parking, hours = load_entries([exported])
    assert parking.questions.en == [PARKING, "Can visitors park at GOI?"] and parking.questions.zh == [PARKING_ZH]
    assert parking.answer.of("zh") == REPLY and hours.saved_by == "import of faq.csv" and hours.sources == []
    assert _run(url, tmp_path, "export") == 0  # CSV in the import's columns: a second bot imports it unchanged
    (tmp_path / "export.csv").write_text(capsys.readouterr().out, encoding="utf-8")
    again = f"sqlite:///{tmp_path / 'second.sqlite3'}"
    assert _run(again, tmp_path, "import", str(tmp_path / "export.csv"), "--by", "Li") == 0
    copied = SavedAnswers(connect(again)).all()
    assert [(a.question, a.answer, a.alternatives, a.saved_by) for a in copied] == [
        (PARKING, REPLY, [PARKING_ZH, "Can visitors park at GOI?"], "Li"),
        ("When is the office open?", "Weekdays 9:00-18:00.", [], "Li"),
    ]


def test_a_spreadsheet_with_bad_rows_imports_nothing_and_names_every_bad_row(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    SavedAnswers(connect(url)).add(NewAnswer(question="When is the office open?", answer="9-18"), "Mei")
    rows = [
        ["question", "answer"],
        [PARKING, REPLY],
        ["Where is GOI?", ""],
        ["when is the office  open?", "Weekdays."],
        ["Is there visitor parking at the GOI office?", "Yes."],
        ["Long?", "x" * 5000],
    ]
    assert _run(url, tmp_path, "import", str(_sheet(tmp_path, rows))) == 1
    error = capsys.readouterr().err
    assert "nothing imported" in error
    assert "row 3: answer: String should have at least 1 character" in error
    assert "row 4: question 'when is the office  open?' is already saved" in error
    assert f"row 5: question {PARKING!r} is already in row 2" in error
    assert "row 6: answer: String should have at most 4096 characters" in error
    assert [a.question for a in SavedAnswers(connect(url)).all()] == ["When is the office open?"]
    assert _run(url, tmp_path, "import", str(_sheet(tmp_path, [["Q", "A"], ["x", "y"]]))) == 1
    assert "no question or answer column in the first row (it has: Q, A)" in capsys.readouterr().err
    assert _run(url, tmp_path, "import", str(_sheet(tmp_path, rows, "faq.txt"))) == 1
    assert "give a .csv or .xlsx file" in capsys.readouterr().err


def test_an_faq_with_titles_above_its_header_imports_and_one_without_rows_is_refused(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Titles above the table failed with 'no question or answer column in the first row'; a sheet holding only its
    header printed 'imported 0 answers' and exited 0."""
    titled = [["GOI常见问题汇总"], ["更新：2026年5月"], [], ["问题", "答案"], [PARKING, REPLY]]
    assert _run(url, tmp_path, "import", str(_sheet(tmp_path, titled))) == 0
    assert [(a.question, a.answer) for a in SavedAnswers(connect(url)).all()] == [(PARKING, REPLY)]
    capsys.readouterr()
    assert _run(url, tmp_path, "import", str(_sheet(tmp_path, [["question", "answer"], ["", ""]]))) == 1
    assert "no question and answer below the header row: nothing to import" in capsys.readouterr().err


def test_an_xlsx_faq_after_a_cover_sheet_imports_from_the_sheet_with_the_columns(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the first sheet was read: a workbook opening with an instructions sheet failed with 'no question or
    answer column in the first row (it has: 填写说明)'."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "说明"
    book.active.append(["填写说明"])
    book.active.append(["每行一个问题和答案。"])
    faq = book.create_sheet("FAQ")
    faq.append(["问题", "答案"])
    faq.append([PARKING_ZH, "有，B栋后面有四个访客车位。"])
    faq.append(["", "没有问题的答案"])
    book.save(tmp_path / "faq.xlsx")
    assert _run(url, tmp_path, "import", str(tmp_path / "faq.xlsx")) == 1
    assert "row 3: question: String should have at least 1 character" in capsys.readouterr().err, "rows of FAQ"
    faq.delete_rows(3)
    book.save(tmp_path / "faq.xlsx")
    assert _run(url, tmp_path, "import", str(tmp_path / "faq.xlsx")) == 0
    assert [a.question for a in SavedAnswers(connect(url)).all()] == [PARKING_ZH]


def test_an_xlsx_faq_with_chinese_headers_imports_and_answers_are_removed_by_id(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["问题", "答案", "其他问法"])
    book.active.append([PARKING_ZH, "有，B栋后面有四个访客车位。", "访客可以停车吗？\n" + PARKING])
    book.save(tmp_path / "faq.xlsx")
    assert _run(url, tmp_path, "import", str(tmp_path / "faq.xlsx")) == 0
    [saved] = SavedAnswers(connect(url)).all()
    assert (saved.language, saved.alternatives) == ("zh", ["访客可以停车吗？", PARKING])
    assert _run(url, tmp_path, "remove", str(saved.id + 1)) == 1
    assert f"no saved answer has id {saved.id + 1}" in capsys.readouterr().err
    assert _run(url, tmp_path, "remove", str(saved.id)) == 0
    assert SavedAnswers(connect(url)).all() == []
