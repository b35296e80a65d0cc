"""Everything the bot shows, as Telegram HTML: every text escaped, messages split below Telegram's limit."""

from __future__ import annotations

import html
import re

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit

from bot.conversation import listings
from bot.conversation.actions import Action
from bot.conversation.records import Stats, Tally
from bot.conversation.replies import Reply
from bot.conversation.service import StaffNote
from bot.core.listings import Page
from bot.core.models import Answer, Source
from bot.core.texts import text
from knowledge.checks import ChecksReport
from knowledge.discovery import IngestReport
from knowledge.language import Language
from knowledge.programme import Programme

LIMIT = MessageLimit.MAX_TEXT_LENGTH
COMMANDS = (
    "start", "help", "ask", "eligibility", "profile", "schemes", "subscribe", "unsubscribe", "deadlines", "forget",
    "equipment", "patents", "solutions", "lang", "sources", "cancel",
)  # fmt: skip
_TAG = re.compile(r"<[^>]*>")
_BOLD = re.compile(r"\*\*(\S(?:[^*\n]*?\S)?)\*\*")  # LLMs write Markdown bold; Telegram HTML needs <b>
# The core cites in the answer itself: "— title › clause (date)" under quotes, "[n] title…" under LLM answers.
_CITATION = re.compile(r"^(— |\[\d+\] )")
# Finer and finer places to cut an over-long paragraph: lines, sentences, words.
_CUTS = (
    re.compile(r"[^\n]*\n|[^\n]+"),
    re.compile(r".*?(?:[.!?;]+(?:\s+|$)|[。！？；]+\s*|$)", re.S),
    re.compile(r"\S+\s*|\s+"),
)


def escape(plain: str) -> str:
    """Plain text made safe for HTML parse mode."""
    return html.escape(plain, quote=False)


