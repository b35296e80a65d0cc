"""Console channel: chat in this terminal over the conversation layer; answers as plain text with numbered
sources, a reply's buttons as numbered choices the user picks by typing the number."""

from __future__ import annotations

import asyncio

from bot.conversation import guided
from bot.conversation.actions import Action, Kind
from bot.conversation.records import Records
from bot.conversation.replies import Reply, topic_actions
from bot.conversation.service import ConversationService, Who
from bot.conversation.state import Conversations
from bot.conversation.tables import connect
from bot.core.assistant import Assistant
from bot.core.models import Answer
from bot.core.texts import text
from knowledge.language import detect_language
from knowledge.settings import Settings

ME = Who(chat_id=1, user_id=1)  # one user, one chat: the person at the terminal
SHOWN = (Kind.TOPIC, Kind.CHOICE, Kind.SOURCES)  # buttons that make sense typed; feedback goes to staff channels


def render_plain(answer: Answer) -> str:
    """The answer, then its sources numbered as the answer cites them."""
    lines = [answer.answer]
    if answer.sources:
        lines.append("")
        lines += [
            f"  [{n}] {s.title} ({s.path}{f' row {s.row}' if s.row else ''})" for n, s in enumerate(answer.sources, 1)
        ]
    return "\n".join(lines)


def render(reply: Reply) -> tuple[str, list[Action]]:
    """A reply as text, with the buttons it offers listed as numbered choices (returned in that order)."""
    body = render_plain(reply.answer) if reply.answer is not None else reply.text
    choices = [action for row in reply.actions for action in row if action.kind in SHOWN and action.label]
    lines = [body, *(f"  {n}) {action.label}" for n, action in enumerate(choices, 1))]
    return "\n".join(lines), choices


async def press(service: ConversationService, action: Action) -> list[Reply]:
    """What a numbered choice does: a topic's question, an answer to the guided check, an answer's sources."""
    language = service.language(ME)
    if action.kind is Kind.TOPIC and action.args[0] == "eligibility":
        return guided.start(service, ME)
    if action.kind is Kind.TOPIC:
        topic = service.programme.topic(action.args[0])
        return [(await service.ask(ME, topic.question.get(language))).reply] if topic else []
    if action.kind is Kind.CHOICE:
        return [] if guided.closed(service, ME, action.args[0]) else [guided.choose(service, ME, action.args[1])]
    found = service.sources(ME, int(action.args[0]))
    lines = [f"  [{n}] {s.title} ({s.path}{f' row {s.row}' if s.row else ''})" for n, s in enumerate(found, 1)]
    return [Reply(language=language, text="\n".join(lines))]


async def turn(service: ConversationService, line: str, offered: list[Action]) -> list[Reply]:
    """The replies to one typed line: a number picks an offered choice, text in the guided check answers it."""
    if line.isdigit() and 0 < int(line) <= len(offered):
        return await press(service, offered[int(line) - 1])
    if any(char.isalpha() for char in line):  # a terminal has no app language: the one last typed in
        service.choose_language(ME, detect_language(line))
    if guided.in_progress(service, ME):
        return [await guided.typed(service, ME, line)]
    return [(await service.ask(ME, line)).reply]


async def chat(assistant: Assistant, settings: Settings) -> int:
    """Read questions until an empty line or end of input; answer each with the conversation so far."""
    # The conversation lives in memory: a terminal session is nobody's record for staff.
    engine = connect("sqlite://")
    service = ConversationService(
        settings, assistant, Records(engine), Conversations(engine), settings.http_max_question_chars
    )
    print(text("en", "console_intro"))
    shown, offered = render(Reply(language="en", actions=topic_actions(service.programme, "en")))
    print(shown.strip("\n") + "\n", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, _read_line):
        replies, offered = await turn(service, line, offered), []
        for reply in replies:
            shown, choices = render(reply)
            offered += choices
            print(shown + "\n", flush=True)
    return 0


def _read_line() -> str:
    try:
        return input("you> ").strip()
    except EOFError:
        return ""
