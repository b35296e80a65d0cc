"""Files in, LangChain documents out: prose as one Markdown-like document, tables as one document per row.

Every document carries `source` (path relative to the ingested folder), `kind` (`policy` or `listing`),
`row`/`sheet` for records, `title`, `language`, and the front-matter fields `effective`, `expires`,
`url` and `topics` when the file has them.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from bs4 import BeautifulSoup, Tag
from langchain_core.documents import Document

from knowledge.language import detect_language
from knowledge.safe_yaml import load_yaml

MAX_FILE_BYTES = 50 * 1024 * 1024
# A spreadsheet row or JSON object is a record, not a report: one of 1 MB would take minutes to embed as prose.
MAX_RECORD_TEXT = 100_000
META_FIELDS = ("title", "language", "effective", "expires", "url", "topics")
DATE_FIELDS = ("effective", "expires")
# Column headers that name a record, so an answer can say which row it quotes; a plain "title" wins
# over a column that merely mentions the thing ("Patent No.").
_TITLE_COLUMNS = (
    re.compile(r"^(title|name|标题|名称|题目)\b", re.IGNORECASE),
    re.compile(r"^(instrument|equipment|patent|solution|scenario|仪器|设备|专利|场景)", re.IGNORECASE),
)
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_EN_DATE = rf"(\d{{1,2}} (?:{_MONTHS}) \d{{4}})"
_ZH_DATE = r"(\d{4})年(\d{1,2})月(\d{1,2})日"
# Dates stated in a policy's header line, for files without front matter (most official texts).
_HEADER_DATES = {
    "effective": [
        rf"(?:施行|生效|实施)日期[：:]\s*{_ZH_DATE}",
        rf"(?:[Vv]alid|[Ee]ffective|[Aa]pplies\b[^.\n]*?) from {_EN_DATE}",
        rf"[Ee]ffective(?: on)? {_EN_DATE}",
    ],
    "expires": [rf"有效期至\s*{_ZH_DATE}", rf"[Vv]alid from {_EN_DATE} (?:to|until) {_EN_DATE}"],
}
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)
# The headings of official texts in formats without markup (a PDF's text layer, plain text): "Chapter 4. Scenario
# pilots", "Part II: Funding", "第四章 场景试点", "第二节　申请". Articles and numbered clauses are not headings.
_PLAIN_HEADING = re.compile(
    r"^[ \t]*((?:chapter|part|section)[ \t]+(?:\d+|[IVXLC]+)\b[.:：]?[^.。;；\n]{0,80}"
    r"|第[一二三四五六七八九十百零\d]+[章节编][^。；\n]{0,40})[ \t]*$",
    re.IGNORECASE,
)
_SENTENCE_ENDS = tuple(".。:：;；!！?？")


class LoadError(Exception):
    """A file that cannot be ingested, with the reason in words a staff member can act on."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _relative(path: Path, root: Path) -> str:
    if root.is_file() or path == root:
        return path.name
    return path.relative_to(root).as_posix()


def _iso(value: object, field: str, path: Path) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise LoadError(path, f"'{field}' must be a date like 2026-01-31, got '{value}'") from None


def _clean_meta(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """Front-matter fields we know, normalised: ISO dates, topics as one comma-separated string."""
    meta: dict[str, Any] = {}
    for field in META_FIELDS:
        value = raw.get(field)
        if value in (None, "", []):
            continue
        if field in DATE_FIELDS:
            meta[field] = _iso(value, field, path)
        elif field == "topics":
            items = value if isinstance(value, list) else str(value).split(",")
            meta[field] = ",".join(str(item).strip() for item in items if str(item).strip())
        elif field == "language":
            language = str(value).strip().lower()
            if language not in ("en", "zh"):
                raise LoadError(path, f"'language' must be en or zh, got '{value}'")
            meta[field] = language
        else:
            meta[field] = str(value).strip()
    return meta


def _header_dates(text: str) -> dict[str, str]:
    """Effective and expiry dates a policy states near its top, as ISO dates."""
    head = text[:800]
    found: dict[str, str] = {}
    for field, patterns in _HEADER_DATES.items():
        for pattern in patterns:
            match = re.search(pattern, head)
            if not match:
                continue
            groups = match.groups()
            if len(groups) == 3:
                found[field] = date(*map(int, groups)).isoformat()
            else:
                found[field] = datetime.strptime(groups[-1], "%d %B %Y").date().isoformat()
            break
    return found


def _prose(path: Path, root: Path, text: str, meta: dict[str, Any]) -> list[Document]:
    if not text.strip():
        raise LoadError(path, "no text found")
    meta = {**_header_dates(text), **meta}
    heading = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.M)
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), path.stem)
    title = meta.get("title") or (heading.group(1) if heading else first_line if len(first_line) <= 80 else path.stem)
    metadata = {
        "source": _relative(path, root),
        "kind": "policy",
        "row": None,
        "sheet": None,
        **meta,
        "title": title,
        "language": meta.get("language") or detect_language(text),
    }
    return [Document(page_content=text.strip(), metadata=metadata)]


