"""One small handler per thing a user can do, and `register`, the one place that wires them up."""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import Message, MessageEntity, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.telegram import curation, eligibility, listings, profile, render
from bot.channels.telegram.access import Handler, say, staff_only
from bot.channels.telegram.reply import respond
from bot.channels.telegram.session import conversation, pressed, services, ui_language, who
from bot.channels.telegram.staff import hand_off, relay, reload_and_report
from bot.conversation import actions
from bot.conversation.actions import Kind
from bot.conversation.replies import language_actions, topic_actions
from bot.core.texts import text
from bot.staff.report import chart_png
from knowledge.settings import Settings

log = logging.getLogger(__name__)


class _Addressed(filters.MessageFilter):
    """Group messages meant for the bot: mentioning it, or replying to one of its messages."""

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        replied = message.reply_to_message
        if replied and replied.from_user and replied.from_user.id == bot.id:
            return True
        mention = f"@{bot.username}".lower()
        return any(text.lower() == mention for text in message.parse_entities([MessageEntity.MENTION]).values())


ADDRESSED = _Addressed()


async def flood_guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every other handler: a user over the flood limit is warned once, then ignored for a while."""
    verdict = services(context).flood.check(update.effective_user.id if update.effective_user else 0)
    if verdict == "warn":
        await say(update, context, "tg_flood")
    if verdict != "ok":
        raise ApplicationHandlerStop


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet in the user's language with topic buttons; `/start event_<code>` tags the chat for the staff report."""
    if context.args and context.args[0].startswith("event_"):
        conversation(context).update(who(update), event=context.args[0].removeprefix("event_")[:64])
    language, programme = ui_language(update, context), conversation(context).programme
    name = update.effective_user.first_name if update.effective_user else ""
    await update.effective_message.reply_html(
        render.greeting(name, language, programme), reply_markup=render.keyboard(topic_actions(programme, language))
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What the bot does and its commands."""
    language, programme = ui_language(update, context), conversation(context).programme
    await update.effective_message.reply_html(render.help_message(language, programme))


async def choose_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lang: offer English and Chinese."""
    await update.effective_message.reply_html(
        render.plain_message(ui_language(update, context), "tg_lang_choose"),
        reply_markup=render.keyboard(language_actions()),
    )


async def set_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A language button: remember the choice for this user and confirm in that language."""
    query = update.callback_query
    await query.answer()
    [language] = pressed(update).args
    reply = conversation(context).choose_language(who(update), language)  # type: ignore[arg-type]  # by pattern
    await query.edit_message_text(render.reply_messages(reply)[0])


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sources: the sources of the chat's last answer in full."""
    found = conversation(context).sources(who(update))
    await update.effective_message.reply_html(render.sources_message(found, ui_language(update, context)))


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: forget the conversation and leave any dialogue, so the next question is read on its own."""
    reply = conversation(context).forget(who(update))
    await update.effective_message.reply_html(render.reply_messages(reply)[0])


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask <question>: anywhere, including groups."""
    parts = (update.effective_message.text or "").split(maxsplit=1)
    await respond(update, context, parts[1] if len(parts) > 1 else "")


async def private_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Free text in a private chat is a question, or the answer to the guided eligibility check's open question."""
    if eligibility.in_progress(update, context):
        await eligibility.reply(update, context)
        return
    if profile.editing(update, context):
        await profile.edited(update, context)
        return
    await respond(update, context, update.effective_message.text)


async def group_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group message that mentions the bot or replies to it: the question is the text without the mention."""
    mention = re.compile(rf"@{re.escape(context.bot.username)}\b", re.IGNORECASE)
    await respond(update, context, mention.sub("", update.effective_message.text))


async def topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A topic button under the greeting: ask that topic's starter question; eligibility starts the guided check."""
    query = update.callback_query
    await query.answer()
    [name] = pressed(update).args
    found = conversation(context).programme.topic(name)
    if name == "eligibility":
        await eligibility.start(update, context)
    elif found is not None:  # else a button of a topic since dropped from programme.yaml
        await respond(update, context, found.question.get(ui_language(update, context)))


async def feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """👍 / 👎 under an answer (`fb:<question id>:<1|0>`): stored for the staff report."""
    query = update.callback_query
    question_id, vote = pressed(update).args
    await query.answer(text(ui_language(update, context), "feedback_thanks"))
    conversation(context).feedback(who(update), int(question_id), vote == "1")  # only on this chat's answers


async def sources_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Sources" under an answer (`src:<question id>`): that answer's sources in full."""
    query = update.callback_query
    await query.answer()
    found = conversation(context).sources(who(update), int(pressed(update).args[0]))
    await query.message.reply_html(render.sources_message(found, ui_language(update, context)))


async def talk_to_person(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Talk to a person" (`human:<question id>`): hand the conversation to the staff chat."""
    await update.callback_query.answer()
    await hand_off(update, context, "reason_button")


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:  # noqa: ARG001
    """Any other button (from an older version of the bot): answered so the user's spinner stops."""
    await update.callback_query.answer()


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice...: explain that only text is read."""
    await say(update, context, "tg_unsupported")


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not have."""
    await say(update, context, "tg_unknown_command")


@staff_only
async def reload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reload (staff): ingest KNOWLEDGE_SOURCES in the background, report when done; `/reload force` publishes
    even an index that answers fewer of the golden questions (checks.yaml)."""
    bot_services = services(context)
    if bot_services.reload is not None and not bot_services.reload.done():
        await say(update, context, "tg_reload_busy")
        return
    await say(update, context, "tg_reload_started")
    force = [word.lower() for word in context.args or []] == ["force"]
    job = reload_and_report(context.bot, bot_services, update.effective_chat.id, ui_language(update, context), force)
    bot_services.reload = context.application.create_task(job, update=update)


@staff_only
async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats (staff): questions, answered share, top unanswered and disliked answers, by day and event, then a
    chart of questions per hour; `/stats event CODE`: that event's only."""
    args = context.args or []
    if args and (len(args) != 2 or args[0] != "event"):
        await say(update, context, "tg_stats_usage")
        return
    event, records, language = (args[1] if args else None), services(context).records, ui_language(update, context)
    report = records.stats(event=event)
    await update.effective_message.reply_html(render.stats_message(report, language))
    if report.total.questions:
        chart = await asyncio.to_thread(chart_png, records.hourly(event=event), event)  # ~0.1 s of CPU
        await update.effective_message.reply_photo(chart, caption=render.plain_message(language, "chart_title"))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log any failure and tell the user, so no update crashes the bot or goes silently unanswered."""
    log.error("update %s failed", getattr(update, "update_id", None), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        await context.bot.send_message(
            update.effective_chat.id, render.plain_message(ui_language(update, context), "tg_error")
        )
    except TelegramError:
        log.warning("could not tell chat %s about the failure", update.effective_chat.id, exc_info=True)


def register(application: Application, settings: Settings) -> None:
    """Every handler, in the order they are tried."""
    private, groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS
    mine = private | filters.COMMAND | ADDRESSED
    if settings.telegram_staff_chat_id is not None:
        mine &= ~filters.Chat(settings.telegram_staff_chat_id)  # staff talking among themselves are no flood
    application.add_handler(MessageHandler(mine, flood_guard), group=-1)
    commands: dict[str, Handler] = {
        "start": start, "help": help_command, "lang": choose_language, "sources": sources, "cancel": cancel,
        "ask": ask, "reload": reload, "stats": stats, "eligibility": eligibility.start, "equipment": listings.search,
        "patents": listings.search, "solutions": listings.search, "gaps": curation.gaps, "answers": curation.answers,
        "glossary": curation.glossary,
    }  # fmt: skip
    for name, handler in commands.items():
        application.add_handler(CommandHandler(name, handler))
    firm: dict[str, Handler] = {
        "profile": profile.show, "forget": profile.forget, "schemes": profile.schemes, "subscribe": profile.subscribe,
        "unsubscribe": profile.unsubscribe, "deadlines": profile.deadlines,
    }  # fmt: skip
    for name, handler in firm.items():  # a firm's profile is nobody else's business: never shown in a group
        application.add_handler(CommandHandler(name, handler, filters=private))
    if settings.telegram_staff_chat_id is not None:
        application.add_handler(
            MessageHandler(filters.Chat(settings.telegram_staff_chat_id) & filters.REPLY & filters.TEXT, relay)
        )
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, private_question))
    application.add_handler(MessageHandler(groups & filters.TEXT & ~filters.COMMAND & ADDRESSED, group_question))
    application.add_handler(MessageHandler(private & filters.COMMAND, unknown_command))
    application.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, not_text))
    buttons: dict[Kind, Handler] = {
        Kind.LANGUAGE: set_language, Kind.TOPIC: topic, Kind.FEEDBACK: feedback, Kind.SOURCES: sources_button,
        Kind.HUMAN: talk_to_person, Kind.CHOICE: eligibility.button, Kind.MORE: listings.more,
        Kind.SAVE: curation.save_answer, Kind.GAPS: curation.turn_gaps, Kind.ANSWERS: curation.turn_answers,
        Kind.UNSAVE: curation.remove_answer, Kind.GLOSSARY: curation.glossary_how,
        Kind.KEEP: profile.decide, Kind.EDIT: profile.edit, Kind.SUBSCRIBE: profile.subscribe,
    }  # fmt: skip
    for kind, handler in buttons.items():
        application.add_handler(CallbackQueryHandler(handler, pattern=actions.pattern(kind)))
    application.add_handler(CallbackQueryHandler(stale_button))
    application.add_error_handler(on_error)
