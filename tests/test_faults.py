"""Faults: an LLM server that is down or talks nonsense, a Chroma server that goes away and comes back, an ingest
killed while questions are being answered, and files that must be refused without sinking the ingest.

Everything runs for real: the fake OpenAI server over HTTP, a real `chroma run`, ingests in their own process.
(tests/test_llm.py covers an LLM answering 429, 500, slowly, cut off or with broken JSON.)
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.core.assistant import Assistant
from bot.core.llm import make_chat_model
from bot.core.texts import text
from knowledge.embeddings import LocalEmbeddings
from knowledge.indexing import Ingest
from knowledge.retrieve import HybridSearcher
from knowledge.settings import Settings
from knowledge.store import make_store
from tests.chroma_server import running_server
from tests.conftest import ROOT, make_settings
from tests.fakes.openai import API_KEY, FakeOpenAI
from tests.fakes.telegram import RESET, FakeTelegram
from tests.test_telegram import ask, running

VOUCHERS = """# Innovation vouchers

Each company may use at most RMB 186,400 of vouchers per calendar year.
"""
HOUSING = """# 青年人才安居

博士每月租房补贴3,400元，硕士每月2,100元，最长发放42个月。
"""
VOUCHER_CAP = "What is the most voucher money one company can use in a year?"


def write_corpus(root: Path) -> Path:
    """Two small policies, one per language."""
    root.mkdir(parents=True)
    (root / "vouchers.md").write_text(VOUCHERS, encoding="utf-8")
    (root / "housing.zh.md").write_text(HOUSING, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory, local_embeddings: LocalEmbeddings) -> Settings:
    """Settings over an embedded index of the two small policies."""
    data_dir = tmp_path_factory.mktemp("faults")
    settings = make_settings(data_dir / "data")
    Ingest(make_store(settings), local_embeddings).run([write_corpus(data_dir / "kb")])
    return settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def llm_assistant(settings: Settings, embeddings: LocalEmbeddings, base_url: str) -> Assistant:
    """The assistant in LLM mode, the way build_assistant makes it, pointed at `base_url`."""
    llm = make_settings(settings.data_dir, openai_api_key=API_KEY, openai_base_url=base_url, openai_timeout=2.0)
    return Assistant(HybridSearcher(make_store(settings), embeddings), make_chat_model(llm))


# ---- LLM ---------------------------------------------------------------------------------------------------------


async def test_llm_server_down_gives_the_quoted_answer_and_logs_why(
    small_index: Settings, local_embeddings: LocalEmbeddings, caplog: pytest.LogCaptureFixture
) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}/v1"
    answer = await llm_assistant(small_index, local_embeddings, nothing_listens).answer(VOUCHER_CAP)
    assert answer.mode == "extractive" and answer.answered and "186,400" in answer.answer
    assert "llm failed, answering extractively" in caplog.text and "Connection" in caplog.text


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """An "LLM" that answers 200 with an HTML page, as a captive portal or a misrouted proxy does."""
    loop = asyncio.new_event_loop()

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Welcome to Hotel Wi-Fi</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", page)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    port = free_port()
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/v1"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


async def test_llm_answering_an_html_page_gives_the_quoted_answer(
    small_index: Settings, local_embeddings: LocalEmbeddings, garbage_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await llm_assistant(small_index, local_embeddings, garbage_server).answer("博士的租房补贴每个月多少钱？")
    assert answer.mode == "extractive" and answer.answered and "3,400" in answer.answer
    assert "llm failed, answering extractively" in caplog.text


# ---- Chroma server -----------------------------------------------------------------------------------------------


async def test_chroma_outage_in_llm_mode_says_so_without_asking_the_llm_and_recovers(
    tmp_path: Path, local_embeddings: LocalEmbeddings
) -> None:
    with running_server(tmp_path / "chroma") as chroma, FakeOpenAI() as llm:
        llm.reply_with(lambda _request: "Each company may use at most RMB 186,400 a year [1].")
        settings = make_settings(tmp_path / "data", chroma_host="127.0.0.1", chroma_port=chroma.port)
        Ingest(make_store(settings), local_embeddings).run([write_corpus(tmp_path / "kb")])
        assistant = llm_assistant(settings, local_embeddings, llm.base_url)
        assert (await assistant.answer(VOUCHER_CAP)).mode == "llm"
        chroma.stop()
        down = await assistant.answer(VOUCHER_CAP)
        down_zh = await assistant.answer("博士的租房补贴每个月多少钱？")
        asked = len(llm.chat_requests)
        chroma.start()
        back = await assistant.answer(VOUCHER_CAP)
    assert (down.answered, down.answer) == (False, text("en", "store_down"))
    assert (down_zh.answered, down_zh.answer) == (False, text("zh", "store_down"))
    assert asked == 1, "no passages, no LLM call"
    assert back.mode == "llm" and back.answered and "186,400" in back.answer


# ---- ingest killed mid-way ---------------------------------------------------------------------------------------


@pytest.mark.slow  # a real subprocess or a real-model ingest: seconds of waiting
async def test_ingest_killed_at_a_random_point_during_a_burst_leaves_every_answer_on_the_old_index(
    local_embeddings: LocalEmbeddings, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "kb")
    settings = make_settings(tmp_path / "data")
    first = Ingest(make_store(settings), local_embeddings).run([corpus])
    rows = "\n".join(f"R{i},Instrument {i} batch {i % 97},Owner {i % 13},RMB {i} per hour" for i in range(300))
    (corpus / "big.csv").write_text("id,instrument,owner,fee\n" + rows + "\n", encoding="utf-8")
    assistant = Assistant(HybridSearcher(make_store(settings), local_embeddings, refresh_seconds=0))
    env = {**os.environ, "DATA_DIR": str(settings.data_dir)}
    ingest = subprocess.Popen([sys.executable, str(ROOT / "ingest.py"), str(corpus)], env=env, stderr=subprocess.PIPE)
    index = settings.data_dir / "index"
    deadline = time.monotonic() + 60
    while len([p for p in index.iterdir() if p.is_dir()]) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    kill_at = time.monotonic() + random.uniform(0.1, 1.0)
    answers = []
    while time.monotonic() < kill_at or not answers:
        answers += await asyncio.gather(*(assistant.answer(VOUCHER_CAP) for _ in range(4)))
    assert ingest.poll() is None, "the ingest finished before it could be killed mid-way"
    ingest.send_signal(signal.SIGKILL)
    ingest.wait()
    answers += await asyncio.gather(*(assistant.answer(VOUCHER_CAP) for _ in range(4)))

    assert all(a.answered and "186,400" in a.answer for a in answers), [a.answer for a in answers]
    assert make_store(settings).current().generation == first.generation  # type: ignore[union-attr]
    again = Ingest(make_store(settings), local_embeddings).run([corpus])
    assert again.published and again.added == ["big.csv"] and again.failed == []
    assert "186,400" in (await assistant.answer(VOUCHER_CAP)).answer


# ---- bad files ---------------------------------------------------------------------------------------------------

BAD_FILES: dict[str, str] = {
    "empty.md": "file is empty",
    "huge.txt": "the limit is 50 MiB",
    "scan.pdf": "PDF",
    "unclosed-quote.csv": "malformed CSV",
    "deep.json": "nested too deeply",
}

INGEST_AND_MEASURE = """
import json, resource, sys
from pathlib import Path
from knowledge.embeddings import LocalEmbeddings
from knowledge.indexing import Ingest
from knowledge.settings import Settings
from knowledge.store import make_store

