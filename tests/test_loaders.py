"""Loaders: every supported format and encoding, on files each test writes itself, and every failure reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from langchain_core.documents import Document

from knowledge.loaders import load_file
from knowledge.reading import LoadError
from knowledge.split import split_document

POLICY_MD = """---
title: Innovation vouchers
language: en
effective: 2025-10-01
expires: 2026-12-31
url: https://example.org/policies/vouchers
topics: [vouchers, funding]
---
# Vouchers for R&D services

Each company may use at most RMB 186,400 of vouchers per calendar year.
"""

# Word and Excel save password-protected files as OLE compound documents, which start with these bytes and hold an
# "EncryptedPackage" stream; the old binary .doc and .xls are OLE documents too, with a "WordDocument" or "Workbook".
OLE_HEADER = bytes.fromhex("d0cf11e0a1b11ae1")


def _ole(stream: str) -> bytes:
    return OLE_HEADER + bytes(504) + stream.encode("utf-16-le")


PARK_ROWS = [
    ["名称", "所属单位", "收费标准", "联系电话"],
    ["冷冻电镜", "张江药谷平台", "每天9800元", "021-5080 1234"],
    ["核磁共振波谱仪", "科兰医药", "每小时780元", "021-5080 5678"],
]


def _load(path: Path, root: Path | None = None) -> list[Document]:
    return load_file(path, root or path.parent)


def _rows(docs: list[Document]) -> list[int]:
    return [doc.metadata["row"] for doc in docs]


def test_markdown_front_matter_reaches_metadata(tmp_path: Path) -> None:
    path = tmp_path / "policies" / "vouchers.md"
    path.parent.mkdir()
    path.write_text(POLICY_MD, encoding="utf-8")
    [doc] = _load(path, tmp_path)
    assert doc.metadata == {
        "source": "policies/vouchers.md",
        "kind": "policy",
        "row": None,
        "sheet": None,
        "title": "Innovation vouchers",
        "language": "en",
        "effective": "2025-10-01",
        "expires": "2026-12-31",
        "url": "https://example.org/policies/vouchers",
        "topics": "vouchers,funding",
    }
    assert doc.page_content.startswith("# Vouchers for R&D services") and "---" not in doc.page_content


def test_markdown_without_front_matter_takes_title_and_dates_from_the_text(tmp_path: Path) -> None:
    path = tmp_path / "housing.md"
    text = "# 青年人才安居办法\n\n施行日期：2025年3月1日　有效期至2027年2月28日\n\n博士每月3,400元租房补贴。\n"
    path.write_text(text, encoding="utf-8")
    [doc] = _load(path)
    assert doc.metadata["title"] == "青年人才安居办法"
    assert doc.metadata["language"] == "zh"
    assert (doc.metadata["effective"], doc.metadata["expires"]) == ("2025-03-01", "2027-02-28")


def test_plain_text_is_one_document_titled_by_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "faq.txt"
    path.write_text("Office hours\n\nThe service desk opens 9:00-17:30 on working days.\n", encoding="utf-8")
    [doc] = _load(path)
    assert doc.metadata["title"] == "Office hours" and doc.metadata["language"] == "en"
    assert "9:00-17:30" in doc.page_content


def test_html_keeps_structure_and_drops_page_furniture(tmp_path: Path) -> None:
    path = tmp_path / "guide.html"
    path.write_text(
        """<html lang="zh-CN"><head><title>申报指南</title><style>p {color: red}</style></head>
        <body><nav>首页 | 登录</nav><h1>申报指南</h1><h2>申报条件</h2>
        <ul><li>注册在浦东新区</li><li>成立不满五年</li></ul>
        <p>材料于每月15日前提交。</p><script>track()</script><footer>版权所有</footer></body></html>""",
        encoding="utf-8",
    )
    [doc] = _load(path)
    assert doc.metadata["title"] == "申报指南" and doc.metadata["language"] == "zh"
    assert "## 申报条件" in doc.page_content and "- 注册在浦东新区" in doc.page_content
    assert "材料于每月15日前提交。" in doc.page_content
    for furniture in ("track()", "color: red", "登录", "版权所有"):
        assert furniture not in doc.page_content


def test_docx_headings_lists_tables_and_properties(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Talent apartments"
    document.core_properties.keywords = "housing, talent"
    document.add_heading("Talent apartments", level=0)
    document.add_heading("Who may apply", level=1)
    document.add_paragraph("Employees of registered companies in the park.", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, [("Room", "Rent"), ("One-bed", "RMB 2,100 a month")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    path = tmp_path / "apartments.docx"
    document.save(str(path))
    [doc] = _load(path)
    assert doc.metadata["title"] == "Talent apartments" and doc.metadata["topics"] == "housing,talent"
    lines = doc.page_content.splitlines()
    assert "# Talent apartments" in lines and "## Who may apply" in lines
    assert "- Employees of registered companies in the park." in lines
    assert "One-bed | RMB 2,100 a month" in lines


def _pdf(path: Path, title: str, lines: list[str], *pages: list[str]) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for page in (lines, *pages):
        pdf.add_page()
        for line in page:
            pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def test_pdf_text_layer_and_title(tmp_path: Path) -> None:
    path = tmp_path / "notice.pdf"
    _pdf(path, "Pilot scenario call", ["Pilot scenario call 2026", "Applications close on 30 June 2026."])
    [doc] = _load(path)
    assert doc.metadata["title"] == "Pilot scenario call"
    assert "Applications close on 30 June 2026." in doc.page_content


def test_chapter_lines_of_a_pdf_or_plain_text_become_the_chunks_section(tmp_path: Path) -> None:
    lines = [
        "Open Partner Rules",
        "Chapter 4. Scenario pilots",
        "Article 12. When a proof of concept succeeds, the district pays 25% of the pilot contract, up to a cap",
        "set in Chapter 5 of these rules.",
        "Chapter 5. Incentives",
        "Article 14. Every Open Partner reports by 31 January.",
    ]
    _pdf(tmp_path / "rules.pdf", "Open Partner Rules", lines)
    (tmp_path / "办法.txt").write_text("人才办法\n第二章　安居支持\n第五条　博士每月3,400元。\n", encoding="utf-8")
    sections = {
        name: [(c.metadata["section"], c.page_content.split()[0]) for c in split_document(_load(tmp_path / name)[0])]
        for name in ("rules.pdf", "办法.txt")  # each begins with its title line, a chunk of no section
    }
    chapters = [("Chapter 4. Scenario pilots", "Article"), ("Chapter 5. Incentives", "Article")]
    assert sections["rules.pdf"][1:] == chapters
    assert "set in Chapter 5 of these rules." in _load(tmp_path / "rules.pdf")[0].page_content  # a wrapped line
    assert sections["办法.txt"][1:] == [("第二章　安居支持", "第五条")]


def test_a_pdf_guide_is_cut_at_its_numbered_titles_and_faq_questions_without_its_page_footers(tmp_path: Path) -> None:
    first = [
        "Applicant's Guide 2025",
        "1. Documents to prepare",
        "- a headcount certificate issued within the last 30 days;",
        "- a shareholding chart showing every shareholder that holds 5% or",
        "more of the shares.",
        "2. Key dates",
        "- 20 December: unused vouchers lapse",
        "Guide 2025 (sample) - page 1",
    ]
    second = [
        "3. Frequently asked questions",
        "Does membership cost anything?",
        "No. There is no fee for applying or for being a Member. Anchor Partners charge for",
        "instrument time at the rates in the catalogue.",
        "Our company is 7 years old. Can we still apply?",
        "No. The limit of 7 years since registration is checked on the date you file.",
        "Guide 2025 (sample) - page 2",
    ]
    _pdf(tmp_path / "guide.pdf", "Applicant's Guide 2025", first, second)
    chunks = split_document(_load(tmp_path / "guide.pdf")[0])
    by_section = {c.metadata["section"]: c.page_content for c in chunks}
    assert list(by_section) == [
        None,  # the title line
        "1. Documents to prepare",
        "2. Key dates",
        "3. Frequently asked questions > Does membership cost anything?",
        "3. Frequently asked questions > Our company is 7 years old. Can we still apply?",
    ]
    # A sentence the page width broke is one line again, so a short answer quotes it whole.
    assert "holds 5% or more of the shares." in by_section["1. Documents to prepare"]
    assert by_section["3. Frequently asked questions > Does membership cost anything?"].startswith("No. There is no")
    assert not any("page" in c.page_content for c in chunks)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_csv_with_chinese_headers_in_every_encoding(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "平台仪器.csv"
    path.write_bytes("\r\n".join(",".join(row) for row in PARK_ROWS).encode(encoding))
    docs = _load(path)
    assert _rows(docs) == [1, 2]
    assert docs[0].page_content.splitlines() == [
        "名称: 冷冻电镜",
        "所属单位: 张江药谷平台",
        "收费标准: 每天9800元",
        "联系电话: 021-5080 1234",
    ]
    assert docs[1].metadata["title"] == "核磁共振波谱仪" and docs[1].metadata["kind"] == "listing"
    assert {doc.metadata["source"] for doc in docs} == {"平台仪器.csv"}


def test_csv_row_numbers_are_the_spreadsheet_rows_even_after_a_blank_one(tmp_path: Path) -> None:
    path = tmp_path / "patents.csv"
    path.write_text("Patent No.,Title\nCN1001,Gene vector\n,\nCN1003,Cell line\n", encoding="utf-8")
    docs = _load(path)
    assert _rows(docs) == [1, 3]
    assert docs[1].page_content == "Patent No.: CN1003\nTitle: Cell line"
    assert docs[1].metadata["title"] == "Cell line"


def test_xlsx_loads_every_sheet_with_readable_cells(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    instruments = workbook.active
    instruments.title = "Instruments"
    instruments.append(["Instrument", "Fee per day", "Available from"])
    instruments.append(["Cryo-EM", 9800.0, datetime(2026, 1, 5)])
    instruments.append(["Mass spectrometer", 2400, datetime(2026, 2, 1)])
    patents = workbook.create_sheet("专利")
    patents.append(["专利号", "名称"])
    patents.append(["CN2024001", "一种细胞培养装置"])
    path = tmp_path / "listings.xlsx"
    workbook.save(path)
    docs = _load(path)
    assert [(d.metadata["sheet"], d.metadata["row"]) for d in docs] == [
        ("Instruments", 1),
        ("Instruments", 2),
        ("专利", 1),
    ]
    assert docs[0].page_content == "Instrument: Cryo-EM\nFee per day: 9800\nAvailable from: 2026-01-05"
    assert docs[2].metadata["title"] == "一种细胞培养装置" and docs[2].metadata["language"] == "zh"


def test_a_title_typed_above_a_csv_table_is_not_taken_for_its_header(tmp_path: Path) -> None:
    """It was: 'row 2 has more values than the header has columns', the title being the header."""
    path = tmp_path / "instruments.csv"
    rows = ["附件1", "2026年张江共享仪器清单", "", *(",".join(row) for row in PARK_ROWS)]
    path.write_bytes("\r\n".join(rows).encode("gbk"))
    docs = _load(path)
    assert docs[0].page_content.splitlines()[:2] == ["名称: 冷冻电镜", "所属单位: 张江药谷平台"]
    assert [doc.metadata["title"] for doc in docs] == ["冷冻电镜", "核磁共振波谱仪"]


def test_a_title_merged_across_an_xlsx_table_is_not_taken_for_its_header(tmp_path: Path) -> None:
    """It was silently the header: every record read '2026 instrument list: Cryo-EM', 'column 2: 9800'."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["2026 instrument list"])
    sheet.merge_cells("A1:C1")
    sheet.append(["Instrument", "Fee per day", "Unit"])
    sheet.append(["Cryo-EM", 9800, "RMB"])
    path = tmp_path / "instruments.xlsx"
    workbook.save(path)
    [doc] = _load(path)
    assert doc.page_content == "Instrument: Cryo-EM\nFee per day: 9800\nUnit: RMB" and doc.metadata["row"] == 1


