"""A refresh never makes answers worse: golden questions a knowledge folder holds (`checks.yaml`), scored on a new
index generation before it is published and compared with the generation being served."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, Field

from knowledge.golden import EvalQuestion, QuestionsError, load_questions

if TYPE_CHECKING:  # discovery needs this module's names without loading chromadb
    from knowledge.store import IndexInfo, KnowledgeStore

CHECKS_FILE = "checks.yaml"
SAVED = "saved"  # the `kind` of a check made from an answer staff saved in the bot's database


class CheckResult(BaseModel):
    """How one generation did on one golden question."""

    id: str
    question: str
    passed: bool
    why: str = Field("", description="What was wrong with the answer, when it did not pass.")
    must_pass: bool = Field(
        False,
        description="A saved answer: the bot serves it today, so a new generation must too, whatever the served one "
        "scores (it is scored with the folder's files as they are now, the served one's staff files being gone).",
    )


class ChecksReport(BaseModel):
    """The golden questions on the new generation, beside the served one."""

    total: int
    passed: int
    served: int | None = Field(None, description="Passed by the served generation; None when there is none to ask.")
    broken: list[CheckResult] = Field(default_factory=list, description="Passed on the served one, not on the new.")
    fixed: list[str] = Field(default_factory=list, description="Ids failing on the served one, passing on the new.")
    failing: list[CheckResult] = Field(default_factory=list, description="Every check the new generation fails.")
    seconds: float = 0.0

    @property
    def worse(self) -> bool:
        """The new generation answers fewer checks than the one being served, or no longer serves a saved answer."""
        return self.served is not None and (self.passed < self.served or any(r.must_pass for r in self.broken))


class Scorer(Protocol):
    """Answers the questions from each generation in turn (published or not) and judges each answer."""

    def __call__(
        self, store: KnowledgeStore, generations: list[IndexInfo], questions: list[EvalQuestion]
    ) -> list[list[CheckResult]]: ...


def checks_files(sources: list[Path]) -> list[Path]:
    """The `checks.yaml` at the top of each knowledge folder that has one."""
    return [source / CHECKS_FILE for source in sources if (source / CHECKS_FILE).is_file()]


def load_checks(sources: list[Path]) -> list[EvalQuestion]:
    """Every folder's golden questions, an invalid file's left out (`checks_problem` reports it): one mistake must
    not switch off the other folders' checks nor the saved answers'."""
    questions: list[EvalQuestion] = []
    for path in checks_files(sources):
        try:
            questions += load_questions(path)
        except QuestionsError:
            continue
    return questions


def checks_problem(path: Path) -> str | None:
    """Ingest's check: what is wrong with a checks.yaml, None when it is valid."""
    try:
        load_questions(path)
    except QuestionsError as exc:
        return str(exc).removeprefix(f"{path}: ")
    return None


def compare(new: list[CheckResult], served: list[CheckResult] | None) -> ChecksReport:
    """The new generation's results, with what broke and what was fixed since the served one."""
    before = {result.id: result.passed for result in served} if served is not None else {}
    return ChecksReport(
        total=len(new),
        passed=sum(result.passed for result in new),
        served=None if served is None else sum(result.passed for result in served),
        broken=[result for result in new if not result.passed and (before.get(result.id) or result.must_pass)],
        fixed=[result.id for result in new if result.passed and before.get(result.id) is False],
        failing=[result for result in new if not result.passed],
    )
