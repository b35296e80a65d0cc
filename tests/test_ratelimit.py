"""The bot's outbound pace stays within Telegram's flood limits in any window, not just on average."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time

import pytest

from bot.channels.telegram.ratelimit import CountingRateLimiter


async def sends(limiter: CountingRateLimiter, chat_ids: list[int]) -> list[float]:
    """When each message (one per entry of `chat_ids`), all sent at once, got through the limiter."""
    times: list[float] = []

    async def deliver() -> bool:
        times.append(time.monotonic())
        return True

    await asyncio.gather(
        *(limiter.process_request(deliver, (), {}, "sendMessage", {"chat_id": chat_id}, None) for chat_id in chat_ids)
    )
    return sorted(times)


def busiest(times: list[float], span: float) -> int:
    return max(bisect.bisect_left(times, t + span) - i for i, t in enumerate(times))


async def test_a_burst_to_many_chats_goes_out_at_30_per_second_in_any_second() -> None:
    times = await sends(CountingRateLimiter(lambda: None), list(range(101, 176)))
    assert busiest(times, 1.0) <= 30 and times[-1] - times[0] < 4.0


@pytest.mark.slow  # waits out a group's real 3.3 s pauses
async def test_messages_to_one_group_are_spaced_for_20_a_minute() -> None:
    times = await sends(CountingRateLimiter(lambda: None), [-100123] * 3)
    assert all(later - earlier >= 2.9 for earlier, later in itertools.pairwise(times))


@pytest.mark.slow  # waits out a group's real 3.3 s pauses
async def test_group_messages_queued_behind_a_crowd_still_leave_spaced() -> None:
    # 100 private answers fill almost four seconds of the overall pace; two group answers then queue behind them.
    times: dict[int, list[float]] = {}

    async def deliver(chat_id: int) -> bool:
        times.setdefault(chat_id, []).append(time.monotonic())
        return True

    limiter = CountingRateLimiter(lambda: None)

    def request(chat_id: int) -> asyncio.Future[object]:
        data = {"chat_id": chat_id}
        return asyncio.ensure_future(limiter.process_request(deliver, (chat_id,), {}, "sendMessage", data, None))

    crowd = [request(chat_id) for chat_id in range(1, 101)]
    await asyncio.sleep(0.1)
    await asyncio.gather(*crowd, request(-100123), request(-100123))
    first, second = times[-100123]
    assert second - first >= 3.2, second - first


async def test_typing_actions_are_dropped_while_answers_queue_and_sent_when_idle() -> None:
    limiter = CountingRateLimiter(lambda: None)
    sent: list[str] = []

    async def deliver(what: str) -> bool:
        sent.append(what)
        return True

    def request(endpoint: str, chat_id: int) -> asyncio.Future[object]:
        data = {"chat_id": chat_id}
        return asyncio.ensure_future(limiter.process_request(deliver, (endpoint,), {}, endpoint, data, None))

    answers = [request("sendMessage", chat_id) for chat_id in range(1, 31)]
    await asyncio.sleep(0.05)
    assert await request("sendChatAction", 99) is True  # returned at once, while 30 answers wait their turn
    await asyncio.gather(*answers)
    await asyncio.sleep(0.1)
    await request("sendChatAction", 99)
    assert sent.count("sendChatAction") == 1 and sent.count("sendMessage") == 30


async def test_messages_to_one_private_chat_start_a_second_after_the_previous_one_arrived() -> None:
    limiter = CountingRateLimiter(lambda: None)
    spans: list[tuple[float, float]] = []

    async def deliver() -> bool:
        started = time.monotonic()
        await asyncio.sleep(0.3)  # a slow network: the next message must not catch up with this one
        spans.append((started, time.monotonic()))
        return True

    data = {"chat_id": 42}
    await asyncio.gather(*(limiter.process_request(deliver, (), {}, "sendMessage", data, None) for _ in range(3)))
    assert all(nxt[0] - prev[1] >= 1.0 for prev, nxt in itertools.pairwise(sorted(spans))), spans


async def test_requests_that_reach_telegram_late_still_arrive_30_in_any_second_at_most() -> None:
    # A busy event loop writes a request late and reads its response late: Telegram sees it somewhere in between.
    limiter, arrivals, delays = CountingRateLimiter(lambda: None), [], itertools.cycle([0.0, 0.25, 0.1, 0.3, 0.05])

    async def deliver() -> bool:
        delay = next(delays)
        await asyncio.sleep(delay)
        arrivals.append(time.monotonic())
        await asyncio.sleep(0.3 - delay)
        return True

    data = [{"chat_id": chat_id} for chat_id in range(1, 76)]
    await asyncio.gather(*(limiter.process_request(deliver, (), {}, "sendMessage", d, None) for d in data))
    assert busiest(sorted(arrivals), 1.0) <= 30
