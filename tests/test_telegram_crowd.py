"""A crowd at Telegram's limit, end to end through the fake Bot API: what users wait for leaves first."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.channels.telegram.ratelimit import NO_PACING
from bot.core.assistant import Assistant
from knowledge.retrieve import HybridSearcher
from tests.fakes.telegram import FakeTelegram
from tests.test_telegram import is_answer, running

# Two messages a second overall instead of Telegram's 30, so eight greetings fill the pace for four seconds.
SLOW_PACE = replace(NO_PACING, overall=1, period=0.5)
GREETED = 8


async def test_an_answer_leaves_before_greetings_queued_ahead_of_it(
    tg: FakeTelegram, tmp_path: Path, searcher: HybridSearcher
) -> None:
    ada, crowd = tg.user(301, "Ada"), [tg.user(400 + n, f"Founder{n}") for n in range(GREETED)]
    async with running(tg, tmp_path, Assistant(searcher), pacing=SLOW_PACE):
        for founder in crowd:
            tg.send(founder, "/start")
        tg.send(ada, "What is the maximum innovation voucher amount per year?")
        await tg.wait_for(lambda: len(tg.calls_to("sendMessage")) >= GREETED + 1, timeout=30)
    order = [call.params["chat_id"] for call in tg.calls_to("sendMessage") if call.status == 200]
    assert any(is_answer(m) for m in tg.sent(ada["id"]))
    # Greetings were queued before the answer was found; at most the few that left meanwhile go before it.
    assert order.index(ada["id"]) <= 3, order
