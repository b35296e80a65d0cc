"""Gap grouping: purity on the eval sets' questions, and `gaps` over 100,000 recorded questions (time, peak RSS).

    .venv/bin/python bench/gaps.py [--rows 100000]

The sets label no paraphrases, so two questions count as one meaning when they share a gold source and a fact
alternative (the same figure from the same document, in either language); purity is the share of grouped pairs that
are one meaning, recall the share of one-meaning pairs grouped.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.conversation.records import Handoff, Records
from bot.conversation.tables import connect
from bot.core.models import Answer
from bot.staff.gaps import SAME_MEANING, _unit, cluster, group_gaps
from knowledge.embeddings import LocalEmbeddings
from knowledge.golden import load_questions

SHARED = Path(os.environ.get("SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))


def _questions() -> list[tuple[str, set[str]]]:
    """(question, its "set|source|fact" tags) of every eval set's questions."""
    found = []
    for path in sorted(SHARED.glob("eval/*/questions.yaml")):
        for item in load_questions(path):
            facts = {fact.lower() for alternatives in item.facts for fact in alternatives}
            tags = {f"{path.parent.name}|{source}|{fact}" for source in item.sources for fact in facts}
            found.append((item.question, tags))
    return found


def purity(embeddings: LocalEmbeddings) -> None:
    """Print pair purity and recall of the grouping at a few thresholds."""
    asked = _questions()
    vectors = _unit(embeddings.embed_documents([question for question, _ in asked]))
    for threshold in (SAME_MEANING - 0.1, SAME_MEANING, SAME_MEANING + 0.1):
        labels = cluster(vectors, threshold)
        pairs = list(combinations(range(len(asked)), 2))
        grouped = [(i, j) for i, j in pairs if labels[i] == labels[j]]
        same = [(i, j) for i, j in pairs if asked[i][1] & asked[j][1]]
        pure = sum(bool(asked[i][1] & asked[j][1]) for i, j in grouped) / max(len(grouped), 1)
        recall = sum(labels[i] == labels[j] for i, j in same) / max(len(same), 1)
        wrong = [(asked[i][0], asked[j][0]) for i, j in grouped if not asked[i][1] & asked[j][1]]
        apart = 1 - len(wrong) / max(len(pairs) - len(same), 1)
        mark = " (used)" if threshold == SAME_MEANING else ""
        print(
            f"threshold {threshold:.2f}{mark}: {len(set(labels))} groups of {len(asked)} questions, "
            f"purity {pure:.1%} of {len(grouped)} grouped pairs, "
            f"one-meaning pairs grouped {recall:.1%} of {len(same)}, "
            f"unrelated pairs kept apart {apart:.2%}"
        )
        if threshold == SAME_MEANING:
            for first, second in wrong:
                print(f"  grouped but unrelated: {first!r} ~ {second!r}")


def scale(embeddings: LocalEmbeddings, rows: int) -> None:
    """Record `rows` failed questions (eval wordings with case/spacing noise; unanswered, 👎 or handed to staff)
    and time `gaps` over them."""
    asked = [question for question, _ in _questions()]
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        records = Records(connect(f"sqlite:///{tmp}/bot.sqlite3"))
        for n in range(rows):
            question = rng.choice(asked)
            question = question.upper() if n % 7 == 0 else question
            # Most failed unanswered; every 10th was answered and then got 👎 or was handed to staff (issue 14).
            answered = n % 10 == 0
            asked_id = records.add_question(
                n, n, None, Answer(question=question, answer="…", answered=answered, language="en", mode="extractive")
            )
            if answered and n % 20 == 0:
                records.feedback(asked_id, n, n, helpful=False)
            elif answered:
                records.add_handoff(n, n, Handoff(chat_id=n, language="en", who="bench", question_id=asked_id))
        start = time.perf_counter()
        groups = group_gaps(records.gaps(days=7), embeddings)
        took = time.perf_counter() - start
        records.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"gaps over {rows:,} recorded questions: {len(groups)} groups in {took:.1f} s (target <= 10 s), "
        f"peak RSS {peak:.0f} MB (target <= 500 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    embeddings = LocalEmbeddings()
    purity(embeddings)
    scale(embeddings, args.rows)


if __name__ == "__main__":
    main()
