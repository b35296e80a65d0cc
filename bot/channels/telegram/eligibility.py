"""The guided eligibility check in Telegram: /eligibility, its buttons, typed answers (logic: bot/core/interview.py)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.channels.telegram import render
from bot.channels.telegram.session import dialogue_part, services, set_dialogue_part, ui_language
from bot.core import interview
from bot.core.interview import Interview
from bot.core.texts import text

PART = "eligibility"  # this dialogue's share of the chat's dialogue slot


async def _advance(update: Update, context: ContextTypes.DEFAULT_TYPE, state: Interview, again: bool = False) -> None:
    """Ask the next question (again, when the answer could not be read), or show the verdicts when done."""
    advisor = services(context).assistant.advisor
    assert advisor is not None  # a dialogue only starts when rules are loaded
    state, prompt = interview.next_prompt(state, advisor.schemes)
    chat = update.effective_chat
    if prompt is None:
        set_dialogue_part(update, context, PART, None)
        for part in render.answer_messages(interview.result(state, advisor)):
            await chat.send_message(part)
        return
    set_dialogue_part(update, context, PART, state.model_dump(mode="json"))
    message = render.prompt_message(prompt, state.language, again)
    await chat.send_message(message, reply_markup=render.prompt_keyboard(prompt, state.language))


def _state(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Interview | None:
    saved = dialogue_part(update, context, PART)
    return Interview.model_validate(saved) if saved else None


def in_progress(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """True while the chat is in the guided check, so typed text answers its question."""
    return _state(update, context) is not None


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/eligibility and the eligibility topic button: a few questions, then every scheme's verdict."""
    language = ui_language(update, context)
    advisor = services(context).assistant.advisor
    if advisor is None or not advisor.schemes:
        await update.effective_chat.send_message(render.plain_message(language, "iv_no_rules"))
        return
    await update.effective_chat.send_message(render.plain_message(language, "iv_intro"))
    await _advance(update, context, Interview(language=language))


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A choice or Skip (`el:<fact>:<value>`) under the question being asked; older questions' buttons are closed."""
    query = update.callback_query
    _, fact, value = query.data.split(":")
    state = _state(update, context)
    if state is None or state.asking != fact:
        await query.answer(text(ui_language(update, context), "iv_closed"))
        return
    await query.answer()
    keyboard = query.message.reply_markup.inline_keyboard
    label = next(b.text for row in keyboard for b in row if b.callback_data == query.data)
    await query.edit_message_text(render.answered(query.message.text_html, label))  # and its buttons go
    updated = interview.skip(state) if value == "skip" else interview.choose(state, value)
    await _advance(update, context, updated or state, again=updated is None)


async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text typed while a question is open: a value, "skip", or a sentence stating facts."""
    state = _state(update, context)
    assert state is not None  # routed here only while a check is in progress
    assistant = services(context).assistant
    reader = assistant.advisor.facts if assistant.advisor else None
    updated = await interview.answer(state, update.effective_message.text or "", assistant.chat, reader=reader)
    await _advance(update, context, updated or state, again=updated is None)
