"""Firm profiles in the bot's database and the matches announced when the rules change (issue 15)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.conversation.outbox import Message, Outbox
from bot.conversation.profiles import Profile, Profiles
from bot.conversation.reminders import remind
from bot.conversation.tables import connect
from bot.core.eligibility import Outcome
from bot.core.matching import Change, notices, ranked
from knowledge.rules import read_scheme
from knowledge.schemes import Scheme
from knowledge.settings import SAMPLE_KNOWLEDGE

RULES = SAMPLE_KNOWLEDGE / "programmes"
GRADUATE = {"employer_is_member": True, "degree": "master", "age": 29, "social_insurance_months": 12}


def schemes() -> list[Scheme]:
    return [read_scheme(path, SAMPLE_KNOWLEDGE) for path in sorted(RULES.glob("*.yaml"))]


@pytest.fixture
def store(tmp_path: Path) -> Profiles:
    return Profiles(connect(f"sqlite:///{tmp_path / 'bot.sqlite3'}"))


def test_a_profile_keeps_each_facts_origin_and_forget_deletes_it_with_the_subscription(store: Profiles) -> None:
    store.merge(7, 70, "en", {"age": 29, "degree": "master"}, "eligibility")
    store.merge(7, 70, "en", {"age": 30}, "typed")
    assert store.subscribe(7, True)
    profile = store.get(7)
    assert profile is not None and profile.facts == {"age": 30, "degree": "master"}
    assert profile.origins == {"age": "typed", "degree": "eligibility"}
    assert [p.user_id for p in store.subscribed()] == [7]
    outbox = Outbox(store.engine)
    outbox.insert([Message(key=f"g:{user}:x:new", user_id=user, chat_id=user, body="news") for user in (7, 8)])
    assert store.forget(7) and outbox.pending() == 1, "the user's unsent notices go with the profile, others' stay"
    store.merge(7, 70, "en", {"age": 29}, "typed")
    assert store.forget(7) and store.get(7) is None and list(store.subscribed()) == []
    assert not store.forget(7) and not store.subscribe(7, True)  # nothing left to subscribe


def test_an_invalid_fact_is_refused_and_the_stored_profile_is_untouched(store: Profiles) -> None:
    store.merge(7, 70, "en", {"age": 29}, "typed")
    with pytest.raises(ValidationError):
        store.merge(7, 70, "en", {"age": 500}, "typed")
    assert store.get(7) == Profile(user_id=7, chat_id=70, language="en", facts={"age": 29}, origins={"age": "typed"})


def test_schemes_are_ranked_qualifying_first_with_the_deciding_clause() -> None:
    verdicts = ranked(Profile(user_id=1, chat_id=1, language="en", facts=GRADUATE | {"owns_home_in_city": False})
                      .as_facts(), schemes())  # fmt: skip
    outcomes = [v.outcome for v in verdicts]
    assert outcomes == sorted(outcomes, key=[Outcome.QUALIFIES, Outcome.CANNOT_TELL, Outcome.DOES_NOT_QUALIFY].index)
    assert verdicts[0].scheme.scheme == "rent-subsidy" and verdicts[0].outcome is Outcome.QUALIFIES
    assert all(v.deciding for v in verdicts if v.outcome is not Outcome.QUALIFIES)


def test_each_change_is_announced_once_new_then_changed_then_withdrawn() -> None:
    facts = Profile(user_id=1, chat_id=1, language="en", facts=GRADUATE | {"owns_home_in_city": False}).as_facts()
    rules = schemes()
    first, told = notices({}, facts, rules)
    assert [(n.scheme_id, n.change) for n in first] == [("rent-subsidy", Change.NEW)]
    assert notices(told, facts, rules)[0] == []  # the same rules again: nothing to say
    rent = next(s for s in rules if s.scheme == "rent-subsidy")
    stricter = rent.model_copy(update={"conditions": [*rent.conditions[:-1], rent.conditions[-1].model_copy(
        update={"clause": "第二条（六）"})]})  # fmt: skip
    changed, told = notices(told, facts, [s if s is not rent else stricter for s in rules])
    assert [(n.scheme_id, n.change) for n in changed] == [("rent-subsidy", Change.CHANGED)]
    gone, told = notices(told, facts, [s for s in rules if s is not rent])
    assert [(n.scheme_id, n.change) for n in gone] == [("rent-subsidy", Change.WITHDRAWN)] and told == {}


def test_a_restart_in_the_middle_of_5000_notices_resumes_and_every_user_gets_exactly_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    clock = [datetime(2026, 12, 5, 9, tzinfo=UTC)]
    first = Outbox(connect(url), clock=lambda: clock[0])
    messages = [Message(key=f"g1:{user}:x:new", user_id=user, chat_id=user, body="news") for user in range(5000)]
    first.insert(messages)
    first.insert(messages[:100])  # a second replica deciding the same news queues nothing more
    received: list[int] = []
    for message in first.claim(200)[:150]:  # the process dies with 50 claimed but not sent
        received.append(message.chat_id)
        first.sent(message.id)
    first.claim(200)  # ... and another 200 claimed, none sent
    clock[0] += timedelta(minutes=10)  # the restarted bot finds the dead claims past their lease
    second = Outbox(connect(url), clock=lambda: clock[0])
    while batch := second.claim(500):
        for message in batch:
            received.append(message.chat_id)
            second.sent(message.id)
    assert sorted(received) == list(range(5000)) and second.pending() == 0


def reminders(
    outbox: Outbox, day: date, store: Profiles, rules: list[Scheme], days: tuple[int, ...] = (7, 1)
) -> list[str]:
    """Run the day's reminder pass, then send what is queued; the bodies sent."""
    remind(store, outbox, rules, day, days)
    sent = []
    while batch := outbox.claim(100):
        for message in batch:
            sent.append(message.body)
            outbox.sent(message.id)
    return sent


