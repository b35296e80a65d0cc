"""Card clicks: a template_card_event's event_key is an `Action`'s data; the passive reply replaces the card.

A click's own response_url is the chat's newest address: it is kept for staff replies unless the click needs a new
message (sources, a topic's answer, the guided check's verdicts), which spends it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.channels.wecom.reach import Reach
from bot.channels.wecom.render import notice_card, reply_card, reply_markdown, sources_markdown, update
from bot.channels.wecom.staff import StaffDesk
from bot.conversation import guided, listings
from bot.conversation.actions import Action, Kind
from bot.conversation.firm import Firms
from bot.conversation.replies import Reply, follow_up_actions
from bot.conversation.service import ConversationService, Who
from bot.core.texts import text

log = logging.getLogger(__name__)

Click = Callable[[Who, Action, str], Awaitable[dict | None]]


@dataclass
class Clicks:
    """What each kind of button does in WeCom."""

    service: ConversationService
    desk: StaffDesk
    reach: Reach
    firms: Firms

    def handler(self, kind: Kind) -> Click | None:
        """The coroutine answering a click of `kind`; None for buttons WeCom does not offer."""
        handlers: dict[Kind, Click] = {
            Kind.FEEDBACK: self.feedback, Kind.SOURCES: self.sources, Kind.HUMAN: self.human,
            Kind.CHOICE: self.choice, Kind.TOPIC: self.topic, Kind.LANGUAGE: self.language, Kind.MORE: self.more,
            Kind.KEEP: self.keep, Kind.EDIT: self.edit, Kind.SUBSCRIBE: self.subscribe,
        }  # fmt: skip
        return handlers.get(kind)

    async def feedback(self, who: Who, action: Action, task_id: str) -> dict | None:
        """👍/👎: stored for staff; the card thanks, lists the sources and keeps the other buttons."""
        question_id, vote = int(action.args[0]), action.args[1] == "1"
        if not self.service.feedback(who, question_id, vote):
            return None
        language, sources = self.service.language(who), self.service.sources(who, question_id)
        rest = follow_up_actions(question_id, language, bool(sources), self.service.handoffs)
        body = sources_markdown(sources, language) if sources else ""
        title = text(language, "feedback_thanks")
        card = reply_card(Reply(language=language, actions=[rest]), task_id, body, title=title)
        return update(card or notice_card(task_id, title, body))

    async def sources(self, who: Who, action: Action, task_id: str) -> dict | None:  # noqa: ARG002
        """📄: the answer's sources in a new message; the card stays as it is."""
        found = self.service.sources(who, int(action.args[0]))
        if found:
            language = self.service.language(who)
            await self.reach.deliver(who.chat_id, Reply(language=language, text=sources_markdown(found, language)))
        return None

    async def human(self, who: Who, action: Action, task_id: str) -> dict | None:  # noqa: ARG002
        """🙋: hand the chat to staff; the card says so (the click's response_url stays for the staff reply)."""
        told = await self.desk.hand_off(who, "reason_button")
        if told is None:
            return None
        return update(notice_card(task_id, text(told.language, "button_human"), told.text))

    async def choice(self, who: Who, action: Action, task_id: str) -> dict | None:
        """A choice of the guided check: the card becomes the next question, or the verdicts follow in a message."""
        fact, value = action.args
        if notice := guided.closed(self.service, who, fact):
            return update(notice_card(task_id, notice))
        step = guided.choose(self.service, who, value, keep=who.chat_id == who.user_id)  # profiles: single chats
        return await self._dialogue(who, step, task_id)

    async def topic(self, who: Who, action: Action, task_id: str) -> dict | None:
        """A topic under the greeting: its question answered in a message, or the guided check in the card."""
        if action.args[0] == "eligibility":
            replies = guided.start(self.service, who)
            intro = "\n\n".join(reply.text for reply in replies[:-1])
            return await self._dialogue(who, replies[-1], task_id, intro)
        found = self.service.programme.topic(action.args[0])
        if found is None:  # a topic since dropped from programme.yaml
            return None
        asked = await self.service.ask(who, found.question.get(self.service.language(who)))
        await self.reach.deliver(who.chat_id, asked.reply)
        card = reply_card(asked.reply, task_id)
        return update(card) if card else None

    async def language(self, who: Who, action: Action, task_id: str) -> dict | None:
        """English / 中文: kept for the user, confirmed on the card."""
        reply = self.service.choose_language(who, action.args[0])  # type: ignore[arg-type]  # by its pattern
        return update(notice_card(task_id, reply.text))

    async def more(self, who: Who, action: Action, task_id: str) -> dict | None:
        """ "More" under a page of listing cards: the next page in a message, its own "more" on the card."""
        kind, page, key = action.args
        if notice := listings.expired(self.service, who, key):
            return update(notice_card(task_id, notice))
        reply = await listings.more(self.service, who, kind, int(page), key)  # type: ignore[arg-type]  # by pattern
        return await self._below(who, reply, task_id) if reply else None

    async def keep(self, who: Who, action: Action, task_id: str) -> dict | None:
        """Save the guided check's answers as the firm profile, or not; the card says which."""
        return update(notice_card(task_id, self.firms.decide(who, save=action.args[0] == "yes").text))

    async def edit(self, who: Who, action: Action, task_id: str) -> dict | None:
        """An edit button under /profile: the card asks for the fact's new value, which the next message gives."""
        return update(notice_card(task_id, self.firms.edit(who, action.args[0]).text))

    async def subscribe(self, who: Who, action: Action, task_id: str) -> dict | None:  # noqa: ARG002
        """Subscribe under /schemes: notices of new matches and deadlines from now on."""
        return update(notice_card(task_id, self.firms.subscribe(who, on=True).text))

    async def _dialogue(self, who: Who, reply: Reply, task_id: str, intro: str = "") -> dict:
        """A step of a dialogue on the clicked card: a question with its choices there, else a message (and the
        offer to save the check's answers on the card)."""
        if reply.actions:
            body = "\n\n".join(part for part in (intro, reply_markdown(reply)) if part)
            return update(reply_card(reply, task_id, body) or notice_card(task_id, body))
        verdicts, *offer = self.firms.with_offer(who, reply)
        return await self._below(who, verdicts, task_id, offer[0] if offer else None, intro)

    async def _below(self, who: Who, reply: Reply, task_id: str, then: Reply | None = None, intro: str = "") -> dict:
        """`reply` in a message; the card says so, with the buttons of `then` (else of `reply`) if any."""
        await self.reach.deliver(who.chat_id, reply)
        title, buttons = text(reply.language, "wecom_result_below"), then or reply
        card = reply_card(buttons, task_id, buttons.text if then else intro, title=title)
        return update(card or notice_card(task_id, title, intro))