# UTF-32's marks begin with UTF-16's, so they are tried first.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode(path: Path, data: bytes) -> str:
    """By its byte-order mark (Excel's "Unicode text" is UTF-16), else UTF-8, else GB18030 (GBK's superset)."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                raise LoadError(path, f"text has a {encoding.upper()} byte-order mark but is not {encoding}") from None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LoadError(path, "text is neither UTF-8/16/32 nor GBK/GB18030")


def _markdown(path: Path, root: Path) -> list[Document]:
    text = _decode(path, path.read_bytes())
    meta: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            raw = load_yaml(match.group(1)) or {}
        except yaml.YAMLError as exc:
            raise LoadError(path, f"front matter is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise LoadError(path, "front matter must be 'key: value' lines")
        meta = _clean_meta(raw, path)
        text = text[match.end() :]
    return _prose(path, root, text, meta)


def _mark_headings(text: str) -> str:
    """Chapter and section lines of unmarked text as Markdown headings, so chunks keep their chapter as context.

    Not a line that continues a wrapped sentence ("...as the partner is required to do under\nSection 3 of these
    rules"): the line before a heading is blank, ends a sentence, or is short (a title, another heading).
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        before = lines[index - 1].rstrip() if index else ""
        if _PLAIN_HEADING.match(line) and (len(before) < 50 or before.endswith(_SENTENCE_ENDS)):
            lines[index] = f"\n## {line.strip()}\n"
    return "\n".join(lines)


def _text(path: Path, root: Path) -> list[Document]:
    return _prose(path, root, _mark_headings(_decode(path, path.read_bytes())), {})


def _html_block(tag: Tag) -> str:
    name = tag.name or ""
    words = " ".join(tag.get_text(" ", strip=True).split())
    if re.fullmatch(r"h[1-6]", name):
        return f"{'#' * int(name[1])} {words}"
    if name == "li":
        return f"- {words}"
    if name == "tr":
        return " | ".join(" ".join(cell.get_text(" ", strip=True).split()) for cell in tag.find_all(["th", "td"]))
    if name == "pre":
        return tag.get_text()
    return words


def _html(path: Path, root: Path) -> list[Document]:
    soup = BeautifulSoup(_decode(path, path.read_bytes()), "html.parser")
    raw: dict[str, Any] = {
        str(m.get("name")).lower(): m.get("content")
        for m in soup.find_all("meta")
        if m.get("name") and m.get("content")
    }
    if soup.title and soup.title.string and "title" not in raw:
        raw["title"] = soup.title.string.strip()
    if soup.html and soup.html.get("lang") and "language" not in raw:
        raw["language"] = str(soup.html.get("lang")).split("-")[0]
    for noise in soup.find_all(["script", "style", "nav", "footer", "head", "template"]):
        noise.decompose()
    blocks = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "tr", "pre", "blockquote", "dt", "dd"]
    # Only outermost blocks: a <p> inside an <li> is already in the item's text.
    found = [t for t in soup.find_all(blocks) if not t.find_parent(blocks)]
    text = "\n\n".join(block for block in map(_html_block, found) if block.strip())
    if not found:
        text = soup.get_text("\n", strip=True)
    return _prose(path, root, text, _clean_meta(raw, path))


