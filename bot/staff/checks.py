"""Ingest's golden questions (checks.yaml) answered by the extractive assistant, each judged pass or fail with why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from bot.conversation.saved_answers import SavedAnswers
from bot.core.models import Answer
from bot.staff.evaluation import gold_rank, missing_facts
from knowledge.checks import SAVED, CheckResult, Scorer
from knowledge.golden import EvalQuestion
from knowledge.settings import Settings
from knowledge.store import IndexInfo, KnowledgeStore, PinnedStore

if TYPE_CHECKING:  # the assistant is built only when a generation is scored: an unchanged re-ingest never needs it
    from bot.core.assistant import Assistant
    from knowledge.retrieve import HybridSearcher

TOP = 3  # a gold source must be among the first three sources, as in `python -m bot eval`


def saved_checks(answers: SavedAnswers) -> list[EvalQuestion]:
    """Each phrasing of each saved answer as a golden question, passed when the bot answers it with that answer: the
    id is the answer's (`saved-3`, as `python -m bot answers list` shows it), a suffix numbering its other phrasings."""
    return [
        EvalQuestion(
            id=f"saved-{saved.id}" + (f".{n}" if n else ""), question=phrasing, kind=SAVED, facts=[[saved.answer]]
        )
        for saved in answers.all()
        for n, phrasing in enumerate([saved.question, *saved.alternatives])
    ]


def _saved_verdict(question: EvalQuestion, answer: Answer) -> str | None:
    if answer.curated and not missing_facts(question, answer):
        return None
    if answer.curated:
        return "another curated answer (curated.yaml) matches it better"
    return "answered without it (documents or rule files)" if answer.answered else "not answered"


def verdict(question: EvalQuestion, answer: Answer) -> str | None:
    """What is wrong with the answer to a golden question; None when it passes."""
    if question.kind == SAVED:
        return _saved_verdict(question, answer)
    if question.abstain:
        return "answered, but it should say it does not know" if answer.answered else None
    if not answer.answered:
        return "not answered"
    rank = gold_rank(question, answer)
    if rank is None or rank > TOP:
        got = [f"{s.path}#{s.row}" if s.row is not None else s.path for s in answer.sources[:TOP]]
        return f"no source of {', '.join(question.sources)} among its top {TOP} ({', '.join(got) or 'none'})"
    if missing := missing_facts(question, answer):
        return "the answer lacks " + "; ".join(" / ".join(alternatives) for alternatives in missing)
    return None


def _judge(assistant: Assistant, questions: list[EvalQuestion]) -> list[CheckResult]:
    results = []
    for question in questions:
        why = verdict(question, assistant.answer_extractive(question.question, question.history))
        result = CheckResult(id=question.id, question=question.question, passed=why is None, why=why or "")
        result.must_pass = question.kind == SAVED
        results.append(result)
    return results


def check_scorer(
    settings: Settings,
    embeddings: Embeddings,
    serving: HybridSearcher | None = None,
    saved: SavedAnswers | None = None,
) -> Scorer:
    """Ingest's scorer: one assistant tried on each generation in turn (the word bridge of one reused by the next),
    starting from what `serving` (the running bot's searcher) has loaded, so the served generation is not reloaded;
    answering from the `saved` answers too, as the bot does."""

    def score(
        store: KnowledgeStore, generations: list[IndexInfo], questions: list[EvalQuestion]
    ) -> list[list[CheckResult]]:
        from bot.core.components import checking_assistant
        from knowledge.retrieve import HybridSearcher

        view = PinnedStore(store, generations[0])
        searcher = serving.following(view) if serving else HybridSearcher(view, embeddings, refresh_seconds=0)
        assistant = checking_assistant(settings, searcher)
        if saved is not None:
            assistant.use_saved(saved)
        results = []
        for info in generations:
            view.pin(info)
            results.append(_judge(assistant, questions))
        return results

    return score
