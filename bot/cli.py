"""Command line: `python -m bot [console|ask|eval|gaps|answers|telegram|wecom|serve]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.core.assistant import Assistant
    from knowledge.settings import Settings

# One-off commands that read what the bot has stored (eval says more: which corpus to ingest).
STAFF_COMMANDS = ("ask", "gaps", "report", "answers")
INTERRUPTED = 130  # what a shell reports for Ctrl-C
DATA_DIR_HELP = "where the index and the bot's records live (default: DATA_DIR)"


async def _ask(assistant: Assistant, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from bot.channels.console import render_plain
    from bot.core.models import Question

    if args.question != ["-"]:
        answer = await assistant.answer(" ".join(args.question))
        print(answer.model_dump_json() if args.json else render_plain(answer))
        return 0 if answer.answered else 3
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            item = Question.model_validate_json(line)
        except ValidationError as exc:
            print(json.dumps({"error": f"bad input line: {exc.errors()[0]['msg']}"}), flush=True)
            continue
        answer = await assistant.answer(item.question, item.history)
        print(answer.model_dump_json() if args.json else render_plain(answer), flush=True)
    return 0


async def _eval(assistant: Assistant, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bot.staff.evaluation import breakdown, missing_corpus, run_eval
    from knowledge.golden import QuestionsError, load_questions

    try:
        questions = load_questions(args.questions)
    except QuestionsError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    info = assistant.searcher.store.current()
    folders = [Path(folder) for folder in info.sources] if info else []
    if missing_corpus(questions, folders):
        corpus = args.questions.parent / "corpus"
        print(
            "warning: none of the questions' gold sources is in the index (built from "
            f"{', '.join(map(str, folders)) or 'nothing'}), so every score would be 0; ingest their corpus first:\n"
            f"  python ingest.py {corpus} --data-dir DIR && python -m bot eval {args.questions} --data-dir DIR",
            file=sys.stderr,
        )
    outcomes = await run_eval(questions, assistant.answer)
    report = breakdown(outcomes)
    if args.json:
        print(json.dumps({"summary": report, "questions": [o.model_dump() for o in outcomes]}, ensure_ascii=False))
        return 0
    # One row a figure, one column a group: a column a figure (11) squeezed every name to "rec…" in 80 columns.
    table = Table(title=f"Evaluation of {args.questions}")
    table.add_column("figure")
    for group in report:
        table.add_column(group, justify="right")
    for figure in report["all"]:
        table.add_row(figure, *("–" if shown[figure] is None else str(shown[figure]) for shown in report.values()))
    Console().print(table)
    return 0


def _days(value: str) -> int:
    """--days: a whole number of days, today included, so at least 1 (0 or -3 listed nothing and said nothing)."""
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {value!r}") from None
    if days < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (today counts as 1), not {days}")
    return days


def _png(value: str) -> Path:
    """--chart: the chart is a PNG, so a name ending otherwise (.jpg) would be a PNG under another name."""
    path = Path(value)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"the chart is a PNG: give a file name ending in .png, not {path.name!r}")
    return path


def _data_dir_option() -> argparse.ArgumentParser:
    """--data-dir accepted after any command too; SUPPRESS so a command that omits it keeps the one given before."""
    option = argparse.ArgumentParser(add_help=False)
    option.add_argument(
        "--data-dir", type=Path, dest="data_dir_sub", metavar="DIR", default=argparse.SUPPRESS, help=DATA_DIR_HELP
    )
    return option


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="The programme assistant.")
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help=DATA_DIR_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    data = [_data_dir_option()]

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".", parents=data)

    command("console", "chat in this terminal")
    command("telegram", "run the Telegram bot")
    command("wecom", "run the WeCom (企业微信) AI bot: callback server or long connection")
    serve = command("serve", "answer over HTTP: POST /ask, GET /healthz /readyz /metrics")
    serve.add_argument("--host", help="address to bind (default: HTTP_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default: HTTP_PORT)")
    qr = command("qr", "printable event poster with a QR code of the bot's deep link")
    qr.add_argument("--event", required=True, help="event code: letters, digits, _ and -")
    qr.add_argument("--out", type=Path, help="poster to write, .png or .svg (default: qr-CODE.png and qr-CODE.svg)")
    qr.add_argument("--bot", help="the bot's username (default: asked from Telegram with TELEGRAM_BOT_TOKEN)")
    qr.add_argument("--name", help="the programme's name, the poster's title (default: a neutral title)")
    qr.add_argument("--font", type=Path, help="a font file with Chinese glyphs for the PNG (default: a system one)")
    _staff_parsers(command)
    _answers_parser(command("answers", "answers staff saved: list, remove, export, import a spreadsheet"), data)
    ask = command("ask", "answer one question (or JSON lines from stdin with '-'); exit 3 when it did not answer")
    ask.add_argument("question", nargs="+", help="the question's words, or '-' to read JSON lines from stdin")
    ask.add_argument("--json", action="store_true", help="print each answer as JSON, its sources included")
    ev = command("eval", "score the assistant on a questions.yaml: recall@1/@3, MRR, facts, abstention, latency")
    ev.add_argument("questions", type=Path, help="a questions.yaml (the format of checks.yaml)")
    ev.add_argument("--json", action="store_true", help="print the scores and every question's outcome as JSON")
    return parser


def _staff_parsers(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    report = command("report", "staff report on the Telegram questions: table and chart")
    report.add_argument("--event", help="only this event's questions")
    report.add_argument("--days", type=_days, default=7, help="how many days back, today included (default: 7)")
    report.add_argument("--chart", type=_png, help="also write a PNG chart of questions per hour (a .png file)")
    report.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    gaps = command("gaps", "questions the bot failed at, grouped by meaning, biggest group first")
    gaps.add_argument("--event", help="only this event's questions")
    gaps.add_argument("--days", type=_days, default=7, help="how many days back, today included (default: 7)")
    shape = gaps.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_const", const="json", dest="output", default="table", help="as JSON")
    shape.add_argument("--csv", action="store_const", const="csv", dest="output", help="as CSV, one row a group")


def _answers_parser(answers: argparse.ArgumentParser, data: list[argparse.ArgumentParser]) -> None:
    actions = answers.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every saved answer with its id, who saved it and when", parents=data)
    remove = actions.add_parser("remove", help="remove one saved answer", parents=data)
    remove.add_argument("answer_id", type=int, metavar="ID", help="its id, as `answers list` shows it")
    export = actions.add_parser("export", help="print them as CSV (the import's columns), or --yaml", parents=data)
    export.add_argument("--yaml", action="store_true", dest="as_yaml", help="in the curated.yaml format")
    load = actions.add_parser(
        "import", help="add the question/answer pairs of a CSV or XLSX file, all or none", parents=data
    )
    load.add_argument("file", type=Path, help="columns: question, answer, and optionally alternatives")
    load.add_argument("--by", help="who to record as having saved them (default: the file's name)")


def _missing_data_dir(command: str, settings: Settings) -> str | None:
    """A staff command pointed at a data folder that does not exist (a typo in --data-dir): said, not made empty and
    then read as 'no questions' or 'not ready', nor given saved answers the bot never sees."""
    if command not in STAFF_COMMANDS or settings.data_dir.is_dir():
        return None
    index = command in ("ask", "gaps") and settings.chroma_host is None
    records = command in ("answers", "report", "gaps") and settings.database_url is None
    if not (index or records):
        return None
    return f"no such data folder: {settings.data_dir} (where the bot and ingest.py keep their data); check --data-dir"


def _default_command(settings: Settings) -> str:
    """Telegram when its token is set, else WeCom when its settings are, else the console."""
    if settings.telegram_bot_token:
        return "telegram"
    return "wecom" if settings.wecom_configured else "console"


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    args = _parser().parse_args(argv)  # --help and usage errors end here, before pydantic is imported
    from knowledge.logs import setup_logging
    from knowledge.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"python -m bot: invalid settings (environment or .env):\n{exc}", file=sys.stderr)
        return 2
    data_dir = getattr(args, "data_dir_sub", None) or args.data_dir
    if data_dir:
        settings = settings.model_copy(update={"data_dir": data_dir})
    command = args.command or _default_command(settings)
    if missing := _missing_data_dir(command, settings):
        print(f"python -m bot {command}: {missing}", file=sys.stderr)
        return 2
    if command == "console" and "log_level" not in settings.model_fields_set:
        # Log lines would interleave with the chat: only warnings, on stderr, unless LOG_LEVEL asks for more.
        settings = settings.model_copy(update={"log_level": "WARNING"})
    setup_logging(settings)
    try:
        return _run(command, settings, args)
    except KeyboardInterrupt:  # Ctrl-C is how staff leave the console or stop an eval: not a crash
        print(f"\npython -m bot {command}: interrupted", file=sys.stderr)
        return INTERRUPTED


def _run(command: str, settings: Settings, args: argparse.Namespace) -> int:
    """The command, with settings already read."""
    if command == "telegram":
        from bot.channels.telegram.app import run_telegram

        return run_telegram(settings)
    if command == "wecom":
        from bot.channels.wecom.app import run_wecom

        return run_wecom(settings)
    if command == "serve":
        from bot.channels.http import serve

        overrides = {"http_host": args.host, "http_port": args.port}
        return serve(settings.model_copy(update={k: v for k, v in overrides.items() if v is not None}))
    if command == "qr":
        from bot.staff.qr import run_qr

        return run_qr(settings, args.event, args.out, args.bot, name=args.name, font=args.font)
    if command == "report":
        from bot.staff.report import run_report

        return run_report(settings, args.event, args.days, args.chart, as_json=args.json)
    if command == "gaps":
        from bot.staff.gaps import run_gaps

        return run_gaps(settings, args.days, args.event, args.output)
    if command == "answers":
        from bot.staff.answers import run_answers

        options = {key: value for key, value in vars(args).items() if key in ("answer_id", "file", "as_yaml", "by")}
        return run_answers(settings, args.action, **options)
    from bot.core.components import build_assistant

    assistant = build_assistant(settings)
    if command == "eval":  # scores the knowledge base itself: staff's saved answers would mask what it lacks
        return asyncio.run(_eval(assistant, args))
    from bot.conversation.saved_answers import serve_saved

    serve_saved(assistant, settings)
    if command == "ask":
        return asyncio.run(_ask(assistant, args))
    from bot.channels.console import chat

    return asyncio.run(chat(assistant, settings))
