"""Notices the bot sends on its own, end to end: the fake Bot API, a real ingest of a staff folder, the real pacer."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.core.components import build_assistant
from knowledge.embeddings import LocalEmbeddings
from knowledge.indexing import Ingest
from knowledge.settings import SAMPLE_KNOWLEDGE
from knowledge.store import make_store
from tests.conftest import ROOT, make_settings
from tests.fakes.telegram import FakeTelegram
from tests.test_telegram import running, say
from tests.test_telegram_eligibility import press

NEW_SCHEME = """scheme: master-bonus
title: {en: Young master's bonus, zh: 青年硕士奖励}
policy: policies/young-talent-rent-subsidy.zh.md
applies_to: person
benefit: {en: "RMB 5,000 once", zh: "一次性5,000元"}
conditions:
  - fact: degree
    op: in
    value: [master, phd]
    clause: 第九条
    says: {en: a master's degree or higher, zh: 硕士及以上学历}
"""
QUIET = 3.0  # seconds of silence that show no notice is coming (several searcher refreshes and notice rounds)


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE_KNOWLEDGE, tmp_path / "kb"))


def ingest(data_dir: Path, kb: Path, embeddings: LocalEmbeddings) -> bool:
    """Staff run ingest on their folder; True when it published a new generation."""
    report = Ingest(make_store(make_settings(data_dir)), embeddings).run([kb])
    assert report.failed == [], report.failed
    return report.published


@pytest.fixture
async def bot(
    tg: FakeTelegram, tmp_path: Path, kb: Path, local_embeddings: LocalEmbeddings
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The bot on an index of the staff folder `kb`, following each new generation as it is published."""
    data_dir = tmp_path / "data"
    ingest(data_dir, kb, local_embeddings)
    assistant = build_assistant(make_settings(data_dir, knowledge_sources=[kb]), local_embeddings)
    assert assistant.advisor is not None and assistant.searcher.info.generation  # loaded before the first message
    async with running(tg, data_dir, assistant, notice_poll_seconds=0.2) as application:
        yield application


@pytest.mark.usefixtures("bot")
async def test_a_saved_subscribed_profile_hears_once_of_a_new_scheme_and_nothing_after_forget(
    tg: FakeTelegram, kb: Path, tmp_path: Path, local_embeddings: LocalEmbeddings
) -> None:
    wang = tg.user(501, "王", "zh-hans")
    await say(tg, wang, "/eligibility", count=2)
    _, offer = await say(tg, wang, "我今年29岁，硕士毕业，在GOI会员企业全职工作，社保交了8个月，名下无房", count=2)
    assert (await press(tg, wang, offer, "pf:yes")).text.startswith("已保存")
    [schemes] = await say(tg, wang, "/schemes")
    assert (await press(tg, wang, schemes, "sub:on")).text.startswith("已订阅")
    await asyncio.sleep(QUIET)
    before = len(tg.sent(wang["id"]))

    (kb / "programmes" / "master-bonus.yaml").write_text(NEW_SCHEME, encoding="utf-8")
    assert ingest(tmp_path / "data", kb, local_embeddings)
    notice = await tg.wait_for(lambda: tg.sent(wang["id"])[before:])
    assert len(notice) == 1 and "青年硕士奖励" in notice[0].text and "第九条: 硕士及以上学历" in notice[0].text
    assert not ingest(tmp_path / "data", kb, local_embeddings), "nothing changed: nothing published"
    faq = kb / "policies" / "faq.txt"
    faq.write_text(faq.read_text(encoding="utf-8") + "\nMore.\n", encoding="utf-8")
    assert ingest(tmp_path / "data", kb, local_embeddings), "a new generation, no change to the rules"
    await asyncio.sleep(QUIET)
    assert len(tg.sent(wang["id"])) == before + 1, "the same news is never told twice"

    [forgot] = await say(tg, wang, "/forget")
    assert forgot.text.startswith("已删除您的企业档案和订阅")
    (kb / "programmes" / "master-bonus.yaml").write_text(NEW_SCHEME.replace("第九条", "第十条"), encoding="utf-8")
    assert ingest(tmp_path / "data", kb, local_embeddings)
    await asyncio.sleep(QUIET)
    assert len(tg.sent(wang["id"])) == before + 2, "after /forget no notice arrives"


def test_notices_stopped_mid_way_resume_after_a_restart_and_every_user_gets_exactly_one() -> None:
    """bench/notices.py at a small size: through the outbox, the bot's pacer and the fake Bot API over HTTP."""
    command = [sys.executable, str(ROOT / "bench" / "notices.py"), "--messages", "200", "--restart", "400"]
    run = subprocess.run([*command, "--halts", "stop", "--pace", "200"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    once, restarted = run.stdout.splitlines()
    assert "lost 0, duplicated 0 " in once
    assert restarted.startswith("400 notices, sender stopped after 200 and restarted: lost 0, duplicated 0;"), restarted
