"""The firm profile in Telegram: the save offer after /eligibility, /profile with edit buttons, /forget, /schemes,
/subscribe and /unsubscribe (logic: bot/conversation/profiles.py, bot/core/matching.py)."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.channels.telegram import render
from bot.channels.telegram.session import dialogue_part, services, set_dialogue_part, ui_language
from bot.core import interview
from bot.core.interview import Interview
from bot.core.matching import matched, ranked, verdict_line
from bot.core.texts import text
from knowledge.language import Language
from knowledge.rules import Scalar

OFFER = "profile_offer"  # the finished check's answers, kept in the dialogue slot until the user says yes or no
EDITING = "profile_edit"  # the fact being edited, while the user types its new value


def _button(language: Language, key: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text(language, key), callback_data=data)


def offer(update: Update, context: ContextTypes.DEFAULT_TYPE, facts: dict[str, Scalar]) -> InlineKeyboardMarkup | None:
    """After the guided check: hold its answers until the user says whether to save them; the buttons to ask."""
    if not facts:
        return None
    language = ui_language(update, context)
    set_dialogue_part(update, context, OFFER, facts)
    return InlineKeyboardMarkup(
        [[_button(language, "pm_button_save", "pf:save"), _button(language, "pm_button_no", "pf:nosave")]]
    )


async def decide(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The save offer's buttons: yes stores the answers (noting they came from /eligibility), no drops them."""
    query, language = update.callback_query, ui_language(update, context)
    facts = dialogue_part(update, context, OFFER)
    await query.answer()
    set_dialogue_part(update, context, OFFER, None)
    if query.data == "pf:save" and facts:
        user, chat = update.effective_user.id, update.effective_chat.id
        services(context).profiles.merge(user, chat, language, facts, "eligibility")
    saved = query.data == "pf:save" and bool(facts)
    # The verdicts stay, the buttons go (editMessageReplyMarkup would carry the default parse_mode it does not take).
    await query.edit_message_text(query.message.text_html)
    await update.effective_chat.send_message(render.plain_message(language, "pm_saved" if saved else "pm_not_saved"))


def _fact_rows(facts: dict[str, Any], origins: dict[str, str], language: Language) -> list[str]:
    origin = {name: text(language, f"pm_origin_{where}") for name, where in origins.items()}
    return [f"• {name}: {value} ({origin.get(name, '')})" for name, value in facts.items()]


async def show(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/profile: every saved fact with where it came from, a button to edit each, and the subscription."""
    language = ui_language(update, context)
    profile = services(context).profiles.get(update.effective_user.id)
    if profile is None:
        await update.effective_chat.send_message(render.plain_message(language, "pm_profile_empty"))
        return
    rows = _fact_rows(profile.facts, profile.origins, language)
    subscription = "pm_subscription_on" if profile.subscribed else "pm_subscription_off"
    body = "\n".join([text(language, "pm_profile_head"), *rows, text(language, subscription)])
    buttons = [InlineKeyboardButton(f"✏️ {name}", callback_data=f"pf:edit:{name}") for name in profile.facts]
    keyboard = InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])
    await update.effective_chat.send_message(render.escape(body), reply_markup=keyboard)


async def edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edit button on /profile (`pf:edit:<fact>`): ask for the new value; the next typed text answers it."""
    query, language = update.callback_query, ui_language(update, context)
    fact = query.data.split(":")[2]
    await query.answer()
    set_dialogue_part(update, context, EDITING, fact)
    await update.effective_chat.send_message(render.plain_message(language, "pm_edit_prompt", fact=fact))


def editing(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """True while the user is typing a new value for a profile fact."""
    return dialogue_part(update, context, EDITING) is not None


async def edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The typed new value: read like an answer to the guided check's question about that fact."""
    language, fact = ui_language(update, context), dialogue_part(update, context, EDITING)
    state = Interview(language=language, asking=fact)
    reader = services(context).assistant.advisor.facts if services(context).assistant.advisor else None
    updated = await interview.answer(state, update.effective_message.text or "", reader=reader)
    if updated is None or fact not in updated.facts:
        await update.effective_chat.send_message(render.plain_message(language, "iv_again"))
        return
    set_dialogue_part(update, context, EDITING, None)
    user, chat = update.effective_user.id, update.effective_chat.id
    services(context).profiles.merge(user, chat, language, {fact: updated.facts[fact]}, "typed")
    await update.effective_chat.send_message(render.plain_message(language, "pm_edited"))


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/forget: the profile, its subscription and any unsent notice go at once."""
    found, user = services(context), update.effective_user.id
    deleted = found.profiles.forget(user)
    found.outbox.drop_user(user)
    key = "pm_forgot" if deleted else "pm_nothing_to_forget"
    await update.effective_chat.send_message(render.plain_message(ui_language(update, context), key))


async def schemes(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/schemes: every scheme's verdict for the profile with its deciding clause, best first; a subscribe button."""
    language, found = ui_language(update, context), services(context)
    profile = found.profiles.get(update.effective_user.id)
    advisor = found.assistant.advisor
    if profile is None or advisor is None:
        await update.effective_chat.send_message(render.plain_message(language, "pm_need_profile"))
        return
    lines = [verdict_line(v, language) for v in ranked(profile.as_facts(), advisor.schemes)]
    body = "\n".join([text(language, "pm_schemes_head"), *lines])
    keyboard = (
        None if profile.subscribed else InlineKeyboardMarkup([[_button(language, "pm_button_subscribe", "pf:sub")]])
    )
    parts = [render.escape(part) for part in render.split_plain(body)]
    for number, part in enumerate(parts, 1):
        await update.effective_chat.send_message(part, reply_markup=keyboard if number == len(parts) else None)


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/subscribe or the button after /schemes: later changes to the user's matches will be told once each."""
    if update.callback_query:
        await update.callback_query.answer()
    found, language = services(context), ui_language(update, context)
    profile = found.profiles.get(update.effective_user.id)
    advisor = found.assistant.advisor
    now = matched(profile.as_facts(), advisor.schemes) if profile and advisor else {}
    ok = profile is not None and found.profiles.subscribe(profile.user_id, True, now)
    await update.effective_chat.send_message(
        render.plain_message(language, "pm_subscribed" if ok else "pm_need_profile")
    )


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unsubscribe: no more notices; the profile stays."""
    services(context).profiles.subscribe(update.effective_user.id, False)
    await update.effective_chat.send_message(render.plain_message(ui_language(update, context), "pm_unsubscribed"))
