"""Console channel: chat with the assistant in this terminal, answers as plain text with numbered sources."""

from __future__ import annotations

import asyncio

from bot.core.assistant import HISTORY_TURNS, Assistant
from bot.core.models import Answer


def render_plain(answer: Answer) -> str:
    """The answer, then its sources numbered as the answer cites them."""
    lines = [answer.answer]
    if answer.sources:
        lines.append("")
        lines += [
            f"  [{n}] {s.title} ({s.path}{f' row {s.row}' if s.row else ''})" for n, s in enumerate(answer.sources, 1)
        ]
    return "\n".join(lines)


async def chat(assistant: Assistant) -> int:
    """Read questions until an empty line or end of input; answer each with the conversation so far."""
    print("GOI assistant console. Ask in English or Chinese; empty line or Ctrl-D to quit.")
    history: list[str] = []
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, _read_line)
        if not line:
            return 0
        answer = await assistant.answer(line, history)
        history = [*history, line][-HISTORY_TURNS:]  # a long session keeps only what the core reads
        print(render_plain(answer) + "\n", flush=True)


def _read_line() -> str:
    try:
        return input("you> ").strip()
    except EOFError:
        return ""
