"""Listings in, one LangChain document per record: CSV, XLSX, JSON and YAML tables read row by row."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from langchain_core.documents import Document

from knowledge.language import detect_language
from knowledge.reading import BYTE_ORDER_MARKS, LoadError, decode, office_container_reason, relative
from knowledge.safe_yaml import load_yaml, yaml_mistake

# A spreadsheet row or JSON object is a record, not a report: one of 1 MB would take minutes to embed as prose.
MAX_RECORD_TEXT = 100_000
# One-value rows above a table taken for its titles, not its header (more: a one-column table).
TITLE_LINES = 3
# Column headers that name a record, so an answer can say which row it quotes; a plain "title" wins
# over a column that merely mentions the thing ("Patent No.").
_TITLE_COLUMNS = (
    re.compile(r"^(title|name|标题|名称|题目)\b", re.IGNORECASE),
    re.compile(r"^(instrument|equipment|patent|solution|scenario|仪器|设备|专利|场景)", re.IGNORECASE),
)


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
) -> Iterator[Document]:
    """One 'Column: value' document per non-empty row, numbered as the staff see it (1 = first data row)."""
    source = relative(path, root)
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
        yield Document(page_content=body, metadata=metadata)


def _table(path: Path, root: Path, table: Iterable[Iterable[Any]], sheet: str | None = None) -> Iterator[Document]:
    """Records of a table read row by row: a listing of any length costs the memory of one row."""
    found = _header(iter(table))
    if found is None:
        return
    headers, lines = found
    yield from _records(path, root, _rows(path, _headers(headers), lines, sheet), sheet)


def _header(lines: Iterator[Iterable[Any]]) -> tuple[list[str], Iterator[Iterable[Any]]] | None:
    """The header row and the rows after it. The header is the first non-empty row, unless that row and up to
    TITLE_LINES - 1 more hold one value each above a wider row: titles typed above the table ("附件1", "2026年共享仪器
    清单", often merged across it)."""
    above: list[list[str]] = []
    for row in lines:
        cells = [_cell(v) for v in row]
        width = sum(1 for cell in cells if cell)
        if not width:
            continue
        if width > 1:
            return cells, lines
        above.append(cells)
        if len(above) > TITLE_LINES:  # a one-column table: its first row is the header
            break
    if not above:
        return None
    return above[0], itertools.chain(above[1:], lines)


def _rows(
    path: Path, headers: list[str], lines: Iterator[Iterable[Any]], sheet: str | None
) -> Iterator[tuple[int, dict[str, str]]]:
    for row, values in enumerate(lines, 1):
        cells = [_cell(v) for v in values]
        if any(cells[len(headers) :]):
            raise LoadError(path, _too_wide(path, headers, cells, row, sheet))
        yield row, dict(zip(headers, cells, strict=False))


def _too_wide(path: Path, headers: list[str], cells: list[str], row: int, sheet: str | None) -> str:
    """A row with values beyond the header's last column, with the likely cause: in a CSV, an unquoted separator."""
    where = f"sheet '{sheet}' " if sheet else ""
    width = max(n for n, cell in enumerate(cells, 1) if cell)
    fix = (
        'a value holding the separator ("RMB 2,500") must be in quotes'
        if path.suffix.lower() == ".csv"
        else "name the extra column in the header row"
    )
    return (
        f"{where}row {row} has more values than the header has columns ({width}, the header {len(headers)}: "
        f"{', '.join(headers)[:80]}): {fix}"
    )


def csv_rows(path: Path) -> Iterator[list[str]]:
    """The rows of a CSV file, its delimiter sniffed; LoadError for a malformed one."""
    text = decode(path, path.read_bytes())
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    try:
        # strict: a stray or unclosed quote is an error, not rows silently merged into one cell
        yield from csv.reader(io.StringIO(text), dialect, strict=True)
    except csv.Error as exc:
        raise LoadError(path, f"malformed CSV: {exc}") from None


def csv_records(path: Path, root: Path) -> Iterator[Document]:
    yield from _table(path, root, csv_rows(path))


def xlsx_sheets(path: Path) -> Iterator[tuple[str | None, Iterator[tuple[Any, ...]]]]:
    """Each sheet's name (None when it is the only one) and rows of cell values, read row by row."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        reason = office_container_reason(path) or f"not a readable .xlsx ({exc.__class__.__name__})"
        raise LoadError(path, reason) from None
    try:
        sheets = workbook.worksheets
        for sheet in sheets:
            yield None if len(sheets) == 1 else sheet.title, sheet.iter_rows(values_only=True)
    finally:
        workbook.close()


def xlsx_records(path: Path, root: Path) -> Iterator[Document]:
    for sheet, rows in xlsx_sheets(path):
        yield from _table(path, root, rows, sheet)


def _objects(path: Path, root: Path, items: list[Any], what: str, sheet: str | None = None) -> Iterator[Document]:
    if not all(isinstance(item, dict) for item in items):
        where = f"{what} '{sheet}'" if sheet else what
        raise LoadError(path, f"{where} array must hold objects (one per record)")
    rows = ((n, {str(k): _cell(v) for k, v in item.items()}) for n, item in enumerate(items, 1))
    return _records(path, root, rows, sheet)


def _structured(path: Path, root: Path, data: Any, what: str) -> Iterable[Document]:
    """An array of objects (one record each), an object whose values are such arrays (one sheet each), or one object."""
    if isinstance(data, list):
        return _objects(path, root, data, what)
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        return [doc for name, items in data.items() for doc in _objects(path, root, items, what, str(name))]
    if isinstance(data, dict) and data:
        return _objects(path, root, [data], what)
    raise LoadError(path, f"{what} must be an array of objects, or an object whose values are arrays of objects")


def json_records(path: Path, root: Path) -> Iterable[Document]:
    try:
        data = json.loads(decode(path, path.read_bytes()))
    except json.JSONDecodeError as exc:
        raise LoadError(path, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return _structured(path, root, data, "JSON")


def yaml_records(path: Path, root: Path) -> Iterable[Document]:
    try:
        data = load_yaml(decode(path, path.read_bytes()))
    except yaml.YAMLError as exc:
        raise LoadError(path, yaml_mistake(exc)) from None
    return _structured(path, root, data, "YAML")


def estimate_rows(path: Path) -> int:
    """About how many rows a CSV holds (its lines less the header), for progress and an ETA; 0 for other files."""
    if path.suffix.lower() != ".csv":
        return 0
    try:
        data = path.read_bytes()
    except OSError:
        return 0
    encoding = next((encoding for mark, encoding in BYTE_ORDER_MARKS if data.startswith(mark)), None)
    lines = data.decode(encoding, errors="replace").count("\n") if encoding else data.count(b"\n")
    return max(lines - 1, 0)
