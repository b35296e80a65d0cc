"""Command line: `python -m bot [console|ask|eval|telegram|serve]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from bot.assistant import Assistant
from bot.components import build_assistant
from bot.evaluation import breakdown, load_questions, run_eval
from bot.models import Answer, Question
from knowledge.logs import setup_logging
from knowledge.settings import get_settings


def _render(answer: Answer) -> str:
    lines = [answer.answer]
    if answer.sources:
        lines.append("")
        lines += [
            f"  [{n}] {s.title} ({s.path}{f' row {s.row}' if s.row else ''})" for n, s in enumerate(answer.sources, 1)
        ]
    return "\n".join(lines)


async def _ask(assistant: Assistant, args: argparse.Namespace) -> int:
    if args.question != ["-"]:
        answer = await assistant.answer(" ".join(args.question))
        print(answer.model_dump_json() if args.json else _render(answer))
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
        print(answer.model_dump_json() if args.json else _render(answer), flush=True)
    return 0


async def _eval(assistant: Assistant, args: argparse.Namespace) -> int:
    questions = load_questions(args.questions)
    outcomes = await run_eval(questions, assistant.answer)
    report = breakdown(outcomes)
    if args.json:
        print(json.dumps({"summary": report, "questions": [o.model_dump() for o in outcomes]}, ensure_ascii=False))
        return 0
    table = Table(title=f"Evaluation of {args.questions}")
    columns = list(report["all"])
    table.add_column("group")
    for column in columns:
        table.add_column(column, justify="right")
    for group, figures in report.items():
        table.add_row(group, *("–" if figures[c] is None else str(figures[c]) for c in columns))
    Console().print(table)
    return 0


async def _console(assistant: Assistant) -> int:
    print("GOI assistant console. Ask in English or Chinese; empty line or Ctrl-D to quit.")
    history: list[str] = []
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, _read_line)
        if not line:
            return 0
        answer = await assistant.answer(line, history[-4:])
        history.append(line)
        print(_render(answer) + "\n", flush=True)


def _read_line() -> str:
    try:
        return input("you> ").strip()
    except EOFError:
        return ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="The GOI assistant.")
    parser.add_argument("--data-dir", type=Path, help="where the index lives (default: DATA_DIR)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("console", help="chat in this terminal")
    sub.add_parser("telegram", help="run the Telegram bot")
    serve = sub.add_parser("serve", help="answer over HTTP: POST /ask, GET /healthz /readyz /metrics")
    serve.add_argument("--host", help="address to bind (default: HTTP_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default: HTTP_PORT)")
    qr = sub.add_parser("qr", help="QR code of the bot's deep link for an event poster")
    qr.add_argument("--event", required=True, help="event code: letters, digits, _ and -")
    qr.add_argument("--out", type=Path, help="PNG to write (default: qr-CODE.png)")
    qr.add_argument("--bot", help="the bot's username (default: asked from Telegram with TELEGRAM_BOT_TOKEN)")
    report = sub.add_parser("report", help="staff report on the Telegram questions: table and chart")
    report.add_argument("--event", help="only this event's questions")
    report.add_argument("--days", type=int, default=7, help="how many days back, today included (default: 7)")
    report.add_argument("--chart", type=Path, help="also write a PNG chart of questions per hour")
    report.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    report.add_argument("--data-dir", type=Path, dest="data_dir_sub")
    ask = sub.add_parser("ask", help="answer one question (or JSON lines from stdin with '-')")
    ask.add_argument("question", nargs="+")
    ask.add_argument("--json", action="store_true")
    ask.add_argument("--data-dir", type=Path, dest="data_dir_sub")
    ev = sub.add_parser("eval", help="score the assistant on a questions.yaml")
    ev.add_argument("questions", type=Path)
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--data-dir", type=Path, dest="data_dir_sub")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    args = _parser().parse_args(argv)
    settings = get_settings()
    data_dir = getattr(args, "data_dir_sub", None) or args.data_dir
    if data_dir:
        settings = settings.model_copy(update={"data_dir": data_dir})
    setup_logging(settings)
    command = args.command or ("telegram" if settings.telegram_bot_token else "console")
    if command == "telegram":
        from bot.telegram.app import run_telegram

        return run_telegram(settings)
    if command == "serve":
        from bot.http import serve

        overrides = {"http_host": args.host, "http_port": args.port}
        return serve(settings.model_copy(update={k: v for k, v in overrides.items() if v is not None}))
    if command == "qr":
        from bot.qr import run_qr

        return run_qr(settings, args.event, args.out, args.bot)
    if command == "report":
        from bot.report import run_report

        return run_report(settings, args.event, args.days, args.chart, as_json=args.json)
    assistant = build_assistant(settings)
    if command == "ask":
        return asyncio.run(_ask(assistant, args))
    if command == "eval":
        return asyncio.run(_eval(assistant, args))
    return asyncio.run(_console(assistant))
