"""What a conference burst showed (bench/burst.py): answers matched to questions, latencies beside an instant bot's
held back only by Telegram's limits, message rates against those limits, and whether the run met the targets."""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tests.fakes.telegram import Call, FakeTelegram

if TYPE_CHECKING:
    from burst import Asked, Crowd

Mode = Literal["extractive", "llm"]
MESSAGE_METHODS = {"sendMessage", "editMessageText"}  # what Telegram's flood limits count
LIMITS = {"overall per second": 30, "per chat per second": 1, "per group per minute": 20}
TARGETS = {"lost": 0, "p95 over the ideal": 1.0, "peak RSS MB": 500}


def is_answer(markup: dict[str, Any] | None) -> bool:
    """An answer is complete when its last part carries the buttons (every answer offers a person)."""
    rows = (markup or {}).get("inline_keyboard", [])
    return any(str(button.get("callback_data", "")).startswith("human:") for row in rows for button in row)


@dataclass
class BotUsage:
    """What the bot process used: peak memory, CPU during the burst, its cold first answer; the machine's load."""

    rss_mb: float
    cpu_seconds: float
    cold_seconds: float
    load: tuple[float, float]  # 1-minute load average before and after the burst


@dataclass
class Measurements:
    """What the run showed, computed from the fake's record of every request and the crowd's questions."""

    mode: Mode
    users: int
    updates: int
    questions: int
    answers: int
    lost: int
    duplicates: int
    latencies: dict[str, list[float]]
    ideal: list[float]  # the answers' latencies had the bot answered instantly, within Telegram's limits alone
    ideal_first: list[float]  # the same, sending answers before greetings waiting for the pace, as the bot does
    peaks: dict[str, int]
    requests_peak: int
    usage: BotUsage

    @classmethod
    def of(cls, mode: Mode, crowd: Crowd, fake: FakeTelegram, usage: BotUsage) -> Measurements:
        """Match each question to its answer: private chats in order (users wait), groups by the quoted message."""
        answer_calls: dict[int, list[Call]] = defaultdict(list)
        for call in fake.calls:
            if call.status == 200 and call.method in MESSAGE_METHODS and is_answer(call.params.get("reply_markup")):
                answer_calls[call.params["chat_id"]].append(call)
        chats = _by_chat(crowd.asked)
        latencies: dict[str, list[float]] = {"private": [], "group": []}
        answered = 0
        for chat_id, asked in chats.items():
            calls = answer_calls.get(chat_id, [])
            matched = _match_in_order(asked, calls) if not asked[0].in_group else _match_quoted(fake, asked, calls)
            answered += len(matched)
            for question, call in matched:
                delivered = fake.delivered_at(question.message)
                if delivered is not None:
                    latencies["group" if question.in_group else "private"].append(call.at - delivered)
        total_answers = sum(len(answer_calls.get(chat_id, [])) for chat_id in chats)  # not the warm-up's
        return cls(
            mode=mode,
            users=crowd.users + crowd.group_users,
            updates=sum(fake.delivered_at(m) is not None for m in [*crowd.starts, *(a.message for a in crowd.asked)]),
            questions=len(crowd.asked),
            answers=total_answers,
            lost=len(crowd.asked) - answered,
            duplicates=total_answers - answered,
            latencies=latencies,
            ideal=ideal_latencies(crowd, fake),
            ideal_first=ideal_answers_first(crowd, fake),
            peaks=_peaks(fake.calls),
            requests_peak=_busiest([c.at for c in fake.calls if "chat_id" in c.params], 1.0),
            usage=usage,
        )

    def passed(self) -> bool:
        """Whether the run met the targets: nothing lost or doubled, p95 and RSS within bounds, within limits.

        The p95 target (within 1 s of the instant bot's, with the same order: answers first) is for the embedded
        default: an LLM takes seconds itself.
        """
        p95 = percentile(self.latencies["private"] + self.latencies["group"], 95)
        return (
            self.lost == TARGETS["lost"]
            and self.duplicates == 0
            and (self.mode != "extractive" or p95 <= percentile(self.ideal_first, 95) + TARGETS["p95 over the ideal"])
            and self.usage.rss_mb <= TARGETS["peak RSS MB"]
            and all(self.peaks[name] <= limit for name, limit in LIMITS.items())
        )

    def table(self) -> str:
        """The figures as a plain-text table."""
        everyone = self.latencies["private"] + self.latencies["group"]
        per_question = 1000 * self.usage.cpu_seconds / max(self.questions, 1)
        rows = [
            ("users", f"{self.users}"),
            ("updates received", f"{self.updates}"),
            ("questions", f"{self.questions}"),
            ("answers sent", f"{self.answers}"),
            ("lost (target 0)", f"{self.lost}"),
            ("duplicated", f"{self.duplicates}"),
            *(_latency_row(name, values) for name, values in [("all", everyone), *self.latencies.items()]),
            _latency_row("had the bot answered instantly (Telegram's limits alone)", self.ideal),
            _latency_row("had the bot answered instantly, answers first (the target's)", self.ideal_first),
            *((f"peak messages {name} (limit {LIMITS[name]})", f"{peak}") for name, peak in self.peaks.items()),
            ("peak chat requests per second (incl. typing)", f"{self.requests_peak}"),
            ("peak RSS of the bot (target <= 500 MB)", f"{self.usage.rss_mb:.0f} MB"),
            ("bot CPU during the burst, per question", f"{self.usage.cpu_seconds:.0f} s, {per_question:.0f} ms"),
            ("first answer after start, before the crowd (warm-up)", f"{self.usage.cold_seconds:.1f} s"),
            ("machine load average (1 min) before / after", f"{self.usage.load[0]:.2f} / {self.usage.load[1]:.2f}"),
            ("targets met", "yes" if self.passed() else "NO"),
        ]
        width = max(len(label) for label, _ in rows)
        title = f"== {self.mode} ==".ljust(width + 2)
        return "\n".join([title, *(f"{label.ljust(width)}  {value}" for label, value in rows)])


