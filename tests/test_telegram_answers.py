"""Staff close a knowledge gap from the chat, end to end through the fake Bot API: an unanswered question shows in
/gaps, a staff reply to the hand-off is saved as an answer, every replica answers it, and removing it reopens the gap.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.assistant import Assistant
from knowledge.embeddings import LocalEmbeddings
from knowledge.glossary import read_glossary
from knowledge.retrieve import HybridSearcher
from knowledge.store import make_store
from tests.conftest import DEV_CORPUS, STAFF_CHAT, make_settings
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.test_telegram import ADMIN, ask, running, say

PARKING_ZH = "GOI办公室有访客停车位吗？"
PARKING = "Is there visitor parking at the GOI office?"
REPLY = "Yes: four visitor spaces behind building B; give the front desk your plate number."


@pytest.fixture
async def replica_tg() -> AsyncIterator[FakeTelegram]:
    """The Bot API as a second bot process sees it (its own updates), checked like the first."""
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.close()
    assert fake.violations == [] and fake.unanswered_callbacks() == []


async def _pressed(
    tg: FakeTelegram, user: dict[str, Any], message: BotMessage, data: str, edits: int = 0
) -> BotMessage:
    """Press a button and wait until the bot answered the press and made `edits` edits to the message."""
    query, before = tg.press(user, message, data), message.edits
    await tg.wait_for(lambda: tg.callback_answered(query) and message.edits >= before + edits)
    return message


async def _gaps(tg: FakeTelegram, admin: dict[str, Any]) -> str:
    [page] = await say(tg, admin, "/gaps")
    return page.text


async def test_a_staff_reply_saved_as_answer_closes_the_gap_on_every_replica_until_removed(
    tg: FakeTelegram, replica_tg: FakeTelegram, tmp_path: Path, searcher: HybridSearcher
) -> None:
    searcher.search(PARKING_ZH)  # the model and lexical index loaded before the clock of the first answer starts
    async with running(tg, tmp_path, Assistant(searcher)), running(replica_tg, tmp_path, Assistant(searcher)):
        li, bo = tg.user(301, "李", "zh-hans"), tg.user(302, "Bo")
        admin, stranger = tg.user(ADMIN, "Staff Sam"), tg.user(303, "Eve")
        [wrong] = await ask(tg, li, PARKING_ZH)  # a confident quote about a test track: Li says it did not help
        await _pressed(tg, li, wrong, wrong.button("👎 没帮助"))
        [dont_know] = await ask(tg, bo, PARKING)
        assert dont_know.text.startswith("I couldn't find a clear answer")
        refused = await say(tg, stranger, "/gaps")
        assert refused[0].text == "Sorry, this command is for GOI staff only."

        await ask(tg, stranger, "Which football club won the 2022 world cup?")

        gaps = await _gaps(tg, admin)
        assert "Knowledge gaps in the last 30 days: 2 groups (page 1 of 1)" in gaps
        parking, cup = gaps.split("\n\n")[1:]
        assert "asked 2×" in parking and "❌ still unanswered · 1 unanswered, 1 👎, 0 handed to staff" in parking
        assert "📄 Needs a document" in cup and "📄" not in parking, "the parking question finds (wrong) passages"

        tg.press(bo, dont_know, dont_know.button("🙋 Talk to a person"))
        note = await tg.wait_for(lambda: tg.sent(STAFF_CHAT) and tg.sent(STAFF_CHAT)[0])
        tg.send(admin, REPLY, chat=tg.chats[STAFF_CHAT], reply_to=note.message_id)
        await tg.wait_for(lambda: tg.sent(bo["id"])[-1].text == f"GOI team: {REPLY}")
        delivered = await tg.wait_for(lambda: len(tg.sent(STAFF_CHAT)) > 1 and tg.sent(STAFF_CHAT)[1])
        saved = await _pressed(tg, admin, delivered, delivered.button("💾 Save as answer"), edits=1)
        assert saved.text.endswith(
            "Saved as answer 1, with 2 phrasings of the question; /answers lists and removes answers."
        )
        assert saved.buttons == [], "saved once: the button goes"
        tg.send(admin, "Bikes go in the rack by the door.", chat=tg.chats[STAFF_CHAT], reply_to=note.message_id)
        second = await tg.wait_for(lambda: len(tg.sent(STAFF_CHAT)) > 2 and tg.sent(STAFF_CHAT)[2])
        kept = await _pressed(tg, admin, second, second.button("💾 Save as answer"), edits=1)
        assert kept.text.endswith(
            "This question is already saved as answer 1; remove that one with /answers to save another."
        )

        [pinned] = await ask(tg, tg.user(305, "Ann"), PARKING)  # the same question, from someone else
        assert pinned.text.startswith("📌 Answer prepared by") and REPLY in pinned.text
        wang = replica_tg.user(304, "王", "zh-hans")
        [elsewhere] = await ask(replica_tg, wang, "访客在GOI办公室有停车位吗")  # the other process, never restarted
        assert elsewhere.text.startswith("📌") and elsewhere.text.endswith(REPLY)
        assert "✅ answered now · 1 unanswered, 1 👎, 1 handed to staff" in await _gaps(tg, admin)

        [listed] = await say(tg, admin, "/answers")
        assert (
            "Saved answers: 1 (page 1 of 1)" in listed.text and f"1. {PARKING}\n→ {REPLY}\n— Staff Sam" in listed.text
        )
        tg.press(stranger, listed, "unsave:1:1", forged=True)
        [remove] = [data for label, data in listed.buttons if label == "🗑 Remove 1"]
        emptied = await _pressed(tg, admin, listed, remove, edits=1)
        assert emptied.text.startswith("No saved answers yet.")

        assert "❌ still unanswered" in await _gaps(tg, admin)
        [again] = await ask(replica_tg, wang, "访客在GOI办公室有停车位吗")
        assert not again.text.startswith("📌")


CRYO_EM = "冷冻电镜一次多少钱？"  # the documents name it only in English: "Cryo-electron microscope (300 kV)"


async def test_a_name_the_documents_use_in_the_other_language_is_added_to_the_glossary_from_gaps(
    tg: FakeTelegram, tmp_path: Path, dev_data_dir: Path, local_embeddings: LocalEmbeddings
) -> None:
    corpus, data = tmp_path / "corpus", tmp_path / "data"  # copies: /reload publishes into them, re-embedding nothing
    shutil.copytree(DEV_CORPUS, corpus)
    shutil.copytree(dev_data_dir, data)
    glossary = corpus / "glossary.yaml"
    glossary.write_text("# names staff keep\n- [核磁共振, NMR]\n", encoding="utf-8")
    searcher = HybridSearcher(make_store(make_settings(data)), local_embeddings, refresh_seconds=0)
    async with running(tg, data, Assistant(searcher), knowledge_sources=[corpus]):
        li, admin = tg.user(301, "李", "zh-hans"), tg.user(ADMIN, "Staff Sam")
        [quoted] = await ask(tg, li, CRYO_EM)
        assert not quoted.text.startswith("id: EQ-01"), "the model alone puts another row first"
        await _pressed(tg, li, quoted, quoted.button("👎 没帮助"))
        await ask(tg, tg.user(302, "Bo"), "Which football club won the 2022 world cup?")
        [page] = await say(tg, admin, "/gaps")
        [cryo] = [block for block in page.text.split("\n\n") if CRYO_EM in block]
        [cup] = [block for block in page.text.split("\n\n") if "football" in block]
        assert "🔤 The closest passages are all in the other language" in cryo and "🔤" not in cup
        button = f"🔤 Add to glossary: gap {cryo[0]}"  # its number in the list
        assert [label for label, _ in page.buttons] == [button]

        shown = len(tg.sent(ADMIN))
        await _pressed(tg, admin, page, page.button(button))
        [how] = await tg.wait_for(lambda: tg.sent(ADMIN)[shown:])
        assert f"To add the name asked in “{CRYO_EM}” to the glossary, send /glossary" in how.text
        [added] = await say(tg, admin, "/glossary 冷冻电镜 = cryo-electron microscope")
        assert added.text == (
            "Added to glossary.yaml: 冷冻电镜 = cryo-electron microscope. The bot uses it from the next /reload."
        )
        assert read_glossary(glossary) == [["核磁共振", "NMR"], ["冷冻电镜", "cryo-electron microscope"]]
        assert glossary.read_text(encoding="utf-8").startswith("# names staff keep\n"), "its comments are kept"

        before = glossary.read_text(encoding="utf-8")
        [refused] = await say(tg, admin, "/glossary NMR spectrometer = nmr")
        assert refused.text.startswith(
            "Not added, glossary.yaml is unchanged: entry 3 (line 4): 'nmr' is already in entry 1 (line 2)"
        )
        [usage] = await say(tg, admin, "/glossary")
        assert usage.text.startswith("Give two or more names that mean the same, separated by =")
        [stranger] = await say(tg, tg.user(303, "Eve"), "/glossary a = b")
        assert stranger.text == "Sorry, this command is for GOI staff only."
        assert glossary.read_text(encoding="utf-8") == before

        await say(tg, admin, "/reload", count=2)
        [now] = await ask(tg, li, CRYO_EM)
        assert now.text.startswith("id: EQ-01") and "9,800" in now.text and "Ref: P13" not in now.text, now.text
