"""Question/answer spreadsheets staff already keep (CSV or XLSX) read into saved answers, and written back out."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.conversation.saved_answers import NewAnswer, SavedAnswer
from bot.staff.gaps import wording
from knowledge.reading import LoadError
from knowledge.tabular import csv_rows, xlsx_sheets

# Header names accepted for each column (case and spaces ignored).
COLUMNS = {
    "question": ("question", "questions", "问题"),
    "answer": ("answer", "answers", "答案", "回答"),
    "alternatives": ("alternatives", "alternative questions", "other phrasings", "其他问法", "相似问题"),
}
HEADER_ROWS = 5  # non-empty rows looked through for the header: titles typed above it come first
_SPLIT = re.compile(r"\s*(?:\||\n)\s*")  # alternatives in one cell: one per line, or separated by |


class SheetError(ValueError):
    """A spreadsheet that cannot be imported, with every row at fault (nothing is imported)."""


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _rows(path: Path) -> Iterator[list[str]]:
    """The rows as text cells: of the CSV, or of the first sheet with a question and an answer column (a workbook may
    open with a cover or instructions sheet), else of the first sheet, whose header is then said to be wrong."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise SheetError(f"{path}: give a .csv or .xlsx file (columns: question, answer, alternatives)")
    try:
        if suffix == ".csv":
            yield from ([cell.strip() for cell in row] for row in csv_rows(path))
            return
        with closing(xlsx_sheets(path)) as sheets:
            first: list[list[str]] | None = None
            for _name, rows in sheets:
                cells = ([_cell(value) for value in row] for row in rows)
                top = list(itertools.islice(cells, HEADER_ROWS * 4))  # blank rows between titles and the header
                if any(_names_both(row) for row in top):
                    yield from itertools.chain(top, cells)
                    return
                first = top if first is None else first
            yield from first or []
    except LoadError as exc:
        raise SheetError(str(exc)) from None
    except OSError as exc:
        raise SheetError(f"{path}: {exc.strerror or exc}") from None


def _columns(header: list[str]) -> dict[str, int]:
    """Where each column is in a row read as the header; -1 for one it does not name."""
    names = [" ".join(cell.lower().split()) for cell in header]
    return {column: next((names.index(n) for n in accepted if n in names), -1) for column, accepted in COLUMNS.items()}


def _names_both(header: list[str]) -> bool:
    found = _columns(header)
    return found["question"] >= 0 and found["answer"] >= 0


def _header(path: Path, rows: Iterator[tuple[int, list[str]]]) -> dict[str, int]:
    """The columns of the first row naming both a question and an answer column: titles typed above the table
    ("常见问题汇总") are passed over; the first non-empty row is named when no row within HEADER_ROWS does."""
    first: list[str] | None = None
    for _number, cells in itertools.islice(((n, c) for n, c in rows if any(c)), HEADER_ROWS):
        if _names_both(cells):
            return _columns(cells)
        first = first or cells
    if first is None:
        raise SheetError(f"{path}: the file is empty")
    found = _columns(first)
    missing = [column for column in ("question", "answer") if found[column] < 0]
    raise SheetError(f"{path}: no {' or '.join(missing)} column in the first row (it has: {', '.join(first)})")


def _pair(cells: list[str], at: dict[str, int]) -> dict[str, Any]:
    def cell(column: str) -> str:
        return cells[at[column]] if 0 <= at[column] < len(cells) else ""

    return {"question": cell("question"), "answer": cell("answer"), "alternatives": _SPLIT.split(cell("alternatives"))}


def _problem(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in error.errors())


def read_sheet(path: Path, known: Iterable[str] = ()) -> list[NewAnswer]:
    """The question/answer pairs of the first sheet; a SheetError lists every bad row by its number in the sheet
    (the header is row 1). Blank rows are skipped; a question asked twice, or already saved (`known`), is refused."""
    rows = enumerate(_rows(path), 1)
    at = _header(path, rows)
    pairs: list[NewAnswer] = []
    problems: list[str] = []
    seen = {wording(q): "already saved" for q in known}
    for number, cells in rows:
        if not any(cells):
            continue
        try:
            pair = NewAnswer.model_validate(_pair(cells, at))
        except ValidationError as exc:
            problems.append(f"row {number}: {_problem(exc)}")
            continue
        same = wording(pair.question)
        if same in seen:
            problems.append(f"row {number}: question {pair.question!r} is {seen[same]}")
        seen.setdefault(same, f"already in row {number}")
        pairs.append(pair)
    if problems:
        raise SheetError(f"{path}: nothing imported; fix these rows:\n" + "\n".join(problems))
    if not pairs:
        raise SheetError(f"{path}: no question and answer below the header row: nothing to import")
    return pairs


def to_csv(saved: list[SavedAnswer]) -> str:
    """The saved answers in the columns `read_sheet` takes, alternatives separated by ' | '."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "answer", "alternatives", "saved_by", "saved_at"])
    for answer in saved:
        writer.writerow([answer.question, answer.answer, " | ".join(answer.alternatives), answer.saved_by, answer.at])
    return out.getvalue()
