"""Staff close knowledge gaps in the chat: /gaps and /answers a page at a time, and "Save as answer" under a staff
reply to a hand-off (bot/staff/curation.py does the work)."""

from __future__ import annotations

import asyncio
import logging

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.channels.telegram import render
from bot.channels.telegram.access import is_staff, staff_only
from bot.channels.telegram.render import plain_message
from bot.channels.telegram.session import conversation, pressed, services, ui_language
from bot.conversation.actions import Action, Kind
from bot.conversation.saved_answers import SavedAnswer
from bot.core.texts import text
from bot.staff import curation
from bot.staff.curation import GAP_DAYS, Page
from bot.staff.gaps import GapGroup
from knowledge.glossary import GLOSSARY_FILE, GlossaryError
from knowledge.language import Language

log = logging.getLogger(__name__)


def _pager(kind: Kind, page: Page[object]) -> list[Action]:
    turns = [("◀", page.page - 1, page.page > 1), ("▶", page.page + 1, page.page < page.pages)]
    return [Action(kind=kind, args=(str(to),), label=label) for label, to, shown in turns if shown]


def _gap(number: int, group: GapGroup, language: Language) -> str:
    line = plain_message(
        language, "tg_gap_line", number=number, question=group.question[:200], count=group.count,
        last=group.last_asked[:16].replace("T", " "),
    )  # fmt: skip
    now = plain_message(language, "tg_gap_answered" if group.answered_now else "tg_gap_open")
    why = plain_message(
        language, "tg_gap_why", unanswered=group.unanswered, disliked=group.disliked, handed=group.handed_off
    )
    lines = [f"<b>{line}</b>", f"{now} · {why}"]
    if group.needs_document:
        lines.append(plain_message(language, "tg_gap_document"))
    if group.other_language:
        lines.append(plain_message(language, "tg_gap_glossary"))
    if others := group.phrasings[1:4]:
        lines.append(plain_message(language, "tg_gap_also", phrasings=" · ".join(p[:100] for p in others)))
    return "\n".join(lines)


def gaps_message(page: Page[GapGroup], language: Language) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of grouped gaps, with ◀ ▶."""
    if not page.items:
        return plain_message(language, "tg_gaps_none", days=GAP_DAYS), None
    title = plain_message(language, "tg_gaps_title", days=GAP_DAYS, groups=page.total, page=page.page, pages=page.pages)
    blocks = [_gap(page.first + n, group, language) for n, group in enumerate(page.items)]
    glossary = [
        [Action(kind=Kind.GLOSSARY, args=(str(number),), label=text(language, "tg_glossary_button", number=number))]
        for number, group in enumerate(page.items, page.first)
        if group.other_language
    ]
    return "\n\n".join([f"<b>{title}</b>", *blocks]), render.keyboard([*glossary, _pager(Kind.GAPS, page)])


def _answer(saved: SavedAnswer, language: Language) -> str:
    short = saved.answer if len(saved.answer) <= 160 else saved.answer[:159] + "…"
    at = saved.at[:16].replace("T", " ")
    return plain_message(
        language, "tg_answer_line", id=saved.id, question=saved.question, answer=short, by=saved.saved_by, at=at
    )


def answers_message(page: Page[SavedAnswer], language: Language) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of saved answers, a remove button for each, and ◀ ▶."""
    if not page.items:
        return plain_message(language, "tg_answers_none"), None
    title = plain_message(language, "tg_answers_title", count=page.total, page=page.page, pages=page.pages)
    removes = [
        [Action(kind=Kind.UNSAVE, args=(str(s.id), str(page.page)), label=text(language, "tg_answer_remove", id=s.id))]
        for s in page.items
    ]
    body = "\n\n".join([f"<b>{title}</b>", *(_answer(saved, language) for saved in page.items)])
    return body, render.keyboard([*removes, _pager(Kind.ANSWERS, page)])