def _docx(path: Path, root: Path) -> list[Document]:
    import docx  # python-docx is slow to import; most runs never see a .docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        reason = (
            "password-protected"
            if _is_encrypted_office(path)
            else f"not a readable Word .docx file ({exc.__class__.__name__})"
        )
        raise LoadError(path, reason) from None
    lines: list[str] = []
    shift = 1 if _has_title(document) else 0  # "Heading 1" sits under the document's own title
    for paragraph in document.paragraphs:
        words = paragraph.text.strip()
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        level = re.match(r"Heading (\d)", style)
        if not words:
            continue
        if style == "Title":
            lines.append(f"# {words}")
        elif level:
            lines.append(f"{'#' * min(int(level.group(1)) + shift, 6)} {words}")
        elif style.startswith("List"):
            lines.append(f"- {words}")
        else:
            lines.append(words)
    for table in document.tables:
        lines += [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
    props = document.core_properties
    raw = {"title": props.title, "topics": props.keywords, "language": (props.language or "").split("-")[0] or None}
    meta = _clean_meta({k: v for k, v in raw.items() if v}, path) if raw["language"] in (None, "en", "zh") else {}
    return _prose(path, root, "\n\n".join(lines), meta)


def _has_title(document: Any) -> bool:
    return any((p.style is not None and p.style.name == "Title") for p in document.paragraphs[:3])


def _pdf(path: Path, root: Path) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise LoadError(path, "PDF is password-protected; save an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfReadError as exc:
        raise LoadError(path, f"not a readable PDF ({exc})") from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise LoadError(path, "PDF has no text layer (a scan?); run OCR or supply the text")
    title = reader.metadata.title if reader.metadata and reader.metadata.title else None
    return _prose(path, root, _mark_headings(text), {"title": title} if title else {})


def _cell(value: Any) -> str:
    """A cell as a person would read it: dates as ISO, whole numbers without '.0', lists joined."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(_cell(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_cell(item)}" for key, item in value.items())
    return " ".join(str(value).split())


def _headers(raw: list[Any]) -> list[str]:
    """Header names as the sheet has them; blank or repeated ones get a position so no value is lost."""
    names: list[str] = []
    for position, value in enumerate(raw, 1):
        name = _cell(value) or f"column {position}"
        names.append(f"{name} ({position})" if name in names else name)
    return names


def _records(
    path: Path, root: Path, rows: Iterable[tuple[int, dict[str, str]]], sheet: str | None = None
) -> list[Document]:
    """One 'Column: value' document per non-empty row, numbered as the staff see it (1 = first data row)."""
    source = _relative(path, root)
    documents = []
    for row, record in rows:
        values = {key: value for key, value in record.items() if value}
        if not values:
            continue
        title_key = next((k for pattern in _TITLE_COLUMNS for k in values if pattern.match(k.strip())), None)
        title = values[title_key] if title_key else next(iter(values.values()))
        body = "\n".join(f"{key}: {value}" for key, value in values.items())
        if len(body) > MAX_RECORD_TEXT:
            raise LoadError(
                path,
                f"row {row} holds {len(body):,} characters; a record may hold {MAX_RECORD_TEXT:,}: "
                "put long text in a document of its own",
            )
        metadata = {
            "source": source,
            "kind": "listing",
            "row": row,
            "sheet": sheet,
            "title": title[:120],
            "language": detect_language(body),
        }
        documents.append(Document(page_content=body, metadata=metadata))
    return documents


def _table(path: Path, root: Path, table: list[list[Any]], sheet: str | None = None) -> list[Document]:
    start = next((i for i, row in enumerate(table) if any(_cell(v) for v in row)), None)
    if start is None:
        return []
    headers = _headers(table[start])
    rows = []
    for row, values in enumerate(table[start + 1 :], 1):
        cells = [_cell(v) for v in values]
        if len(cells) > len(headers):
            extra = [c for c in cells[len(headers) :] if c]
            if extra:
                where = f"sheet '{sheet}' " if sheet else ""
                raise LoadError(path, f"{where}row {row} has more values than the header has columns")
        rows.append((row, dict(zip(headers, cells, strict=False))))
    return _records(path, root, rows, sheet)


def _csv(path: Path, root: Path) -> list[Document]:
    text = _decode(path, path.read_bytes())
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    try:
        # strict: a stray or unclosed quote is an error, not rows silently merged into one cell
        table = list(csv.reader(io.StringIO(text), dialect, strict=True))
    except csv.Error as exc:
        raise LoadError(path, f"malformed CSV: {exc}") from None
    return _table(path, root, table)


def _xlsx(path: Path, root: Path) -> list[Document]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        reason = (
            "password-protected" if _is_encrypted_office(path) else f"not a readable .xlsx ({exc.__class__.__name__})"
        )
        raise LoadError(path, reason) from None
    try:
        sheets = workbook.worksheets
        single = len(sheets) == 1
        return [
            doc
            for sheet in sheets
            for doc in _table(
                path, root, [list(r) for r in sheet.iter_rows(values_only=True)], None if single else sheet.title
            )
        ]
    finally:
        workbook.close()


def _is_encrypted_office(path: Path) -> bool:
    # Password-protected Office files are OLE containers, not zips.
    with path.open("rb") as handle:
        return handle.read(8) == bytes.fromhex("d0cf11e0a1b11ae1")


def _objects(path: Path, root: Path, items: list[Any], what: str, sheet: str | None = None) -> list[Document]:
    if not all(isinstance(item, dict) for item in items):
        where = f"{what} '{sheet}'" if sheet else what
        raise LoadError(path, f"{where} array must hold objects (one per record)")
    rows = ((n, {str(k): _cell(v) for k, v in item.items()}) for n, item in enumerate(items, 1))
    return _records(path, root, rows, sheet)


def _structured(path: Path, root: Path, data: Any, what: str) -> list[Document]:
    """An array of objects (one record each), an object whose values are such arrays (one sheet each), or one object."""
    if isinstance(data, list):
        return _objects(path, root, data, what)
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        return [doc for name, items in data.items() for doc in _objects(path, root, items, what, str(name))]
    if isinstance(data, dict) and data:
        return _objects(path, root, [data], what)
    raise LoadError(path, f"{what} must be an array of objects, or an object whose values are arrays of objects")


def _json(path: Path, root: Path) -> list[Document]:
    try:
        data = json.loads(_decode(path, path.read_bytes()))
    except json.JSONDecodeError as exc:
        raise LoadError(path, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return _structured(path, root, data, "JSON")


def _yaml(path: Path, root: Path) -> list[Document]:
    try:
        data = load_yaml(_decode(path, path.read_bytes()))
    except yaml.YAMLError as exc:
        raise LoadError(path, f"invalid YAML: {exc}") from None
    return _structured(path, root, data, "YAML")


LOADERS: dict[str, Callable[[Path, Path], list[Document]]] = {
    ".md": _markdown,
    ".markdown": _markdown,
    ".txt": _text,
    ".html": _html,
    ".htm": _html,
    ".docx": _docx,
    ".pdf": _pdf,
    ".csv": _csv,
    ".xlsx": _xlsx,
    ".json": _json,
    ".yaml": _yaml,
    ".yml": _yaml,
}
SUPPORTED_SUFFIXES = frozenset(LOADERS)


def load_file(path: Path, root: Path) -> list[Document]:
    """The documents in one file; `LoadError` saying why when it cannot be read."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoadError(path, f"unsupported file type '{path.suffix or '(none)'}'")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(path, f"cannot read file: {exc.strerror}") from None
    if size == 0:
        raise LoadError(path, "file is empty")
    if size > MAX_FILE_BYTES:
        raise LoadError(path, f"file is {size // 2**20} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB")
    try:
        documents = loader(path, root)
    except LoadError:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise LoadError(path, f"cannot read file ({exc.__class__.__name__}: {exc})") from None
    except RecursionError:  # JSON or YAML nested thousands of levels deep
        raise LoadError(path, "data is nested too deeply to read") from None
    if not documents:
        raise LoadError(path, "no records found (only a header, or every row is empty)")
    return documents
