"""The guided eligibility check as a conversation: the next question with its choices, or every scheme's verdict.

The check's logic is bot/core/interview.py; here its state lives in the chat's dialogue slot between messages.
"""

from __future__ import annotations

from bot.conversation.replies import Reply, prompt_actions, say
from bot.conversation.service import ConversationService, Who
from bot.core import interview
from bot.core.interview import Interview
from bot.core.texts import text

PART = "eligibility"  # this dialogue's share of the chat's dialogue slot
ANSWERS = "answers"  # a finished check's answers, held until the user says whether to save them (firm.py)


def _state(service: ConversationService, who: Who) -> Interview | None:
    saved = service.dialogue_part(who, PART)
    return Interview.model_validate(saved) if saved else None


def in_progress(service: ConversationService, who: Who) -> bool:
    """True while the chat is in the guided check, so typed text answers its question."""
    return _state(service, who) is not None


def _advance(
    service: ConversationService, who: Who, state: Interview, again: bool = False, keep: bool = False
) -> Reply:
    """The next question (again, when the answer could not be read), or the verdicts when done."""
    advisor = service.assistant.advisor
    assert advisor is not None  # a dialogue only starts when rules are loaded
    state, prompt = interview.next_prompt(state, advisor.schemes, advisor.programme)
    if prompt is None:
        service.set_dialogue_part(who, PART, None)
        service.set_dialogue_part(who, ANSWERS, (state.facts or None) if keep else None)
        return Reply(language=state.language, answer=interview.result(state, advisor))
    service.set_dialogue_part(who, PART, state.model_dump(mode="json"))
    question = f"{text(state.language, 'iv_again')} {prompt.text}" if again else prompt.text
    return Reply(language=state.language, text=question, actions=prompt_actions(prompt, state.language))


def start(service: ConversationService, who: Who) -> list[Reply]:
    """A few questions, then every scheme's verdict; without rules, say so."""
    language = service.language(who)
    advisor = service.assistant.advisor
    if advisor is None or not advisor.schemes:
        return [say(language, "iv_no_rules")]
    return [say(language, "iv_intro"), _advance(service, who, Interview(language=language))]


def closed(service: ConversationService, who: Who, fact: str) -> str | None:
    """The notice for a choice under a question no longer asked; None when it is the open question."""
    state = _state(service, who)
    return text(service.language(who), "iv_closed") if state is None or state.asking != fact else None


def choose(service: ConversationService, who: Who, value: str, keep: bool = False) -> Reply:
    """A choice or "skip" for the open question (check `closed` first); `keep`: hold the finished check's answers
    for the offer to save them (firm.py), in a channel that makes it."""
    state = _state(service, who)
    assert state is not None
    updated = interview.skip(state) if value == "skip" else interview.choose(state, value)
    return _advance(service, who, updated or state, again=updated is None, keep=keep)


async def typed(service: ConversationService, who: Who, reply: str, keep: bool = False) -> Reply:
    """Text typed while a question is open: a value, "skip", or a sentence stating facts (`keep`: as `choose`)."""
    state = _state(service, who)
    assert state is not None  # routed here only while a check is in progress
    advisor = service.assistant.advisor
    reader = advisor.facts if advisor else None  # the programme's places and sectors
    updated = await interview.answer(state, reply, service.assistant.chat, reader=reader)
    return _advance(service, who, updated or state, again=updated is None, keep=keep)