def test_a_one_column_listing_keeps_its_header(tmp_path: Path) -> None:
    path = tmp_path / "offices.csv"
    offices = ["Lingang", "Zhangjiang", "Jinqiao", "Waigaoqiao", "Chuansha"]
    path.write_text("Office\n" + "".join(f"{office} service desk\n" for office in offices), encoding="utf-8")
    assert [doc.page_content for doc in _load(path)] == [f"Office: {office} service desk" for office in offices]
    path.write_text("Office\nLingang service desk\n", encoding="utf-8")
    assert [doc.page_content for doc in _load(path)] == ["Office: Lingang service desk"]


def test_front_matter_left_open_is_named_instead_of_indexed_as_text(tmp_path: Path) -> None:
    """Its keys were indexed, and could be quoted, as the document's first paragraph: '--- title: Rent ...'."""
    path = tmp_path / "rent.md"
    path.write_text("---\ntitle: Rent subsidy\nlanguage: en\n# Rent subsidy\n\nRMB 2,500 a month.\n", encoding="utf-8")
    with pytest.raises(LoadError, match="front matter opened with '---' on line 1 is never closed: end it with"):
        _load(path)


def test_a_rule_at_the_top_of_a_page_is_not_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "rent.md"
    path.write_text("---\n\n# Rent subsidy\n\nRMB 2,500 a month.\n", encoding="utf-8")
    assert "RMB 2,500 a month." in _load(path)[0].page_content


