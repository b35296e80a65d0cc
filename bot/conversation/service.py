"""The conversation, channel-neutral: a question in, replies out, with everything a chat carries between messages.

A channel translates its updates into calls here (who wrote, what they wrote or pressed) and renders the `Reply`s
it gets back. Here: the length check, the chat's history and dialogue, the user's language, recording every answer
for staff, the hand-off after repeated misses, the listings, the buttons under each reply.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from bot.conversation.identity import Identities, qualified
from bot.conversation.records import Handoff, Records
from bot.conversation.replies import Reply, answer_actions, say, small_talk
from bot.conversation.smalltalk import SmallTalk
from bot.conversation.state import ChatState, Conversations
from bot.core.assistant import Assistant
from bot.core.models import Source
from bot.core.passages import OnDraft
from bot.core.texts import text
from bot.core.turns import HISTORY_TURNS
from knowledge.language import Language, detect_language
from knowledge.programme import Programme, ProgrammeError, load_programme
from knowledge.settings import Settings

log = logging.getLogger(__name__)

MISSES_BEFORE_HANDOFF = 2  # questions in a row unanswered before a person is brought in

_LETTERS = re.compile(r"[A-Za-z\u4e00-\u9fff]")  # a message of emoji alone is in the user's language


@dataclass(frozen=True)
class Who:
    """Where a message came from, as the channel knows it."""

    chat_id: int
    user_id: int | None = None
    app_language: str | None = None  # the language code of the user's app, a hint until they choose one
    name: str = ""  # how staff see the user in a hand-off


@dataclass(frozen=True)
class Asked:
    """The outcome of a question: the reply, and whether the chat should now be handed to staff."""

    reply: Reply
    hand_off: bool = False


@dataclass(frozen=True)
class StaffNote:
    """What staff are told when a user is handed over (staff read English)."""

    who: str
    reason: str
    recent: list[str]


def _configured_programme(settings: Settings) -> Programme:
    try:
        return load_programme(settings.knowledge_sources)
    except ProgrammeError as exc:  # ingest reports it to staff; the bot still talks, neutrally
        log.error("programme.yaml not used, neutral wording: %s", exc)
        return Programme()


class ConversationService:
    """One per process, shared by every chat; keeps nothing itself (any replica may get a chat's next message)."""

    def __init__(
        self,
        settings: Settings,
        assistant: Assistant,
        records: Records,
        conversations: Conversations,
        max_question_chars: int,
        handoffs: bool = False,
        programme: Programme | None = None,
    ) -> None:
        self.settings = settings
        self.assistant = assistant
        self.records = records
        self.conversations = conversations
        self.max_question_chars = max_question_chars
        self.handoffs = handoffs  # whether staff take hand-offs in this channel
        self._configured = programme or _configured_programme(settings)

    @property
    def programme(self) -> Programme:
        """Who the assistant speaks for: the indexed knowledge base's programme.yaml (followed as the index
        changes); when the assistant was not built from folders, the one given, else KNOWLEDGE_SOURCES'."""
        return self.assistant.programme or self._configured

    @cached_property
    def identities(self) -> Identities:
        """Chats and users of channels with string ids, on the records' database."""
        return Identities(self.records.engine)

    def who(
        self, channel: str, chat: str, user: str, app_language: str | None = None, address: str | None = None
    ) -> Who:
        """A chat and user of a channel with string ids, as the numbers every record keeps (bot/conversation/
        identity.py); `address`: where the channel can reach the chat after its reply window."""
        chat_id = self.identities.register(qualified(channel, chat), address)
        user_id = chat_id if user == chat else self.identities.register(qualified(channel, user))
        return Who(chat_id=chat_id, user_id=user_id, app_language=app_language, name=f"{user} ({channel})")

    # -- the user's language and the chat's state -------------------------------------------------------------

    def language(self, who: Who) -> Language:
        """The language the user chose, else the one of their app."""
        chosen = self.conversations.language(who.user_id) if who.user_id is not None else None
        if chosen is not None:
            return chosen
        return "zh" if (who.app_language or "").lower().startswith("zh") else "en"

    def choose_language(self, who: Who, language: Language) -> Reply:
        """Keep the user's choice of language; confirmed in that language."""
        if who.user_id is not None:
            self.conversations.set_language(who.user_id, language)
        return say(language, "lang_set")

    def state(self, who: Who) -> ChatState:
        """The chat's conversation, as stored now."""
        return self.conversations.get(who.chat_id)

    def update(self, who: Who, **fields: Any) -> None:
        """Change some fields of the chat's conversation (see ChatState), leaving the others."""
        self.conversations.set(who.chat_id, **fields)

    def forget(self, who: Who) -> Reply:
        """Forget the conversation and leave any dialogue, so the next question is read on its own."""
        self.update(who, history=[], misses=0, dialogue=None)
        return say(self.language(who), "forgotten")

    def dialogue_part(self, who: Who, name: str) -> Any:
        """One feature's share of the chat's dialogue slot (the guided check, the listing searches), if stored."""
        return (self.state(who).dialogue or {}).get(name)

    def set_dialogue_part(self, who: Who, name: str, value: Any) -> None:
        """Store one feature's share of the dialogue slot (JSON-able), the others' kept; None removes it."""
        parts = {key: part for key, part in (self.state(who).dialogue or {}).items() if key != name}
        if value is not None:
            parts[name] = value
        self.update(who, dialogue=parts or None)

    @cached_property
    def smalltalk(self) -> SmallTalk:
        """Recognises greetings, thanks, goodbyes and "what can you do" (loaded on first use)."""
        return SmallTalk.bundled(self.assistant.searcher.embeddings)

    # -- questions ---------------------------------------------------------------------------------------------

    def refusal(self, question: str, language: Language) -> Reply | None:
        """The reply to a question too long or empty to ask, None for one to answer."""
        if not question:
            return say(language, "tg_ask_usage")
        if len(question) > self.max_question_chars:
            return say(language, "too_long", limit=self.max_question_chars)
        return None

    async def ask(self, who: Who, question: str, on_draft: OnDraft | None = None) -> Asked:
        """Answer a question with the chat's history, record it, and say whether it is time for a person."""
        question = question.strip()
        if refused := self.refusal(question, self.language(who)):
            return Asked(refused)
        if (intent := self.smalltalk.intent(question)) is not None:  # never searched, nor recorded as a question
            language = detect_language(question) if _LETTERS.search(question) else self.language(who)
            return Asked(small_talk(intent, language, self.programme))
        state = self.state(who)
        answer = await self.assistant.answer(question, state.history, on_draft=on_draft)
        question_id = self.records.add_question(who.chat_id, who.user_id, state.event, answer)
        misses = self.conversations.remember(who.chat_id, question, answer.answered, question_id, keep=HISTORY_TURNS)
        actions = answer_actions(question_id, answer, handoff=self.handoffs)
        reply = Reply(language=answer.language, answer=answer, actions=actions)
        return Asked(reply, hand_off=self.handoffs and misses >= MISSES_BEFORE_HANDOFF)

    def sources(self, who: Who, question_id: int | None = None) -> list[Source]:
        """The sources of an answer given in this chat (its last one by default); none for another chat's."""
        question_id = question_id if question_id is not None else self.state(who).last_question
        return self.records.sources(question_id, who.chat_id) if question_id else []

    def feedback(self, who: Who, question_id: int, helpful: bool) -> bool:
        """Store 👍/👎 on an answer; False (and logged) when the answer was not given in this chat."""
        stored = who.user_id is not None and self.records.feedback(question_id, who.chat_id, who.user_id, helpful)
        if not stored:  # button data comes from the client and can be forged
            log.warning("ignored feedback from chat %s on another chat's answer %s", who.chat_id, question_id)
        return stored

    # -- hand-off to staff ------------------------------------------------------------------------------------

    def staff_note(self, who: Who, reason_key: str) -> StaffNote:
        """What to post to staff about this chat."""
        name = who.name or str(who.chat_id)
        return StaffNote(who=name, reason=text("en", reason_key), recent=self.state(who).history)

    def handed_off(self, who: Who, staff_message_id: int) -> Reply:
        """The note was posted as `staff_message_id`: remember whom staff replies go to; what the user is told."""
        language, asked = self.language(who), self.state(who).last_question
        handoff = Handoff(chat_id=who.chat_id, language=language, who=who.name or str(who.chat_id), question_id=asked)
        self.records.add_handoff(staff_message_id, who.user_id, handoff)
        self.update(who, misses=0)
        log.info("handed chat %s to staff", who.chat_id)
        return say(language, "handoff_done", programme=self.programme)

    def staff_reply(self, staff_message_id: int, reply: str) -> tuple[Handoff, Reply] | None:
        """A staff member answered a hand-off note: the hand-off (whose chat) and the message for the user; None
        when the message they answered is no hand-off note."""
        handoff = self.records.handoff(staff_message_id)
        if handoff is None:
            return None
        return handoff, say(handoff.language, "staff_reply", programme=self.programme, text=reply)
