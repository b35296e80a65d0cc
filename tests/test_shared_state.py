"""Several webhook replicas behind a load balancer share one database: any replica can serve a chat's next update.

Two real Applications (each with its own bot_data, chat_data and flood gate) serve one webhook URL through a small
load balancer that sends each update to the replica the test picks. The shared database is a SQLite file, and a
real PostgreSQL server when `pgserver` (a pip-installable PostgreSQL) and `psycopg` are installed.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram.ext import Application

from bot.core.assistant import Assistant
from knowledge.retrieve import HybridSearcher
from tests.fakes.telegram import FakeTelegram
from tests.test_telegram import ADMIN, ask, free_port, running, say, webhook_settings

SECRET = "replica_S3cret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Balancer:
    """The load balancer: one public webhook URL, each POST forwarded to the replica port the test picked."""

    def __init__(self) -> None:
        self.target = 0
        self.served: list[int] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        self.served.append(self.target)
        headers = {k: v for k, v in request.headers.items() if k in ("Content-Type", SECRET_HEADER)}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{self.target}{request.path}", data=await request.read(), headers=headers
            ) as response,
        ):
            return web.Response(status=response.status, body=await response.read())


@pytest.fixture(scope="module")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL server for this module, from the `pgserver` wheel."""
    pgserver = pytest.importorskip("pgserver", reason="PostgreSQL replica test needs `pip install pgserver`")
    pytest.importorskip("psycopg", reason="PostgreSQL replica test needs `pip install psycopg[binary]`")
    # Not under pytest's tmp folder: run as root, pgserver starts PostgreSQL as its own user, who cannot enter it.
    data = Path(tempfile.mkdtemp(prefix="goi-pg-"))
    # Its atexit hook logs at INFO after pytest has closed the captured streams: a traceback on every run.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    server = pgserver.get_server(data, cleanup_mode="stop")
    yield server
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)


_databases = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database the replicas share: a SQLite file outside both replicas' DATA_DIR, or a PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    server = request.getfixturevalue("postgres")
    name = f"replicas_{next(_databases)}"
    server.psql(f"CREATE DATABASE {name};")
    return server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)


Replicas = tuple[Balancer, list[Application[Any, Any, Any, Any, Any, Any]], list[int]]


@pytest.fixture
async def replicas(
    tg: FakeTelegram,
    tmp_path: Path,
    searcher: HybridSearcher,
    database_url: str,
) -> AsyncIterator[Replicas]:
    """Two replicas in webhook mode, each on its own port and DATA_DIR, behind one balancer, on one database."""
    balancer = Balancer()
    await balancer.start()
    async with AsyncExitStack() as stack:
        applications, ports = [], []
        for name in ("a", "b"):
            port = free_port()
            hook = webhook_settings(balancer.port, port, SECRET) | {"database_url": database_url}
            replica = running(tg, tmp_path / name, Assistant(searcher), webhook=True, **hook)
            applications.append(await stack.enter_async_context(replica))
            ports.append(port)
        yield balancer, applications, ports
    await balancer.close()


async def test_a_follow_up_on_another_replica_is_read_with_the_history_and_feedback_reaches_stats(
    tg: FakeTelegram,
    replicas: Replicas,
) -> None:
    balancer, _, (a, b) = replicas
    ada, admin = tg.user(301, "Ada"), tg.user(ADMIN, "Staff Sam")
    assert tg.webhook is not None and tg.webhook["url"] == f"http://127.0.0.1:{balancer.port}/telegram-hook"
    balancer.target = a
    await ask(tg, ada, "how does the rent subsidy work for startups in incubators?")
    balancer.target = b
    [follow] = await ask(tg, ada, "and in the 3rd year?")
    assert "38%" in follow.text and "incubator" in follow.text.lower(), "B read the follow-up with A's history"

    query = tg.press(ada, follow, follow.button("👎 Not helpful"))
    await tg.wait_for(lambda: tg.callback_answered(query))
    balancer.target = a
    tg.send(admin, "/stats")
    report = await tg.wait_for(lambda: next((m for m in tg.sent(ADMIN) if "Disliked answers" in m.text), None))
    assert "2 questions, 100% answered; feedback 0 👍 / 1 👎" in report.text
    assert "Disliked answers\n• and in the 3rd year? ×1" in report.text
    assert balancer.served == [a, b, b, a]

    forged = {
        "update_id": 1,
        "message": {"message_id": 99, "date": 0, "chat": tg.chats[ada["id"]], "from": ada, "text": "/start"},
    }
    for target in (a, b):
        balancer.target = target
        assert await tg.post_webhook(forged, secret=SECRET[:-1] + "T") == 403
        assert await tg.post_webhook(forged, secret=None) == 403
    assert all(not m.text.startswith("Hello") for m in tg.sent(ada["id"])), "a forged update reached a handler"


async def test_language_event_and_last_answer_chosen_on_one_replica_hold_on_the_other(
    tg: FakeTelegram,
    replicas: Replicas,
) -> None:
    balancer, [replica_a, _], (a, b) = replicas
    li = tg.user(311, "Li", "en")
    balancer.target = a
    await say(tg, li, "/start event_expo2026")
    [choose] = await say(tg, li, "/lang")
    query = tg.press(li, choose, "lang:zh")
    await tg.wait_for(lambda: tg.callback_answered(query) and choose.edits == 1)

    balancer.target = b
    [help_text] = await say(tg, li, "/help")
    assert help_text.text.startswith("欢迎就GOI项目提问"), "B speaks the language chosen on A"
    [answer] = await ask(tg, li, "When does the 2026 IC fund call open and close?")
    assert "10 June 2026" in answer.text
    balancer.target = a
    [sources] = await say(tg, li, "/sources")
    assert "integrated-circuit-fund.md" in sources.text, "A lists the sources of the answer B gave"
    stats = replica_a.bot_data["services"].records.stats()
    assert [(t.label, t.questions) for t in stats.by_event] == [("expo2026", 1)], "B tagged the question with A's event"
