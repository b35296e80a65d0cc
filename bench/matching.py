"""Matching benchmark: 100,000 subscribed profiles against 30 schemes after a publish (issue 15).

    .venv/bin/python bench/matching.py [--profiles 100000]

Targets: <= 30 s and <= 500 MB peak RSS for the whole `announce` (read profiles, check rules, queue notices,
remember what each user was told) on a SQLite file. The 30 schemes are the sample rule files under new ids.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.conversation.notify import announce  # noqa: E402
from bot.conversation.outbox import Outbox  # noqa: E402
from bot.conversation.profiles import Profiles  # noqa: E402
from bot.conversation.tables import connect, now, profiles  # noqa: E402
from knowledge.rules import read_scheme  # noqa: E402
from knowledge.settings import SAMPLE_KNOWLEDGE  # noqa: E402

TIME_TARGET, MEMORY_TARGET = 30.0, 500.0


def thirty_schemes() -> list:
    base = [read_scheme(path, SAMPLE_KNOWLEDGE) for path in sorted((SAMPLE_KNOWLEDGE / "programmes").glob("*.yaml"))]
    return [s.model_copy(update={"scheme": f"{s.scheme}-{n}"}) for n in range(6) for s in base][:30]


def profile(user: int, rng: random.Random) -> dict:
    facts = {"age": rng.randint(22, 45), "degree": rng.choice(["bachelor", "master", "phd"]),
             "employer_is_member": rng.random() < 0.7, "social_insurance_months": rng.randint(0, 24),
             "owns_home_in_city": rng.random() < 0.3, "headcount": rng.randint(1, 500),
             "registered_in_district": rng.random() < 0.8, "revenue_million_rmb": rng.uniform(0, 200)}  # fmt: skip
    return {"user_id": user, "chat_id": user, "language": rng.choice(["en", "zh"]), "facts": facts,
            "origins": dict.fromkeys(facts, "eligibility"), "subscribed": True, "told": {}, "at": now()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    count = parser.parse_args().profiles
    with tempfile.TemporaryDirectory() as folder:
        engine = connect(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        rng = random.Random(15)
        with engine.begin() as db:
            db.execute(insert(profiles), [profile(user, rng) for user in range(count)])
        started = time.perf_counter()
        queued = announce("bench-1", Profiles(engine), Outbox(engine), thirty_schemes())
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"profiles={count} schemes=30 notices={queued}")
    print(f"announce {seconds:.1f} s (target <= {TIME_TARGET:.0f} s)")
    print(f"peak RSS {peak:.0f} MB (target <= {MEMORY_TARGET:.0f})")


if __name__ == "__main__":
    main()