embeddings = LocalEmbeddings()
embeddings.embed_documents(["warm up"])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
store = make_store(Settings(data_dir=Path(sys.argv[2]), _env_file=None))
report = Ingest(store, embeddings).run([Path(sys.argv[1])])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"report": report.model_dump(mode="json"), "growth_kib": after - before}))
"""


def write_bad_files(root: Path) -> None:
    """Each kind of file the ingest must refuse, and a GBK page whose <meta> claims UTF-8."""
    (root / "empty.md").write_bytes(b"")
    with (root / "huge.txt").open("wb") as huge:
        huge.truncate(200 * 2**20)  # sparse: 200 MB on paper, nothing on disk
    (root / "scan.pdf").write_bytes(random.Random(7).randbytes(64 * 1024))
    (root / "unclosed-quote.csv").write_text('id,name,fee\nEQ-1,"Cryo-EM,RMB 9800\nEQ-2,NMR,RMB 780\n')
    (root / "deep.json").write_text("[" * 10_000 + "]" * 10_000)
    page = '<html><head><meta charset="utf-8"></head><body><p>孵化器房租补贴第三年为38%。</p></body></html>'
    (root / "incubator.html").write_bytes(page.encode("gbk"))


def test_bad_files_are_reported_and_skipped_with_bounded_memory(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "kb")
    write_bad_files(corpus)
    done = subprocess.run(
        [sys.executable, "-c", INGEST_AND_MEASURE, str(corpus), str(tmp_path / "data")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    report = result["report"]
    reasons = {failure["path"]: failure["reason"] for failure in report["failed"]}
    assert set(reasons) == set(BAD_FILES), reasons
    for path, reason in BAD_FILES.items():
        assert reason in reasons[path], (path, reasons[path])
    assert sorted(report["added"]) == ["housing.zh.md", "incubator.html", "vouchers.md"] and report["published"]
    assert result["growth_kib"] < 200 * 1024, f"peak RSS grew {result['growth_kib'] // 1024} MiB"

    searcher = HybridSearcher(make_store(make_settings(tmp_path / "data")), LocalEmbeddings())
    [best] = searcher.search("孵化器房租补贴第三年", k=1)
    assert best.source == "incubator.html" and "38%" in best.text, "GBK read as GBK, not mojibake"


# ---- Telegram ----------------------------------------------------------------------------------------------------


async def test_bot_api_429_502_and_a_reset_connection_still_deliver_the_answer_exactly_once(
    tg: FakeTelegram,
    small_index: Settings,
    local_embeddings: LocalEmbeddings,
    tmp_path: Path,
) -> None:
    ada = tg.user(301, "Ada")
    assistant = Assistant(HybridSearcher(make_store(small_index), local_embeddings))
    async with running(tg, tmp_path, assistant):
        tg.fail("sendMessage", 429, retry_after=1)
        tg.fail("sendMessage", 502)
        tg.fail("sendMessage", RESET)
        [answer] = await ask(tg, ada, VOUCHER_CAP)
        await asyncio.sleep(2)  # a second copy still being retried would arrive by now
    assert "186,400" in answer.text and len(tg.sent(ada["id"])) == 1
    assert [c.status for c in tg.calls if c.method == "sendMessage"] == [429, 502, RESET, 200]
