"""Score the answering core on an evaluation set, beside a plain LangChain RAG recipe, against the targets.

    .venv/bin/python bench/answer.py [EVAL_DIR] [--data-dir DIR] [--json] [--cross-corpus]

EVAL_DIR holds `corpus/` and `questions.yaml` (default: the shared dev set). Both systems run in the
embedded default (local embeddings, no LLM), each in a fresh process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter
from rich.console import Console
from rich.table import Table

from bot.core.components import build_assistant
from bot.core.models import Answer, Source
from bot.staff.evaluation import Outcome, breakdown, run_eval
from knowledge.discovery import IngestReport, discover
from knowledge.embeddings import LocalEmbeddings, make_embeddings
from knowledge.golden import load_questions
from knowledge.indexing import Ingest
from knowledge.language import detect_language
from knowledge.loaders import load_file
from knowledge.reading import LoadError
from knowledge.settings import Settings
from knowledge.store import make_store

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVAL_DIR = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared")) / "eval" / "dev"
# Models, the index snapshot and the Chinese segmenter load on first use; latency is measured warm.
WARM_UP = ("What does this programme offer?", "这个项目提供什么支持？")
BASELINE_K = 4
# What the issue reports for the plain recipe on the dev set (it never abstains).
BASELINE_REPORTED: dict[str, float] = {"recall@1": 0.73, "recall@3": 0.86, "facts": 0.82, "median_chars": 3015}

log = logging.getLogger("bench.answer")
Figures = dict[str, float | int | None]


@dataclass(frozen=True)
class Target:
    """One acceptance figure from the issue: the metric must be at least (or at most) `value`."""

    value: float
    at_least: bool

    def met(self, figure: float | int | None) -> bool:
        """Whether a measured figure meets the target (a missing figure never does)."""
        if figure is None:
            return False
        return figure >= self.value if self.at_least else figure <= self.value

    def __str__(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.value:g}"


ROWS = {
    "recall@1": "recall@1",
    "recall@3": "recall@3",
    "mrr": "MRR",
    "facts": "facts",
    "median_chars": "median answer (chars)",
    "abstain_precision": "abstention precision",
    "abstain_recall": "abstention recall",
    "confidently_wrong": "confidently wrong",
    "p50_ms": "p50 latency (ms)",
    "p95_ms": "p95 latency (ms)",
    "rss_mb": "peak RSS (MB)",
}
TARGETS = {
    "recall@1": Target(0.90, at_least=True),
    "recall@3": Target(0.97, at_least=True),
    "facts": Target(0.90, at_least=True),
    "median_chars": Target(600, at_least=False),
    "abstain_precision": Target(0.90, at_least=True),
    "abstain_recall": Target(0.90, at_least=True),
    "confidently_wrong": Target(0.05, at_least=False),
    "p95_ms": Target(150, at_least=False),
    "rss_mb": Target(500, at_least=False),
}


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _embedded_settings(corpus: Path, data_dir: Path) -> Settings:
    """Product settings forced to the embedded default, whatever the environment or `.env` say."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        knowledge_sources=[corpus],
        embedding_provider="local",
        openai_api_key=None,
        openai_base_url=None,
        chroma_host=None,
    )


def ingest_corpus(corpus: Path, data_dir: Path) -> dict[str, Any]:
    """Index the corpus the way `ingest.py` does (unchanged files are reused from an earlier run)."""
    settings = _embedded_settings(corpus, data_dir)
    report: IngestReport = Ingest(make_store(settings), make_embeddings(settings)).run(settings.knowledge_sources)
    return report.model_dump()


async def _timed(ask: Callable[[str, list[str]], Any], questions_path: Path) -> list[dict[str, Any]]:
    for warm in WARM_UP:
        await ask(warm, [])
    outcomes = await run_eval(load_questions(questions_path), ask)
    return [o.model_dump() for o in outcomes]


