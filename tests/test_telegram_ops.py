"""The Telegram bot's operator endpoints: /healthz, /readyz and /metrics on HTTP_PORT beside the bot, 429s counted."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from bot.core.assistant import Assistant
from knowledge.retrieve import HybridSearcher
from tests.fakes.telegram import FakeTelegram
from tests.test_http import VOUCHER_CAP, scrape
from tests.test_telegram import ask, running


async def test_telegram_bot_serves_health_and_counts_429s(tmp_path: Path, searcher: HybridSearcher) -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        async with running(fake, tmp_path, Assistant(searcher)) as application:
            port = application.bot_data["operator"].addresses[0][1]
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:
                async with client.get("/healthz") as health, client.get("/readyz") as ready:
                    assert health.status == 200 and ready.status == 200
                async with client.post("/ask", json={"question": VOUCHER_CAP}) as refused:
                    assert refused.status in {404, 405}, "the Telegram bot answers questions only on Telegram"
                fake.fail("sendMessage", 429, retry_after=1)
                await ask(fake, fake.user(101, "Ada", "en"), VOUCHER_CAP)
                metrics = await scrape(client)
    finally:
        await fake.close()
    assert fake.violations == [], fake.violations
    assert metrics[("goi_telegram_429_total", ())] == 1, "one 429, retried after its wait"
    labels = (("answered", "true"), ("channel", "telegram"), ("language", "en"))
    assert metrics[("goi_questions_total", labels)] == 1
