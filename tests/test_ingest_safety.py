"""What staff drop in a knowledge folder: links, hidden files, Excel's Unicode exports, YAML written to explode."""

from __future__ import annotations

import codecs
import json
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from knowledge.discovery import LINK_OUTSIDE
from knowledge.embeddings import LocalEmbeddings
from knowledge.groups import GROUP_ROWS
from knowledge.indexing import Ingest
from knowledge.loaders import load_file
from knowledge.reading import LoadError
from knowledge.retrieve import HybridSearcher
from knowledge.settings import Settings
from knowledge.store import make_store
from tests.conftest import clean_env

ROOT = Path(__file__).resolve().parents[1]
POLICY = "# Rent subsidy\n\nA doctor receives RMB 2,500 a month for at most 24 months.\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 9)}]\n" for n in range(8)
)


def _ingest(folder: Path, tmp_path: Path):
    store = make_store(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    report = Ingest(store, DeterministicFakeEmbedding(size=16)).run([folder])
    info = store.current()
    texts = store.open(info.generation).get(include=["documents"])["documents"] if info else []
    return report, texts


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "rent.md").write_text(POLICY, encoding="utf-8")
    return kb


def test_a_link_out_of_the_folder_is_refused_and_its_target_never_indexed(folder: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / ".env"
    secret.parent.mkdir()
    secret.write_text("TELEGRAM_BOT_TOKEN=123456:very-secret-token\n", encoding="utf-8")
    (folder / "settings-notes.txt").symlink_to(secret)
    (folder / "share").symlink_to(secret.parent, target_is_directory=True)
    report, texts = _ingest(folder, tmp_path)
    refused = {f.path: f.reason for f in report.failed}
    assert refused == {"settings-notes.txt": LINK_OUTSIDE, "share": LINK_OUTSIDE}
    assert report.added == ["rent.md"] and report.published
    assert not any("very-secret-token" in text for text in texts)


def test_a_link_inside_the_folder_is_read_once(folder: Path, tmp_path: Path) -> None:
    (folder / "same-rent.md").symlink_to(folder / "rent.md")
    (folder / "again").symlink_to(folder, target_is_directory=True)
    report, texts = _ingest(folder, tmp_path)
    assert report.added == ["rent.md"] and report.failed == []
    assert {i.path for i in report.ignored} == {"same-rent.md", "again"}
    assert sum("RMB 2,500" in text for text in texts) == 1


def test_a_source_given_as_a_link_to_a_file_elsewhere_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.md"
    elsewhere.write_text(POLICY, encoding="utf-8")
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "policy.md").symlink_to(elsewhere)
    report, _ = _ingest(kb / "policy.md", tmp_path)
    assert [(f.path, f.reason) for f in report.failed] == [("policy.md", LINK_OUTSIDE)]


def test_hidden_files_git_and_office_lock_files_are_ignored_with_a_reason(folder: Path, tmp_path: Path) -> None:
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    (folder / "~$fees.xlsx").write_bytes(b"lock")
    report, _ = _ingest(folder, tmp_path)
    reasons = {i.path: i.reason for i in report.ignored}
    assert reasons == {
        ".git/config": "hidden file or folder",
        ".DS_Store": "hidden file or folder",
        "~$fees.xlsx": "Office lock file",
    }
    assert report.failed == [] and report.added == ["rent.md"]


