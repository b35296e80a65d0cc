"""`python -m bot answers list|remove|export|import`: the answers staff saved, kept in the bot's database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.conversation.saved_answers import SavedAnswer, SavedAnswers
    from knowledge.settings import Settings


def _list(answers: SavedAnswers) -> int:
    from rich.console import Console
    from rich.table import Table

    saved = answers.all()
    table = Table(title=f"Saved answers: {len(saved)}", title_justify="left")
    for column in ("id", "question", "answer", "other phrasings", "saved by", "saved at"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for answer in saved:
        short = answer.answer if len(answer.answer) <= 80 else answer.answer[:79] + "…"
        row = (str(answer.id), answer.question, short, " · ".join(answer.alternatives), answer.saved_by, answer.at)
        table.add_row(*row)
    Console().print(table)
    return 0


def _remove(answers: SavedAnswers, answer_id: int) -> int:
    if not answers.remove(answer_id):
        print(f"python -m bot answers remove: no saved answer has id {answer_id} (see: answers list)", file=sys.stderr)
        return 1
    print(f"removed saved answer {answer_id}")
    return 0


def curated_yaml(saved: list[SavedAnswer]) -> str:
    """The answers in the curated.yaml format, who saved each and when included (loads back with load_entries)."""
    import yaml

    entries = [answer.entry().model_dump(exclude_none=True, exclude_defaults=False) for answer in saved]
    return yaml.safe_dump(entries, allow_unicode=True, sort_keys=False, width=120)


def _export(answers: SavedAnswers, as_yaml: bool) -> int:
    from bot.staff.answer_sheet import to_csv

    saved = answers.all()
    print(curated_yaml(saved) if as_yaml else to_csv(saved), end="")
    return 0


def _import(answers: SavedAnswers, path: Path, saved_by: str) -> int:
    from bot.staff.answer_sheet import SheetError, read_sheet

    try:
        pairs = read_sheet(path, known=[answer.question for answer in answers.all()])
    except SheetError as exc:
        print(f"python -m bot answers import: {exc}", file=sys.stderr)
        return 1
    ids = answers.add_all(pairs, saved_by)
    print(f"imported {len(ids)} answers from {path}" + (f" (ids {ids[0]}-{ids[-1]})" if ids else ""))
    return 0


def run_answers(
    settings: Settings,
    action: str,
    *,
    answer_id: int | None = None,
    file: Path | None = None,
    as_yaml: bool = False,
    by: str | None = None,
) -> int:
    """Run one `answers` action on the bot's database (DATABASE_URL, else DATA_DIR's SQLite file)."""
    from bot.conversation.saved_answers import SavedAnswers
    from bot.conversation.tables import connect, database_url

    answers = SavedAnswers(connect(database_url(settings)))
    try:
        if action == "list":
            return _list(answers)
        if action == "export":
            return _export(answers, as_yaml)
        if action == "remove" and answer_id is not None:
            return _remove(answers, answer_id)
        if action == "import" and file is not None:
            return _import(answers, file, by or f"import of {file.name}")
        raise ValueError(f"answers: unknown action {action!r}")
    finally:
        answers.engine.dispose()
