"""Fit the small-talk similarity threshold on a labelled set; write bot/conversation/smalltalk_fit.json.

    .venv/bin/python scripts/fit_smalltalk.py [tests/data/smalltalk.yaml]

Messages with content words are questions whatever the threshold; among the rest, the threshold is the midpoint of
the widest gap that separates small talk (above) from questions (below) with the fewest mistakes.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import yaml

from bot.conversation.smalltalk import FITTED, Fitted, SmallTalk, load_exemplars
from knowledge.embeddings import LocalEmbeddings

ROOT = Path(__file__).resolve().parents[1]


def best_threshold(scored: list[tuple[float, bool]]) -> tuple[float, int]:
    """The midpoint of the gap between sorted scores with the fewest mistakes (ties: the widest gap)."""
    scores = sorted(score for score, _ in scored)
    gaps = [(scores[0] - 0.02, scores[0]), *itertools.pairwise(scores), (scores[-1], scores[-1] + 0.02)]

    def mistakes(threshold: float) -> int:
        return sum((score >= threshold) != small for score, small in scored)

    low, high = min(gaps, key=lambda gap: (mistakes((gap[0] + gap[1]) / 2), gap[0] - gap[1]))
    threshold = round((low + high) / 2, 4)
    return threshold, mistakes(threshold)


def main(path: Path) -> int:
    labelled = yaml.safe_load(path.read_text(encoding="utf-8"))
    embeddings = LocalEmbeddings()
    talk = SmallTalk(embeddings, load_exemplars(), threshold=0.0)
    rows = [(text, True) for text in labelled["smalltalk"]] + [(text, False) for text in labelled["questions"]]
    scored, lexical_misses = [], []
    for text, small in rows:
        if talk.content_words(text):
            if small:
                lexical_misses.append(text)
            continue
        intent, score = talk.closest(text)
        scored.append((score, small))
        print(f"{'talk' if small else 'q   '}  {score:.3f}  {intent:<8}  {text}")
    threshold, wrong = best_threshold(scored)
    wrong += len(lexical_misses)
    accuracy = round(1 - wrong / len(rows), 4)
    fitted = Fitted(
        threshold=threshold,
        model=embeddings.model_id,
        fitted_on=str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path),
        accuracy=accuracy,
    )
    FITTED.write_text(fitted.model_dump_json(indent=2) + "\n", encoding="utf-8")
    print(f"\nsmall talk kept out by content words: {lexical_misses or 'none'}")
    small = len(labelled["smalltalk"])
    print(f"threshold {threshold}  accuracy {accuracy} on {len(rows)} messages ({small} small talk)")
    print(f"written to {FITTED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "smalltalk.yaml"))