def test_notes_for_staff_are_listed_as_ignored_and_never_quoted(folder: Path, tmp_path: Path) -> None:
    # What a folder says about itself ("the rent amounts are invented") was quoted as the answer to founders.
    (folder / "README.md").write_text("# About\n\nThe rent subsidy amounts here are invented.\n", encoding="utf-8")
    (folder / "_drafts").mkdir()
    (folder / "_drafts" / "rent-2027.md").write_text("# Draft\n\nA doctor may get RMB 9,999.\n", encoding="utf-8")
    report, texts = _ingest(folder, tmp_path)
    assert {i.path: i.reason for i in report.ignored} == {
        "README.md": "notes for staff (README): not indexed",
        "_drafts/rent-2027.md": "notes for staff (a name starting with _): not indexed",
    }
    assert report.added == ["rent.md"] and not any("invented" in t or "9,999" in t for t in texts)


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_the_cli_shows_ignored_and_refused_files_with_their_reasons(folder: Path, tmp_path: Path) -> None:
    (folder / "~$fees.xlsx").write_bytes(b"lock")
    (folder / "passwd.txt").symlink_to("/etc/passwd")
    env = clean_env(DATA_DIR=str(tmp_path / "data"), EMBEDDING_PROVIDER="local")
    command = [sys.executable, str(ROOT / "ingest.py"), str(folder)]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env, timeout=300, check=False)
    summary = json.loads(done.stdout)
    assert done.returncode == 1, "a refused link is a file that did not ingest"
    assert summary["ignored"] == [{"path": "~$fees.xlsx", "reason": "Office lock file"}]
    assert summary["failed"] == [{"path": "passwd.txt", "reason": LINK_OUTSIDE}]
    wide = env | {"COLUMNS": "200"}
    table = subprocess.run(command, capture_output=True, text=True, env=wide, timeout=300, check=False).stdout
    assert "Office lock file" in table and LINK_OUTSIDE in table


def test_excels_unicode_text_export_utf16_tab_separated(tmp_path: Path) -> None:
    table = "编号\t仪器\t收费\nEQ-1\t冷冻电镜\t每次9800元\nEQ-2\tNMR 600 MHz\t每小时780元\n"
    path = tmp_path / "instruments.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + table.encode("utf-16-le"))
    rows = load_file(path, tmp_path)
    assert [doc.metadata["row"] for doc in rows] == [1, 2]
    assert "冷冻电镜" in rows[0].page_content and "每次9800元" in rows[0].page_content


@pytest.mark.parametrize("encoding", ["utf-32", "utf-16-be"])
def test_other_byte_order_marks_are_honoured(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "fees.csv"
    mark = codecs.BOM_UTF16_BE if encoding == "utf-16-be" else b""
    path.write_bytes(mark + "id,name,fee\n1,Lathe,RMB 40 per hour\n".encode(encoding))
    assert "RMB 40 per hour" in load_file(path, tmp_path)[0].page_content


def test_semicolon_separated_csv(tmp_path: Path) -> None:
    path = tmp_path / "fees.csv"
    path.write_text("id;name;fee\n1;Lathe;RMB 40,50 per hour\n2;Mill;RMB 60 per hour\n", encoding="utf-8")
    rows = load_file(path, tmp_path)
    assert len(rows) == 2 and "RMB 40,50 per hour" in rows[0].page_content


def test_garbage_still_gets_a_clear_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + b"\x00\xd8")  # a lone surrogate half
    with pytest.raises(LoadError, match="byte-order mark"):
        load_file(path, tmp_path)


def test_a_gbk_file_behind_a_utf8_byte_order_mark_says_where_and_what_to_do(tmp_path: Path) -> None:
    """It said 'text has a UTF-8-SIG byte-order mark but is not utf-8-sig': the codec's name, no line, no remedy."""
    path = tmp_path / "fees.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"name,fee\n" + "冷冻电镜,每天9800元\n".encode("gbk"))
    with pytest.raises(LoadError) as caught:
        load_file(path, tmp_path)
    assert caught.value.reason == (
        "starts with a UTF-8 byte-order mark but is not UTF-8 from line 2 on (byte 0xc0): save it again as UTF-8"
    )


