"""One deployment, two channels, one database: WeCom users handed to the Telegram bot's staff group get the staff
replies, through the fake WeCom and the fake Bot API."""

from __future__ import annotations

from pathlib import Path

from bot.core.assistant import Assistant
from knowledge.retrieve import HybridSearcher
from knowledge.settings import Settings
from tests.conftest import STAFF_CHAT
from tests.fakes.telegram import FakeTelegram
from tests.test_http import PHD_RENT_ZH
from tests.test_telegram import ADMIN, running
from tests.test_wecom_bot import ask, button, platform, staff_says


async def test_a_wecom_user_handed_to_telegram_staff_gets_their_reply(
    tg: FakeTelegram, dev_settings: Settings, searcher: HybridSearcher, tmp_path: Path
) -> None:
    shared = {"database_url": f"sqlite:///{tmp_path / 'shared.sqlite3'}", "notice_poll_seconds": 0.1}
    telegram = {"telegram_bot_token": tg.token, "telegram_staff_chat_id": STAFF_CHAT}
    no_wecom_staff = {"wecom_staff_webhook": None, "wecom_staff_chat_id": None}
    async with (
        running(tg, tmp_path / "telegram", Assistant(searcher), **shared),
        platform(dev_settings, searcher, tmp_path, **shared, **telegram, **no_wecom_staff) as wecom,
    ):
        fake, session = wecom.fake, wecom.session
        card = (await ask(wecom, "founder9", PHD_RENT_ZH))["template_card"]
        told = await fake.send(session, fake.click("founder9", button(card, "🙋"), card["task_id"]))
        assert "转给" in told["template_card"]["sub_title_text"]
        note = await tg.wait_for(lambda: tg.sent(STAFF_CHAT) and tg.sent(STAFF_CHAT)[0])
        assert "founder9 (wecom) needs a person" in note.text and PHD_RENT_ZH in note.text
        tg.send(
            tg.user(ADMIN, "Staff Sam"),
            "补贴按月发放，请带上学位证明。",
            chat=tg.chats[STAFF_CHAT],
            reply_to=note.message_id,
        )
        confirmed = await tg.wait_for(lambda: len(tg.sent(STAFF_CHAT)) > 1 and tg.sent(STAFF_CHAT)[1])
        assert confirmed.text.startswith("Sent on to founder9 (wecom)")
        [reply] = await tg.wait_for(lambda: fake.response_posts)
    assert reply["user"] == "founder9" and "补贴按月发放，请带上学位证明。" in reply["markdown"]["content"]
    assert fake.staff_posts == []  # no WeCom staff group in this deployment


async def test_a_telegram_user_handed_to_the_wecom_staff_group_gets_their_reply(
    tg: FakeTelegram, dev_settings: Settings, searcher: HybridSearcher, tmp_path: Path
) -> None:
    shared = {"database_url": f"sqlite:///{tmp_path / 'shared.sqlite3'}", "notice_poll_seconds": 0.1}
    async with platform(dev_settings, searcher, tmp_path, **shared) as wecom:
        wecom_staff = {"wecom_staff_webhook": wecom.fake.webhook_url, "wecom_staff_chat_id": "staffgroup"}
        async with running(
            tg, tmp_path / "telegram", Assistant(searcher), telegram_staff_chat_id=None, **shared, **wecom_staff
        ):
            bo = tg.user(131, "Bo", username="bo_founder")
            tg.send(bo, "Which football club won the 2022 world cup?")
            dont_know = await tg.wait_for(lambda: tg.sent(bo["id"]) and tg.sent(bo["id"])[-1])
            tg.press(bo, dont_know, dont_know.button("🙋 Talk to a person"))
            await tg.wait_for(lambda: "passed your question" in tg.sent(bo["id"])[-1].text)
            [note] = await tg.wait_for(lambda: wecom.fake.staff_posts)
            assert "Bo (@bo_founder) needs a person" in note["markdown"]["content"]
            code = note["markdown"]["content"].split("#")[1].split()[0]
            assert (await staff_says(wecom, f"#{code} Try the canteen on floor 2.")).startswith("Sent on to Bo")
            await tg.wait_for(lambda: tg.sent(bo["id"])[-1].text.endswith("team: Try the canteen on floor 2."))
    assert tg.sent(STAFF_CHAT) == []  # no Telegram staff group in this deployment