def run_ours(corpus: Path, data_dir: Path, questions_path: Path) -> dict[str, Any]:
    """Every question through the product's assistant, warm; outcomes and this process's peak RSS."""
    assistant = build_assistant(_embedded_settings(corpus, data_dir))
    outcomes = asyncio.run(_timed(assistant.answer, questions_path))
    return {"outcomes": outcomes, "rss_mb": _peak_rss_mb(), "load": os.getloadavg()[0]}


def _baseline_documents(corpus: Path) -> list[Document]:
    """The corpus read by our loaders, split by the stock recipe (1000 characters, 200 overlap)."""
    report = IngestReport()
    documents: list[Document] = []
    for file in discover([corpus], report):
        try:
            documents.extend(load_file(file.path, file.root))
        except LoadError as exc:
            log.warning("baseline skips %s", exc)
    return RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(documents)


def _distinct_sources(chunks: list[Document], distances: list[float]) -> list[Source]:
    """One source per file (or record row), best first, as the assistant lists them."""
    found: dict[tuple[str, int | None], Source] = {}
    for chunk, distance in zip(chunks, distances, strict=True):
        meta = chunk.metadata
        key = (meta["source"], meta.get("row"))
        # Cosine distance on unit vectors: similarity is 1 - distance.
        found.setdefault(
            key, Source(title=meta.get("title", ""), path=key[0], row=key[1], score=round(1 - distance, 4))
        )
    return list(found.values())


def run_baseline(corpus: Path, questions_path: Path) -> dict[str, Any]:
    """The plain recipe: dense top-4 chunks from an ephemeral Chroma collection, their text as the answer."""
    chunks = _baseline_documents(corpus)
    embeddings = LocalEmbeddings()
    client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.create_collection("baseline", metadata={"hnsw:space": "cosine"})
    collection.add(
        ids=[str(n) for n in range(len(chunks))],
        embeddings=embeddings.embed_documents([c.page_content for c in chunks]),  # type: ignore[arg-type]
        documents=[c.page_content for c in chunks],
    )

    async def ask(question: str, history: list[str]) -> Answer:  # noqa: ARG001 - the recipe has no memory
        found = collection.query(query_embeddings=[embeddings.embed_query(question)], n_results=BASELINE_K)
        hits = [chunks[int(i)] for i in found["ids"][0]]
        return Answer(
            question=question,
            answer="\n\n".join(c.page_content for c in hits),
            answered=True,
            language=detect_language(question),
            mode="extractive",
            sources=_distinct_sources(hits, found["distances"][0]),  # type: ignore[index]
        )

    outcomes = asyncio.run(_timed(ask, questions_path))
    return {"outcomes": outcomes, "rss_mb": _peak_rss_mb(), "chunks": len(chunks)}