@pytest.mark.parametrize("name", ["bomb.yaml", "bomb.md"])
def test_a_yaml_alias_bomb_is_refused_quickly_with_a_reason(folder: Path, tmp_path: Path, name: str) -> None:
    body = BOMB if name.endswith(".yaml") else "---\ntitle: x\ntopics:\n" + textwrap.indent(BOMB, "  ") + "---\n# x\n"
    (folder / name).write_text(body, encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report, _ = _ingest(folder, tmp_path)
    assert time.perf_counter() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB
    assert [f.path for f in report.failed] == [name]
    assert "aliases" in report.failed[0].reason and report.added == ["rent.md"]


def _served(tmp_path: Path) -> str | None:
    info = make_store(Settings(data_dir=tmp_path / "data", _env_file=None)).current()  # type: ignore[call-arg]
    return info.generation if info else None


def test_an_empty_or_unmounted_folder_does_not_wipe_the_served_index(folder: Path, tmp_path: Path) -> None:
    (folder / "more.md").write_text(POLICY.replace("Rent", "Office rent"), encoding="utf-8")
    _ingest(folder, tmp_path)
    served = _served(tmp_path)
    for path in folder.iterdir():
        path.unlink()
    store = make_store(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    report = Ingest(store, DeterministicFakeEmbedding(size=16)).run([folder])
    assert not report.published and _served(tmp_path) == served
    assert "would hold 0 of the" in (report.refused or "") and "--allow-shrink" in (report.refused or "")
    assert report.removed == [] and sorted(report.pending["removed"]) == ["more.md", "rent.md"]
    forced = Ingest(store, DeterministicFakeEmbedding(size=16)).run([folder], allow_shrink=True)
    assert forced.published and forced.removed == ["more.md", "rent.md"]


def test_one_file_given_where_the_folder_was_meant_is_refused_saying_what_the_index_was_built_from(
    folder: Path, tmp_path: Path
) -> None:
    """`ingest.py kb/new.md` to add one file would replace the whole index with that file; the refusal said only
    'check the folder'."""
    for name in ("more", "other", "third"):
        (folder / f"{name}.md").write_text(POLICY.replace("Rent", name.title()), encoding="utf-8")
    _ingest(folder, tmp_path)
    served = _served(tmp_path)
    store = make_store(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    report = Ingest(store, DeterministicFakeEmbedding(size=16)).run([folder / "rent.md"])
    assert not report.published and _served(tmp_path) == served
    assert (
        f"(the index served was built from {folder.resolve()}; each run indexes exactly the paths given, here "
        f"{(folder / 'rent.md').resolve()})" in (report.refused or "")
    )


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
def test_the_cli_exits_4_on_a_refused_shrink_and_says_why(folder: Path, tmp_path: Path) -> None:
    for name in ("office", "lab", "visa", "tax"):
        (folder / f"{name}.md").write_text(POLICY.replace("Rent", name), encoding="utf-8")
    env = clean_env(DATA_DIR=str(tmp_path / "data"), EMBEDDING_PROVIDER="local")
    command = [sys.executable, str(ROOT / "ingest.py"), str(folder), "--json"]
    assert subprocess.run(command, capture_output=True, env=env, timeout=300, check=False).returncode == 0
    for name in ("office", "lab", "visa", "tax"):
        (folder / f"{name}.md").unlink()
    (folder / "note.md").write_text("# Note\n\nNothing here yet.\n", encoding="utf-8")
    refused = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    summary = json.loads(refused.stdout)
    assert refused.returncode == 4 and not summary["published"] and summary["added"] == []
    assert summary["pending"] == {
        "added": ["note.md"],
        "updated": [],
        "removed": ["lab.md", "office.md", "tax.md", "visa.md"],
    }
    assert "would hold 2 of the 5 chunks served now" in summary["refused"]


def test_strict_says_nothing_was_published_instead_of_listing_files_as_added(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    store = make_store(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    report = Ingest(store, DeterministicFakeEmbedding(size=16)).run([folder], strict=True)
    assert not report.published and report.added == [] and report.pending["added"] == ["rent.md"]
    assert report.refused == "--strict: 1 file(s) failed, so nothing was published"


def test_a_killed_ingests_unfinished_generation_is_removed_by_the_next(folder: Path, tmp_path: Path) -> None:
    _ingest(folder, tmp_path)
    store = make_store(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    served = _served(tmp_path)
    store.create("99991231T235959-abcdef")  # what a killed ingest leaves: built, never published
    (folder / "rent.md").write_text(POLICY.replace("2,500", "2,600"), encoding="utf-8")
    report = Ingest(store, DeterministicFakeEmbedding(size=16)).run([folder])
    assert report.published and not (tmp_path / "data" / "index" / "99991231T235959-abcdef").exists()
    assert served in [p.name for p in (tmp_path / "data" / "index").iterdir()], "the previous one stays for readers"


def test_a_record_the_size_of_a_book_is_refused_with_its_row_and_the_rest_ingests(folder: Path, tmp_path: Path) -> None:
    body = "word " * 198_000  # one 967 KB JSON record cost 4 GB
    (folder / "report.json").write_text(json.dumps([{"title": "Fees", "body": "RMB 40"}, {"body": body}]))
    started = time.perf_counter()
    report, _ = _ingest(folder, tmp_path)
    assert time.perf_counter() - started < 5 and report.added == ["rent.md"]
    assert [(f.path, f.reason) for f in report.failed] == [
        (
            "report.json",
            "row 2 holds 990,005 characters; a record may hold 100,000: put long text in a document of its own",
        )
    ]


def test_a_long_record_is_split_and_every_embedded_text_is_bounded(folder: Path, tmp_path: Path) -> None:
    words = " ".join(f"clause {n} of the long report says the fee is RMB {n}." for n in range(1_500))
    (folder / "report.json").write_text(json.dumps([{"title": "Annual report", "body": words}]), encoding="utf-8")
    seen: list[int] = []

    class Measuring(DeterministicFakeEmbedding):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            seen.extend(map(len, texts))
            return super().embed_documents(texts)

    store = make_store(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = Ingest(store, Measuring(size=16)).run([folder])
    assert report.published and report.failed == [] and report.chunks > 50
    assert max(seen) <= 2000
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300 * 1024  # KiB


def _listing(rows: int) -> str:
    return "id,name,fee\n" + "".join(f"EQ-{n},Lathe {n},RMB {n} per hour\n" for n in range(1, rows + 1))


def test_a_listing_failing_half_way_leaves_none_of_its_rows_in_the_index(folder: Path, tmp_path: Path) -> None:
    (folder / "fees.csv").write_text(_listing(600) + "EQ-601,Mill,RMB 5,extra value\n", encoding="utf-8")
    report, texts = _ingest(folder, tmp_path)
    assert [(f.path, f.reason) for f in report.failed] == [
        (
            "fees.csv",
            "row 601 has more values than the header has columns (4, the header 3: id, name, fee): "
            'a value holding the separator ("RMB 2,500") must be in quotes',
        )
    ]
    assert report.published and report.added == ["rent.md"] and report.chunks == 1
    assert not any("Lathe" in text for text in texts), (
        "the 600 rows read before the bad one were embedded, then dropped"
    )


def test_each_file_reports_rows_done_of_its_estimated_total(folder: Path, tmp_path: Path) -> None:
    (folder / "fees.csv").write_text(_listing(700), encoding="utf-8")
    seen: list[tuple[str, int, int]] = []
    store = make_store(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    Ingest(store, DeterministicFakeEmbedding(size=16), lambda *step: seen.append(step)).run([folder])
    rows = [(done, total) for name, done, total in seen if name == "fees.csv"]
    assert rows[-1] == (700, 700) and len(rows) > 2, "several steps, each rows done of the file's row count"
    assert ("files", 0, 2) in seen


def test_a_big_listing_is_embedded_once_per_row(folder: Path, tmp_path: Path) -> None:
    (folder / "fees.csv").write_text(_listing(300), encoding="utf-8")
    size = (folder / "fees.csv").stat().st_size
    counts = []
    for limit in (size, size - 1):  # at the limit: three views a row; over it: one
        store = make_store(Settings(data_dir=tmp_path / f"data-{limit}", _env_file=None))  # type: ignore[call-arg]
        report = Ingest(store, DeterministicFakeEmbedding(size=16), lean_listing_bytes=limit).run([folder])
        counts.append((report.chunks, store.open(report.generation or "").count()))
    assert counts[0][0] == counts[1][0] == 301
    assert counts[1][1] == 301 and counts[0][1] > 600


def test_a_very_big_listing_shares_vectors_yet_each_row_is_found_as_its_own_passage(
    folder: Path, tmp_path: Path, local_embeddings: LocalEmbeddings
) -> None:
    (folder / "fees.csv").write_text(_listing(300), encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    store = make_store(settings)
    ingest = Ingest(store, local_embeddings, lean_listing_bytes=0, group_listing_bytes=0)
    report = ingest.run([folder])
    assert report.chunks == 301 and store.open(report.generation or "").count() == 1 + 300 // GROUP_ROWS
    found = HybridSearcher(store, local_embeddings).search("Lathe 137 fee", k=1)[0]
    assert (found.source, found.row, found.title) == ("fees.csv", 137, "Lathe 137")
    assert found.text == "id: EQ-137\nname: Lathe 137\nfee: RMB 137 per hour"
    assert ingest.run([folder]).unchanged == ["fees.csv", "rent.md"], "nothing re-read on the next run"


def test_a_generation_read_a_few_entries_at_a_time_answers_as_one_read_at_once(
    folder: Path, tmp_path: Path, local_embeddings: LocalEmbeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import knowledge.snapshot

    (folder / "fees.csv").write_text(_listing(300), encoding="utf-8")  # packed, 4 rows an entry
    (folder / "rooms.csv").write_text("room,seats\nA1,12\nB2,40\nC3,8\n", encoding="utf-8")  # 3 views a row
    store = make_store(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    Ingest(store, local_embeddings, group_listing_bytes=2_000).run([folder])
    questions = ("Lathe 137 fee", "room with 40 seats", "rent subsidy for a doctor", "Lathe 3")

    def answers() -> list[list[tuple[str, str, float]]]:
        searcher = HybridSearcher(store, local_embeddings)
        return [[(p.source_key, p.text, p.score) for p in searcher.search(q, k=4)] for q in questions]

    at_once = answers()
    monkeypatch.setattr(knowledge.snapshot, "BATCH", 7)  # batches end inside groups' and views' neighbours
    assert answers() == at_once
    assert at_once[0][0][0] == "fees.csv#137" and at_once[1][0][0] == "rooms.csv#2"


def test_an_alias_bomb_in_a_programme_rule_file_is_that_files_failure(folder: Path, tmp_path: Path) -> None:
    (folder / "programmes").mkdir()
    (folder / "programmes" / "bomb.yaml").write_text("scheme:\n" + textwrap.indent(BOMB, "  "), encoding="utf-8")
    started = time.perf_counter()
    report, _ = _ingest(folder, tmp_path)
    assert time.perf_counter() - started < 5
    assert [f.path for f in report.failed] == ["programmes/bomb.yaml"] and "aliases" in report.failed[0].reason
    assert report.published and report.added == ["rent.md"]


def test_an_alias_bomb_in_curated_answers_is_refused_with_a_reason(tmp_path: Path) -> None:
    from bot.core.curated import CuratedError, load_entries

    path = tmp_path / "curated.yaml"
    path.write_text("- id: x\n  answer: y\n  notes:\n" + textwrap.indent(BOMB, "    "), encoding="utf-8")
    with pytest.raises(CuratedError, match="aliases"):
        load_entries([path])


def test_a_folder_given_inside_another_is_read_once(folder: Path, tmp_path: Path) -> None:
    """`ingest.py kb kb/policies` indexed every policy twice, as policies/x.md and as x.md: duplicate passages
    crowding an answer's three sources."""
    (folder / "policies").mkdir()
    (folder / "policies" / "office.md").write_text(POLICY.replace("Rent", "Office"), encoding="utf-8")
    store = make_store(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    report = Ingest(store, DeterministicFakeEmbedding(size=16)).run([folder, folder / "policies"])
    assert sorted(report.added) == ["policies/office.md", "rent.md"] and report.chunks == 2
    reason = "already read as policies/office.md (a folder given twice, or inside another folder given)"
    assert {"path": "office.md", "reason": reason} in [skipped.model_dump() for skipped in report.ignored]


def test_a_first_ingest_of_an_empty_folder_says_so_instead_of_0_chunks(tmp_path: Path) -> None:
    """It printed '0 chunks, index unchanged' and exited 0, as if every file had been ingested."""
    empty = tmp_path / "kb"
    empty.mkdir()
    (empty / "checks.yaml").write_text("- id: a\n  question: where?\n  sources: []\n", encoding="utf-8")
    report, _ = _ingest(empty, tmp_path)
    assert not report.published and report.refused_by == "shrink"
    assert report.refused == (
        f"no documents to ingest in {empty.resolve()} (an empty or unmounted folder?): nothing was published"
    )