@staff_only
async def gaps(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/gaps (staff): what the bot failed at in the last 30 days, grouped by meaning, biggest group first."""
    bot_services = services(context)
    page = await curation.gaps_page(bot_services.records, bot_services.assistant, 1)
    body, buttons = gaps_message(page, ui_language(update, context))
    await update.effective_message.reply_html(body, reply_markup=buttons)


@staff_only
async def answers(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/answers (staff): the saved answers, newest first, each with a remove button."""
    body, buttons = answers_message(curation.answers_page(services(context).answers, 1), ui_language(update, context))
    await update.effective_message.reply_html(body, reply_markup=buttons)


async def _refused(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A staff button pressed by someone who is not staff (a forwarded message, forged data): refused, logged."""
    if is_staff(update, context):
        return False
    user = update.effective_user
    log.warning("refused staff button %r from user %s", update.callback_query.data, user.id if user else None)
    refusal = text(ui_language(update, context), "tg_not_staff", conversation(context).programme)
    await update.callback_query.answer(refusal, show_alert=True)
    return True


async def turn_gaps(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """◀ ▶ under /gaps: that page, in place."""
    if await _refused(update, context):
        return
    await update.callback_query.answer()
    bot_services = services(context)
    page = await curation.gaps_page(bot_services.records, bot_services.assistant, int(pressed(update).args[0]))
    body, buttons = gaps_message(page, ui_language(update, context))
    await update.callback_query.edit_message_text(body, reply_markup=buttons)


async def turn_answers(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """◀ ▶ under /answers: that page, in place."""
    if await _refused(update, context):
        return
    await update.callback_query.answer()
    await _show_answers(update, context, int(pressed(update).args[0]))


async def _show_answers(update: Update, context: ContextTypes.DEFAULT_TYPE, number: int) -> None:
    page = curation.answers_page(services(context).answers, number)
    body, buttons = answers_message(page, ui_language(update, context))
    await update.callback_query.edit_message_text(body, reply_markup=buttons)


async def remove_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """🗑 under /answers: remove that answer (every replica stops serving it), and show the page again."""
    if await _refused(update, context):
        return
    answer_id, number = map(int, pressed(update).args)
    removed = services(context).answers.remove(answer_id)
    key = "tg_answer_removed" if removed else "tg_answer_gone"
    await update.callback_query.answer(text(ui_language(update, context), key, id=answer_id))
    await _show_answers(update, context, number)


async def glossary_how(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """🔤 under a gap in /gaps: how to add its name to the glossary, with the gap's question."""
    if await _refused(update, context):
        return
    query, bot_services, language = update.callback_query, services(context), ui_language(update, context)
    group = await curation.gap_group(bot_services.records, bot_services.assistant, int(pressed(update).args[0]))
    if group is None:
        await query.answer(text(language, "tg_glossary_gone"), show_alert=True)
        return
    await query.answer()
    await query.message.reply_html(plain_message(language, "tg_glossary_how", question=group.question[:200]))


@staff_only
async def glossary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/glossary NAME = OTHER NAME (staff): one more group of equivalent names in the knowledge folder's glossary."""
    language, sources = ui_language(update, context), services(context).settings.knowledge_sources
    typed = " ".join(context.args or [])
    if not typed:
        await update.effective_message.reply_html(plain_message(language, "tg_glossary_usage"))
        return
    try:
        path, names = await asyncio.to_thread(curation.add_to_glossary, sources, typed)
    except (GlossaryError, OSError, UnicodeDecodeError) as exc:
        bad = plain_message(language, "tg_glossary_bad", file=GLOSSARY_FILE, error=exc)
        await update.effective_message.reply_html(bad)
        return
    added = plain_message(language, "tg_glossary_added", file=path.name, names=" = ".join(names))
    await update.effective_message.reply_html(added)


async def save_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Save as answer" under a relayed reply in the staff chat: the user's question and that reply become a saved
    answer. The reply is the message the button's message answers (Telegram includes it, one level deep)."""
    query, bot_services = update.callback_query, services(context)
    if query.message is None or query.message.chat.id != bot_services.settings.telegram_staff_chat_id:
        await query.answer()
        return
    replied, language = query.message.reply_to_message, ui_language(update, context)
    if replied is None or not replied.text:
        await query.answer(text(language, "tg_save_no_reply"), show_alert=True)
        return
    who = update.effective_user.full_name if update.effective_user else "staff"
    saved = await curation.save_reply(
        bot_services.records,
        bot_services.answers,
        bot_services.assistant,
        int(pressed(update).args[0]),
        replied.text,
        who,
    )
    if saved is None:
        await query.answer(text(language, "tg_save_no_question"), show_alert=True)
        return
    await query.answer()
    answer, new = saved
    key = "tg_saved" if new else "tg_save_exists"
    note = plain_message(language, key, id=answer.id, phrasings=1 + len(answer.alternatives))
    await query.edit_message_text(f"{query.message.text_html}\n{note}")  # the button goes: saved once