def test_json_array_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "solutions.json"
    items = [
        {"name": "AI quality inspection", "sectors": ["electronics", "auto parts"], "price": 120000},
        {"name": "Cold-chain tracking", "sectors": ["pharma"], "price": None},
    ]
    path.write_text(json.dumps(items), encoding="utf-8")
    docs = _load(path)
    assert _rows(docs) == [1, 2]
    assert docs[0].page_content == "name: AI quality inspection\nsectors: electronics, auto parts\nprice: 120000"
    assert docs[1].page_content == "name: Cold-chain tracking\nsectors: pharma"


def test_json_object_of_arrays_is_one_sheet_per_key(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    data = {"instruments": [{"name": "NMR"}, {"name": "Cryo-EM"}], "场景": [{"名称": "智慧港口"}]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    docs = _load(path)
    assert [(d.metadata["sheet"], d.metadata["row"], d.metadata["title"]) for d in docs] == [
        ("instruments", 1, "NMR"),
        ("instruments", 2, "Cryo-EM"),
        ("场景", 1, "智慧港口"),
    ]


def test_yaml_records_with_dates(tmp_path: Path) -> None:
    path = tmp_path / "events.yaml"
    path.write_text(
        "- title: Demo day\n  date: 2026-04-18\n  venue: Zhangjiang Science Hall\n"
        "- title: 路演日\n  date: 2026-05-20\n  venue: 张江科学会堂\n",
        encoding="utf-8",
    )
    docs = _load(path)
    assert docs[0].page_content == "title: Demo day\ndate: 2026-04-18\nvenue: Zhangjiang Science Hall"
    assert [d.metadata["language"] for d in docs] == ["en", "zh"]


def _encrypted_pdf(path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = path.with_name("plain.pdf")
    _pdf(plain, "Confidential", ["Internal budget"])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password="s3cret", algorithm="RC4-128")
    with path.open("wb") as handle:
        writer.write(handle)


def _write(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(data)

    return write


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("empty.md", _write(b""), "file is empty"),
        ("scan.pdf", _write(b"%PDF-1.4\nthis is not really a pdf"), "not a readable PDF"),
        ("form.docx", _write(b"PK\x03\x04 truncated zip"), "not a readable Word .docx file"),
        ("prices.xlsx", _write(b"plain text saved with the wrong name"), "not a readable .xlsx"),
        ("notes.rtf", _write(b"{\\rtf1 hello}"), "unsupported file type '.rtf'"),
        ("locked.pdf", _encrypted_pdf, "password-protected"),
        ("locked.docx", _write(_ole("EncryptedPackage")), "password-protected; save an unprotected copy"),
        ("locked.xlsx", _write(_ole("EncryptedPackage")), "password-protected; save an unprotected copy"),
        (
            "report.docx",
            _write(_ole("WordDocument")),
            "a Word 97-2003 .doc file with a .docx name: open it and save it as .docx",
        ),
        ("fees.xlsx", _write(_ole("Workbook")), "an Excel 97-2003 .xls file with a .xlsx name: open it and save it as"),
        ("report.doc", _write(_ole("WordDocument")), "unsupported file type '.doc': save it as .docx"),
        ("broken.json", _write(b'[{"name": "NMR",}]'), "invalid JSON at line 1"),
    ],
)
def test_unreadable_files_are_reported_with_path_and_reason(
    tmp_path: Path, name: str, make: Callable[[Path], None], reason: str
) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(LoadError) as caught:
        _load(path)
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(path) in str(caught.value)


BILINGUAL_MD = """---
title: Rent subsidy / 租房补贴
language: {language}
---
# Rent subsidy

A doctor who joins a programme company receives RMB 2,500 a month for at most 24 months.

# 租房补贴

入驻企业引进的博士，每月可获得2500元租房补贴，最长24个月。
"""


@pytest.mark.parametrize("language", ["en, zh", "[zh, en]", "EN,ZH"])
def test_a_bilingual_policy_ingests_and_each_chunk_has_its_own_language(tmp_path: Path, language: str) -> None:
    path = tmp_path / "rent.md"
    path.write_text(BILINGUAL_MD.format(language=language), encoding="utf-8")
    chunks = [chunk for doc in _load(path) for chunk in split_document(doc)]
    languages = {chunk.page_content[:4]: chunk.metadata["language"] for chunk in chunks}
    assert languages == {"A do": "en", "入驻企业": "zh"}


def test_a_language_that_is_neither_is_still_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "rent.md"
    path.write_text(BILINGUAL_MD.format(language="en, fr"), encoding="utf-8")
    with pytest.raises(LoadError, match="'language' must be en, zh, or both as 'en, zh', got 'en, fr'"):
        _load(path)