def test_reminders_come_at_7_and_1_days_never_twice_never_after_closing_and_follow_a_moved_date(
    store: Profiles,
) -> None:
    store.merge(7, 70, "en", GRADUATE | {"owns_home_in_city": False}, "eligibility")
    store.subscribe(7, True)
    store.merge(8, 80, "en", GRADUATE | {"owns_home_in_city": True}, "eligibility")  # does not qualify
    store.subscribe(8, True)
    outbox, rules = Outbox(store.engine), schemes()
    rent = next(s for s in rules if s.scheme == "rent-subsidy")
    assert rent.window is not None and rent.window.closes == date(2027, 3, 31), "the sample rule file has a window"
    assert reminders(outbox, date(2027, 3, 23), store, rules) == [], "9 days before: too early"
    [week] = reminders(outbox, date(2027, 3, 25), store, rules)
    assert week.startswith("Reminder: applications for Pudong youth rent subsidy close on 2027-03-31 (days left: 6)")
    assert "第二条（五）: neither you nor your spouse owns a home in Shanghai" in week and "How to apply: " in week
    assert reminders(outbox, date(2027, 3, 25), store, rules) == [], "a second pass (or replica) the same day"
    assert reminders(outbox, date(2027, 3, 26), store, rules) == [], "the 7-day reminder is not repeated"

    moved = rent.model_copy(update={"window": rent.window.model_copy(update={"closes": date(2027, 4, 15)})})
    later = [moved if s is rent else s for s in rules]
    remind(store, outbox, rules, date(2027, 3, 30), (7, 1))  # the 1-day reminder is queued, then the date moves
    assert reminders(outbox, date(2027, 3, 30), store, later) == [], "the queued reminder of the old date is withdrawn"
    [again] = reminders(outbox, date(2027, 4, 10), store, later)
    assert "close on 2027-04-15 (days left: 5)" in again, "the new date gets its own reminder"
    [last] = reminders(outbox, date(2027, 4, 14), store, later)
    assert "(days left: 1)" in last
    assert reminders(outbox, date(2027, 4, 16), store, later) == [], "a closed window is never reminded"


def test_a_window_that_closed_while_the_bot_was_down_is_not_reminded(store: Profiles) -> None:
    store.merge(7, 70, "zh", GRADUATE | {"owns_home_in_city": False}, "eligibility")
    store.subscribe(7, True)
    outbox, rules = Outbox(store.engine), schemes()
    [one] = reminders(outbox, date(2027, 3, 26), store, rules, days=(7, 3))
    assert one.startswith("提醒：浦东青年人才租房补贴的申报将于2027-03-31截止（还剩5天）"), "in the user's language"
    remind(store, outbox, rules, date(2027, 3, 30), (7, 1))  # queued, then the bot stops before sending
    assert outbox.pending() == 1
    assert reminders(outbox, date(2027, 4, 2), store, rules) == [] and outbox.pending() == 0