def ideal_latencies(crowd: Crowd, fake: FakeTelegram) -> list[float]:
    """Each answer's latency for a bot that answered the moment a message arrived, in arrival order, held back only by
    Telegram's limits (30 a second overall, one a second in a chat, 20 a minute in a group); greetings count too."""
    arrivals = [(fake.delivered_at(m), m["chat"]["id"], False) for m in crowd.starts]
    arrivals += [(fake.delivered_at(a.message), a.chat_id, True) for a in crowd.asked]
    next_slot, chat_free, latencies = 0.0, defaultdict(float), []
    for arrived, chat_id, is_answer in sorted(a for a in arrivals if a[0] is not None):
        leaves = max(arrived, next_slot, chat_free[chat_id])
        next_slot = leaves + 1 / LIMITS["overall per second"]
        chat_free[chat_id] = leaves + (60 / LIMITS["per group per minute"] if chat_id < 0 else 1.0)
        if is_answer:
            latencies.append(leaves - arrived)
    return latencies


def ideal_answers_first(crowd: Crowd, fake: FakeTelegram) -> list[float]:
    """Each answer's latency for a bot that answered the moment a message arrived and, as the bot does, sent answers
    before the greetings waiting for the overall pace; held back only by Telegram's limits, as ideal_latencies."""
    arrivals = [(fake.delivered_at(m), m["chat"]["id"], False) for m in crowd.starts]
    arrivals += [(fake.delivered_at(a.message), a.chat_id, True) for a in crowd.asked]
    pending = sorted(a for a in arrivals if a[0] is not None)
    waiting: list[tuple[float, int, bool]] = []
    now, chat_free, latencies, arrived = 0.0, defaultdict(float), [], 0
    while arrived < len(pending) or waiting:
        if not waiting:
            now = max(now, pending[arrived][0])
        while arrived < len(pending) and pending[arrived][0] <= now:
            waiting.append(pending[arrived])
            arrived += 1
        ready = [message for message in waiting if chat_free[message[1]] <= now]
        if not ready:  # every waiting message's chat is paused: on to the first pause's end, or the next arrival
            upcoming = [pending[arrived][0]] if arrived < len(pending) else []
            now = min([chat_free[message[1]] for message in waiting] + upcoming)
            continue
        message = min(ready, key=lambda m: (not m[2], m[0]))
        waiting.remove(message)
        chat_free[message[1]] = now + (60 / LIMITS["per group per minute"] if message[1] < 0 else 1.0)
        if message[2]:
            latencies.append(now - message[0])
        now += 1 / LIMITS["overall per second"]
    return latencies


def _by_chat(asked: Iterable[Asked]) -> dict[int, list[Asked]]:
    chats: dict[int, list[Asked]] = defaultdict(list)
    for question in asked:
        chats[question.chat_id].append(question)
    return chats


def _match_in_order(asked: list[Asked], calls: list[Call]) -> list[tuple[Asked, Call]]:
    """A private user waits for each answer before the next question, so the n-th answer is the n-th question's."""
    return list(zip(asked, calls, strict=False))


def _match_quoted(fake: FakeTelegram, asked: list[Asked], calls: list[Call]) -> list[tuple[Asked, Call]]:
    """In a group an answer quotes its question: by `reply_parameters`, or the quoting draft it completes."""
    by_message = {question.message["message_id"]: question for question in asked}
    matched: dict[int, tuple[Asked, Call]] = {}
    for call in calls:
        if call.method == "sendMessage":
            quoted = (call.params.get("reply_parameters") or {}).get("message_id")
        else:
            draft = fake.message(call.params["chat_id"], call.params["message_id"])
            quoted = (draft.get("reply_to_message") or {}).get("message_id")
        if quoted in by_message and quoted not in matched:
            matched[quoted] = (by_message[quoted], call)
    return list(matched.values())


def _peaks(calls: list[Call]) -> dict[str, int]:
    """The busiest sliding windows of messages: overall per second, per chat per second, per group per minute."""
    sent = [c for c in calls if c.status == 200 and c.method in MESSAGE_METHODS and "chat_id" in c.params]
    per_chat: dict[int, list[float]] = defaultdict(list)
    for call in sent:
        per_chat[call.params["chat_id"]].append(call.at)
    groups = [times for chat_id, times in per_chat.items() if chat_id < 0]
    return {
        "overall per second": _busiest([c.at for c in sent], 1.0),
        "per chat per second": max((_busiest(times, 1.0) for times in per_chat.values()), default=0),
        "per group per minute": max((_busiest(times, 60.0) for times in groups), default=0),
    }


def _busiest(times: list[float], span: float) -> int:
    """The most events in any window of `span` seconds."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + span) - i for i, t in enumerate(ordered)), default=0)


def percentile(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _latency_row(name: str, values: list[float]) -> tuple[str, str]:
    figures = " / ".join(f"{percentile(values, p):.2f}" for p in (50, 95, 99))
    return f"answer latency p50 / p95 / p99, {name} (n={len(values)})", f"{figures} s"
