"""The firm profile as a conversation: the save offer after the guided check, /profile and its edits, /forget,
/schemes, /subscribe, /unsubscribe and /deadlines (stored by profiles.py, matched by bot/core/matching.py)."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from bot.conversation.actions import Action, Kind
from bot.conversation.guided import ANSWERS
from bot.conversation.outbox import Outbox
from bot.conversation.profiles import Profile, Profiles
from bot.conversation.replies import Reply, in_rows, say
from bot.conversation.service import ConversationService, Who
from bot.core import interview
from bot.core.deadlines import upcoming, window_line
from bot.core.interview import Interview
from bot.core.matching import matched, ranked, verdict_line
from bot.core.texts import text

log = logging.getLogger(__name__)

EDITING = "profile_edit"  # the fact whose new value the user is typing, in the chat's dialogue slot


class Firms:
    """What a user keeps about their firm, and what the bot does with it; one per process, like the conversation."""

    def __init__(self, service: ConversationService, profiles: Profiles, outbox: Outbox) -> None:
        self.service = service
        self.profiles = profiles
        self.outbox = outbox

    def _profile(self, who: Who) -> Profile | None:
        return self.profiles.get(who.user_id) if who.user_id is not None else None

    def offer(self, who: Who) -> Reply | None:
        """After the guided check: ask whether to save its answers (None when it gathered none)."""
        if who.user_id is None or not self.service.dialogue_part(who, ANSWERS):
            return None
        language = self.service.language(who)
        buttons = [
            Action(kind=Kind.KEEP, args=("yes",), label=text(language, "pm_button_save")),
            Action(kind=Kind.KEEP, args=("no",), label=text(language, "pm_button_no")),
        ]
        return say(language, "pm_save_offer", actions=[buttons])

    def with_offer(self, who: Who, reply: Reply) -> list[Reply]:
        """A step of the guided check, followed by the offer to save its answers once it gave its verdicts."""
        offer = self.offer(who) if reply.answer is not None else None
        return [reply, offer] if offer else [reply]

    def decide(self, who: Who, save: bool) -> Reply:
        """The offer's answer: yes keeps the check's answers (noted as from /eligibility), no drops them."""
        language, answers = self.service.language(who), self.service.dialogue_part(who, ANSWERS)
        self.service.set_dialogue_part(who, ANSWERS, None)
        if not (save and answers and who.user_id is not None):
            return say(language, "pm_not_saved")
        self.profiles.merge(who.user_id, who.chat_id, language, answers, "eligibility")
        log.info("profile saved user=%s facts=%d", who.user_id, len(answers))
        return say(language, "pm_saved")

    def show(self, who: Who) -> Reply:
        """/profile: every saved fact with where it came from, a button to edit each, and the subscription."""
        language, profile = self.service.language(who), self._profile(who)
        if profile is None:
            return say(language, "pm_profile_empty")
        origin = {name: text(language, f"pm_origin_{where}") for name, where in profile.origins.items()}
        programme = self.service.programme
        rows = [
            f"{n}. {interview.question(name, language, programme)} {interview.shown_value(name, v, language)}"
            f" ({origin.get(name, '')})"
            for n, (name, v) in enumerate(profile.facts.items(), 1)
        ]
        state = text(language, "pm_subscription_on" if profile.subscribed else "pm_subscription_off")
        body = "\n".join([text(language, "pm_profile_head"), *rows, state])
        edits = [Action(kind=Kind.EDIT, args=(name,), label=text(language, "pm_button_edit", fact=n))
                 for n, name in enumerate(profile.facts, 1)]  # fmt: skip
        return Reply(language=language, text=body, actions=in_rows(edits))

    def edit(self, who: Who, fact: str) -> Reply:
        """An edit button: ask for the fact's new value; the next typed text answers it."""
        language, profile = self.service.language(who), self._profile(who)
        if profile is None or fact not in profile.facts:  # a button of a forgotten profile, or forged data
            return say(language, "pm_profile_empty")
        self.service.set_dialogue_part(who, EDITING, fact)
        return say(language, "pm_edit_prompt", fact=interview.question(fact, language, self.service.programme))

    def editing(self, who: Who) -> bool:
        """True while the user is typing a new value for a profile fact."""
        return self.service.dialogue_part(who, EDITING) is not None

    async def edited(self, who: Who, typed: str) -> Reply:
        """The typed new value, read like an answer to the guided check's question about that fact."""
        language, fact = self.service.language(who), self.service.dialogue_part(who, EDITING)
        advisor = self.service.assistant.advisor
        state = Interview(language=language, asking=fact)
        reader = advisor.facts if advisor else None
        updated = await interview.answer(state, typed, self.service.assistant.chat, reader=reader)
        asked = interview.question(fact, language, self.service.programme)
        if updated is None or fact not in updated.facts or who.user_id is None:
            return say(language, "pm_edit_again", fact=asked)
        self.service.set_dialogue_part(who, EDITING, None)
        try:
            self.profiles.merge(who.user_id, who.chat_id, language, {fact: updated.facts[fact]}, "typed")
        except ValidationError:
            return say(language, "pm_edit_again", fact=asked)
        return say(language, "pm_edited")

    def forget(self, who: Who) -> Reply:
        """/forget: the profile, its subscription, any unsent notice and unsaved answers go at once."""
        language = self.service.language(who)
        self.service.update(who, dialogue=None)
        if who.user_id is None:
            return say(language, "pm_nothing_to_forget")
        deleted = self.profiles.forget(who.user_id)
        log.info("profile forgotten user=%s existed=%s", who.user_id, deleted)
        return say(language, "pm_forgot" if deleted else "pm_nothing_to_forget")

    def schemes(self, who: Who) -> Reply:
        """/schemes: every scheme's verdict for the profile with the clause deciding it, best first."""
        language, profile = self.service.language(who), self._profile(who)
        advisor = self.service.assistant.advisor
        if profile is None or advisor is None:
            return say(language, "pm_need_profile")
        lines = [verdict_line(v, language) for v in ranked(profile.as_facts(), advisor.schemes)]
        subscribe = Action(kind=Kind.SUBSCRIBE, args=("on",), label=text(language, "pm_button_subscribe"))
        actions = [] if profile.subscribed else [[subscribe]]
        return Reply(language=language, text="\n".join([text(language, "pm_schemes_head"), *lines]), actions=actions)

    def subscribe(self, who: Who, on: bool) -> Reply:
        """Opt in (what matches now is the baseline: later changes are the news) or out (the profile stays)."""
        language, profile = self.service.language(who), self._profile(who)
        if profile is None:
            return say(language, "pm_need_profile")
        advisor = self.service.assistant.advisor
        now = matched(profile.as_facts(), advisor.schemes) if on and advisor else None
        self.profiles.subscribe(profile.user_id, on, now)
        if not on:
            self.outbox.drop_user(profile.user_id)  # nothing already queued reaches them either
        return say(language, "pm_subscribed" if on else "pm_unsubscribed")

    def deadlines(self, who: Who) -> Reply:
        """/deadlines: the application windows not yet closed of the schemes the profile qualifies for."""
        language, profile = self.service.language(who), self._profile(who)
        advisor = self.service.assistant.advisor
        if profile is None or advisor is None:
            return say(language, "pm_need_profile")
        today, mine = self.outbox.clock().date(), matched(profile.as_facts(), advisor.schemes)
        windows = upcoming([scheme for scheme in advisor.schemes if scheme.scheme in mine], today)
        if not windows:
            return say(language, "pm_no_deadlines")
        lines = [window_line(scheme, window, language, today) for scheme, window in windows]
        return Reply(language=language, text="\n".join([text(language, "pm_deadlines_head"), *lines]))