def units(plain: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(plain.encode("utf-16-le")) // 2


def visible_length(markup: str) -> int:
    """Length of the text Telegram shows for HTML this module produced (tags hold no '>' as all text is escaped)."""
    return units(html.unescape(_TAG.sub("", markup)))


def split_plain(plain: str, limit: int = LIMIT, level: int = 0) -> list[str]:
    """Cut plain text into pieces of at most `limit`, at the coarsest boundary that works."""
    if units(plain) <= limit:
        return [plain]
    if level == len(_CUTS):
        return _hard_cut(plain, limit)
    pieces: list[str] = []
    for part in (m.group() for m in _CUTS[level].finditer(plain) if m.group()):
        for piece in split_plain(part, limit, level + 1):
            if pieces and units(pieces[-1] + piece) <= limit:
                pieces[-1] += piece
            else:
                pieces.append(piece)
    return pieces


def _hard_cut(plain: str, limit: int) -> list[str]:
    pieces, start, size = [], 0, 0
    for index, char in enumerate(plain):
        width = 2 if ord(char) > 0xFFFF else 1
        if size + width > limit:
            pieces.append(plain[start:index])
            start, size = index, 0
        size += width
    return [*pieces, plain[start:]]


def pack(blocks: list[str], limit: int = LIMIT) -> list[str]:
    """Join HTML blocks (each within `limit`) into as few messages as fit, blank lines between."""
    messages: list[str] = []
    for block in blocks:
        if messages and visible_length(f"{messages[-1]}\n\n{block}") <= limit:
            messages[-1] += f"\n\n{block}"
        else:
            messages.append(block)
    return messages


def _cited(line: str, sources: list[Source]) -> str:
    """A citation line in italics, the cited document's title linked when it has a link."""
    escaped = escape(line)
    for source in sources:
        title = escape(source.title)
        if source.url and title and title in escaped:
            escaped = escaped.replace(title, _link(source.title, source.url), 1)
            break
    return f"<i>{escaped}</i>"


def _paragraph(plain: str, sources: list[Source]) -> str:
    return "\n".join(
        _cited(line, sources) if _CITATION.match(line) else _BOLD.sub(r"<b>\1</b>", escape(line))
        for line in plain.split("\n")
    )


def _link(title: str, url: str | None) -> str:
    if url and url.startswith(("https://", "http://")):
        return f'<a href="{html.escape(url, quote=True)}">{escape(title)}</a>'
    return escape(title)


def _source_line(number: int, source: Source, language: Language) -> str:
    places = [source.section.split(" > ")[-1]] if source.section and source.section != source.title else []
    if source.row is not None:
        places.append(text(language, "row", row=source.row))
    line = f"{number}. {_link(source.title or source.path, source.url)}"
    if places:
        line += " › " + escape(", ".join(places))
    if source.date:
        line += f" · {escape(text(language, 'as_of'))} {escape(source.date)}"
    if source.expired:
        line += f" · ⚠️ {escape(text(language, 'expired_short'))}"
    return line


def answer_messages(answer: Answer) -> list[str]:
    """The answer as messages below the limit, split at paragraphs, its sources cited."""
    paragraphs = [p.strip() for p in answer.answer.split("\n\n") if p.strip()]
    blocks = [_paragraph(piece, answer.sources) for p in paragraphs for piece in split_plain(p)]
    if answer.sources and not any(_CITATION.match(line) for line in answer.answer.splitlines()):
        heading = f"<b>{escape(text(answer.language, 'sources'))}</b>"
        lines = [_source_line(n, s, answer.language) for n, s in enumerate(answer.sources, 1)]
        blocks.append("\n".join([heading, *lines]))
    return pack(blocks)


def draft_message(plain: str) -> str:
    """A partial answer while it is being written, cut to fit one message."""
    if units(plain) > LIMIT:
        plain = split_plain(plain, LIMIT - 1)[0] + "…"
    return escape(plain)


def sources_message(sources: list[Source], language: Language) -> str:
    """The sources of an answer in full: title and link, clause, file and row, date."""
    if not sources:
        return escape(text(language, "no_sources"))
    entries = [f"<b>{escape(text(language, 'sources'))}</b>"]
    for number, source in enumerate(sources, 1):
        lines = [f"{number}. <b>{_link(source.title or source.path, source.url)}</b>"]
        clauses = [part for part in (source.section or "").split(" > ") if part and part != source.title]
        if clauses:
            lines.append(escape(" › ".join(clauses)))
        where = source.path + (f", {text(language, 'row', row=source.row)}" if source.row is not None else "")
        lines.append(f"<code>{escape(where)}</code>")
        if source.date or source.expired:
            when = f"{text(language, 'as_of')} {source.date}" if source.date else ""
            lines.append(escape(when) + (f" ⚠️ {escape(text(language, 'expired_short'))}" if source.expired else ""))
        entries.append("\n   ".join(lines))
    return "\n".join(entries)


def plain_message(language: Language, key: str, **values: object) -> str:
    """One sentence from bot/core/texts/, escaped."""
    return escape(text(language, key, **values))


def greeting(name: str, language: Language, programme: Programme) -> str:
    """The /start message (inviting a topic when the programme has topic buttons)."""
    ending = text(language, "or_topic" if programme.topics else "or_nothing")
    return escape(text(language, "tg_start", programme, name=name, or_topic=ending))


def help_message(language: Language, programme: Programme) -> str:
    """The /help message: what the bot does and its commands."""
    commands = [f"/{name} — {escape(text(language, f'tg_cmd_{name}'))}" for name in COMMANDS]
    return "\n".join([escape(text(language, "tg_help", programme)), *commands])


def bot_commands(language: Language) -> list[BotCommand]:
    """The command menu (setMyCommands) in one language."""
    return [BotCommand(name, text(language, f"tg_cmd_{name}")) for name in COMMANDS]


def answered(question: str, label: str) -> str:
    """A question of the guided check once a button answered it: the answer shown under it, the buttons gone."""
    return f"{question}\n» <b>{escape(label)}</b>"


def listing_message(page: Page, language: Language) -> str:
    """One page of listing cards, numbered on from the previous pages."""
    return "\n\n".join(
        "\n".join([f"<b>{escape(card.heading)}</b>", *map(escape, card.lines), f"<i>— {escape(card.where)}</i>"])
        for card in listings.shown(page, language)
    )


def keyboard(rows: list[list[Action]]) -> InlineKeyboardMarkup | None:
    """A reply's buttons as an inline keyboard (none when it has none)."""
    buttons = [[InlineKeyboardButton(action.label, callback_data=action.data) for action in row] for row in rows]
    return InlineKeyboardMarkup(buttons) if any(buttons) else None


def reply_messages(reply: Reply) -> list[str]:
    """A reply of the conversation layer as messages below the limit (its buttons go under the last)."""
    if reply.answer is not None:
        return answer_messages(reply.answer)
    if reply.cards is not None:
        return [listing_message(reply.cards, reply.language)]
    return [escape(part) for part in split_plain(reply.text)]


def handoff_message(note: StaffNote) -> str:
    """What the staff chat sees when a user is handed over (staff read English)."""
    lines = [plain_message("en", "handoff_staff", who=note.who, reason=note.reason)]
    if note.recent:
        recent = (f"• {escape(q[:300])}" for q in note.recent)
        lines += ["", f"<b>{plain_message('en', 'handoff_recent')}</b>", *recent]
    return "\n".join(lines)


def reload_message(report: IngestReport, language: Language) -> str:
    """The summary staff get when /reload is done, with every file that failed."""
    counts = {name: len(getattr(report, name)) for name in ("added", "updated", "unchanged", "removed", "failed")}
    lines = [plain_message(language, "tg_reload_done", seconds=round(report.seconds, 1), **counts)]
    lines += [f"• <code>{escape(f.path)}</code>: {escape(f.reason)}" for f in report.failed[:20]]
    if report.checks is not None:
        lines += _checks_lines(report.checks, language)
    if report.published:
        lines.append(plain_message(language, "tg_reload_published", generation=report.generation))
    elif report.refused_by == "checks":
        lines.append(plain_message(language, "tg_reload_refused_checks"))
    elif report.refused:
        lines.append(plain_message(language, "tg_reload_refused", reason=report.refused))
    else:
        lines.append(plain_message(language, "tg_reload_unchanged"))
    return "\n".join(lines)


def _checks_lines(checks: ChecksReport, language: Language) -> list[str]:
    """The golden questions answered, beside the served index, and each one that broke with why."""
    if checks.served is None:
        lines = [plain_message(language, "tg_reload_checks_first", passed=checks.passed, total=checks.total)]
    else:
        lines = [
            plain_message(language, "tg_reload_checks", passed=checks.passed, total=checks.total, served=checks.served)
        ]
    broken = [plain_message(language, "tg_reload_broke", id=result.id, why=result.why) for result in checks.broken]
    return lines + [f"• {line}" for line in broken[:20]]


def _tally(tally: Tally, label: str, language: Language) -> str:
    return "• " + plain_message(
        language, "tg_stats_row", label=label, questions=tally.questions, answered=tally.answered
    )


def stats_message(stats: Stats, language: Language) -> str:
    """The /stats report: totals, by day, by event, top unanswered and disliked questions."""
    total = stats.total
    lines = [
        f"<b>{plain_message(language, 'tg_stats_title', days=stats.days)}</b>",
        *([plain_message(language, "tg_stats_event", event=stats.event)] if stats.event else []),
        plain_message(
            language, "tg_stats_total", questions=total.questions, answered=total.answered,
            helpful=stats.helpful, unhelpful=stats.unhelpful,
        ),
        "", f"<b>{plain_message(language, 'tg_stats_by_day')}</b>",
        *(_tally(t, t.label, language) for t in stats.by_day),
        "", f"<b>{plain_message(language, 'tg_stats_by_event')}</b>",
        *(_tally(t, t.label or text(language, "tg_stats_no_event"), language) for t in stats.by_event),
    ]  # fmt: skip
    for key, items in (("tg_stats_unanswered", stats.unanswered), ("tg_stats_disliked", stats.disliked)):
        lines += ["", f"<b>{plain_message(language, key)}</b>"]
        lines += [f"• {escape(q[:120])} ×{n}" for q, n in items] or [plain_message(language, "tg_stats_none")]
    return "\n".join(lines)