def in_fresh_process(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one phase in a new interpreter, so that peak RSS and warm-up belong to that phase alone."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def _summary(phase: dict[str, Any]) -> dict[str, Figures]:
    report = breakdown([Outcome.model_validate(o) for o in phase["outcomes"]])
    report["all"]["rss_mb"] = phase["rss_mb"]
    return report


def _cell(value: float | int | None) -> str:
    return "–" if value is None else str(value)


def _main_table(ours: Figures, baseline: Figures) -> Table:
    table = Table(title="Embedded default (local embeddings, no LLM): ours vs plain LangChain recipe")
    for name in ("metric", "ours", "baseline (measured)", "baseline (issue)", "target", "ours: met?"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for metric, label in ROWS.items():
        target = TARGETS.get(metric)
        verdict = "" if target is None else ("met" if target.met(ours.get(metric)) else "NOT met")
        table.add_row(
            label,
            _cell(ours.get(metric)),
            _cell(baseline.get(metric)),
            _cell(BASELINE_REPORTED.get(metric)),
            str(target or "–"),
            verdict,
        )
    return table


GROUP_COLUMNS = ("recall@1", "recall@3", "facts", "abstain_recall", "median_chars", "p95_ms")


def _group_table(ours: dict[str, Figures], baseline: dict[str, Figures]) -> Table:
    table = Table(title="Per kind and language (ours | baseline)")
    table.add_column("group")
    table.add_column("n", justify="right")
    for name in GROUP_COLUMNS:
        table.add_column(name, justify="right")
    for group in sorted(ours, key=lambda g: (g != "all", not g.startswith("kind"), g)):
        mine, theirs = ours[group], baseline[group]
        cells = [f"{_cell(mine[c])} | {_cell(theirs[c])}" for c in GROUP_COLUMNS]
        table.add_row(group, str(mine["questions"]), *cells)
    return table


def _misses(outcomes: list[dict[str, Any]]) -> list[str]:
    """Question ids the assistant got wrong, with what went wrong: for whoever tunes retrieval."""
    found = []
    for o in outcomes:
        if o["abstain"]:
            problem = "" if not o["answered"] else "answered instead of abstaining"
        elif not o["answered"]:
            problem = "abstained"
        else:
            problems = [] if o["rank"] and o["rank"] <= 3 else [f"gold rank {o['rank']}"]
            problems += [] if o["facts"] else ["facts missing"]
            problem = ", ".join(problems)
        if problem:
            found.append(f"{o['id']} ({o['kind']}/{o['lang']}): {problem}")
    return found


def _report(args: argparse.Namespace, ours: dict[str, Any], baseline: dict[str, Any], ingest: dict[str, Any]) -> None:
    ours_summary, baseline_summary = _summary(ours), _summary(baseline)
    if args.json:
        targets = {
            metric: {"at_least": t.at_least, "value": t.value, "met": t.met(ours_summary["all"][metric])}
            for metric, t in TARGETS.items()
        }
        payload = {
            "eval_dir": str(args.eval_dir),
            "ours": {"summary": ours_summary, "questions": ours["outcomes"]},
            "baseline": {"summary": baseline_summary, "questions": baseline["outcomes"], "chunks": baseline["chunks"]},
            "baseline_reported": BASELINE_REPORTED,
            "targets": targets,
            "ingest": {k: ingest[k] for k in ("chunks", "embedded", "failed", "seconds")},
            "load_average": ours["load"],
        }
        print(json.dumps(payload, ensure_ascii=False))
        return
    # Piped output would wrap at 80 columns and break the tables apart.
    console = Console(width=None if sys.stdout.isatty() else 150)
    console.print(_main_table(ours_summary["all"], baseline_summary["all"]))
    console.print(_group_table(ours_summary, baseline_summary))
    console.print(
        f"{ours_summary['all']['questions']} questions; ours: {ingest['chunks']} chunks; "
        f"baseline: {baseline['chunks']} chunks, top {BASELINE_K}, never abstains, ignores history. "
        f"Load average while running: {ours['load']:.2f} (latency is wall time on a shared machine)."
    )
    misses = _misses(ours["outcomes"])
    console.print("Ours missed: " + ("; ".join(misses) if misses else "nothing"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/answer.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "eval_dir", nargs="?", type=Path, default=DEFAULT_EVAL_DIR, help="holds corpus/ and questions.yaml"
    )
    parser.add_argument("--data-dir", type=Path, help="reuse (or create) this index folder instead of a temp one")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument(
        "--cross-corpus",
        action="store_true",
        help="then every shared set scored with the figures fitted on the others (bench/fit.py)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Ingest, run both systems, print the comparison; returns the exit code."""
    args = _parser().parse_args(argv)
    corpus, questions = args.eval_dir / "corpus", args.eval_dir / "questions.yaml"
    if not corpus.is_dir() or not questions.is_file():
        print(f"bench/answer.py: {args.eval_dir} must hold corpus/ and questions.yaml", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    with tempfile.TemporaryDirectory(prefix="bench-answer-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        ingest = in_fresh_process(ingest_corpus, corpus, data_dir)
        for failure in ingest["failed"]:
            log.warning("ingest failed on %s: %s", failure["path"], failure["reason"])
        ours = in_fresh_process(run_ours, corpus, data_dir, questions)
    baseline = in_fresh_process(run_baseline, corpus, questions)
    _report(args, ours, baseline, ingest)
    if args.cross_corpus:
        from fit import cross_corpus  # bench/, beside this script

        cross_corpus()
    return 0


if __name__ == "__main__":
    sys.exit(main())
