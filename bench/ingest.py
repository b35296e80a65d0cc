"""Ingest benchmark: the dev corpus (full, then unchanged re-ingest) and a scale curve on a generated corpus.

    .venv/bin/python bench/ingest.py [--sizes 1000,5000,20000] [--corpus DIR] [--json]
    .venv/bin/python bench/ingest.py --limits [--listing-rows 200000] [--policies 2000] [--kill]

Runs the same `Ingest` path as `ingest.py` with the configured embedding model, each run into a fresh
data folder. The model is loaded before timing starts, so the figures are ingest work only.
`--limits` runs `ingest.py` itself, one whole process per case (model loading included), and prints each
process's own peak RSS: a long listing, a folder of many policies and the re-ingest of one changed file, a kill at
a random moment of the long listing's ingest (bench/ingest_limits.py; small hostile inputs: bench/bounds.py).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from knowledge.discovery import IngestReport
from knowledge.embeddings import make_embeddings
from knowledge.indexing import Ingest
from knowledge.settings import Settings, get_settings
from knowledge.store import make_store

ROOT = Path(__file__).resolve().parents[1]
DEV_CORPUS = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared")) / "eval" / "dev" / "corpus"
TARGET_FULL_SECONDS = 30.0
TARGET_UNCHANGED_SECONDS = 2.0
ARTICLES_PER_FILE = 20
ROWS_PER_FILE = 250

# (English, Chinese) pairs the generated text draws on.
SECTORS = [("biomedicine", "生物医药"), ("integrated circuit", "集成电路"), ("AI", "人工智能")]
COSTS = [("testing fees", "检测费用"), ("CRO services", "研发外包服务"), ("equipment time", "设备使用费")]
PARTNERS = [("Lingjing Biologics", "领境生物"), ("Kelan Pharma", "科兰医药"), ("Xinhe Semiconductor", "芯合半导体")]
# (name, 名称, what it does, 功能)
INSTRUMENTS = [
    ("Cryo-electron microscope", "冷冻电镜", "Solves 3D protein structures", "解析蛋白质三维结构"),
    ("600 MHz NMR spectrometer", "600兆核磁共振波谱仪", "Identifies small molecules", "小分子结构鉴定"),
    ("Wafer prober", "晶圆探针台", "Tests chips on the wafer before packaging", "封装前对晶圆上的芯片进行测试"),
    ("Mass spectrometer", "高分辨质谱仪", "Measures metabolites", "代谢物定量分析"),
]
EN_SENTENCES = [
    "Eligible {sector} companies registered in Pudong may claim {pct}% of {cost}, up to RMB {amount},000 a year.",
    "Applications open on the 1st and close on the 28th of month {month}; late ones roll over to the next round.",
    "Projects must be run with an open partner such as {partner}, under a signed cooperation agreement.",
    "Support is paid in two instalments: {pct}% on approval and the balance after the acceptance review.",
    "A company funded by the district for the same work in the last {years} years may not apply again.",
    "Applicants upload the business licence, the cooperation agreement and the invoices for {cost}.",
]
ZH_SENTENCES = [
    "在浦东新区注册的{sector}企业，可按{cost}的{pct}%申请补贴，每年最高{amount}万元。",
    "申报时间为每年{month}月1日至{month}月28日，逾期申报的顺延至下一批次。",
    "项目须与{partner}等开放伙伴合作实施，并签订合作协议。",
    "补贴分两次拨付：立项后拨付{pct}%，验收通过后拨付余额。",
    "近{years}年内同一事项已获区级资金支持的，不得重复申请。",
    "申请材料包括营业执照、合作协议以及{cost}的发票，通过平台在线提交。",
]


class Run(BaseModel):
    """One timed ingest."""

    name: str
    files: int
    chunks: int
    vectors: int
    seconds: float
    cpu_seconds: float
    chunks_per_s: float
    ms_per_chunk: float
    peak_rss_mb: float


class Report(BaseModel):
    """The `--json` output."""

    runs: list[Run]


def _paragraph(rng: random.Random, zh: bool) -> str:
    side = 1 if zh else 0
    values = {
        "sector": rng.choice(SECTORS)[side],
        "cost": rng.choice(COSTS)[side],
        "partner": rng.choice(PARTNERS)[side],
        "pct": rng.choice([20, 30, 40, 50]),
        "amount": rng.randint(5, 500),
        "month": rng.randint(1, 12),
        "years": rng.randint(2, 5),
    }
    sentences = rng.sample(ZH_SENTENCES if zh else EN_SENTENCES, 4 if zh else 3)
    return ("" if zh else " ").join(s.format(**values) for s in sentences)


def _policy(rng: random.Random, number: int, articles: int, zh: bool) -> str:
    sector = rng.choice(SECTORS)[1 if zh else 0]
    title = f"{sector}专项资金实施细则（第{number}号）" if zh else f"{sector.title()} fund rules, no. {number}"
    head = f"---\ntitle: {title}\nlanguage: {'zh' if zh else 'en'}\neffective: 2025-{number % 12 + 1:02d}-01\n---\n"
    sections = [
        (f"## 第{k}条" if zh else f"## Article {k}") + f"\n\n{_paragraph(rng, zh)}\n" for k in range(1, articles + 1)
    ]
    return f"{head}# {title}\n\n" + "\n".join(sections)


def _listing(rng: random.Random, first: int, rows: int, zh: bool) -> list[list[str]]:
    side = 1 if zh else 0
    header = ["编号", "仪器名称", "所属单位", "功能", "收费标准", "联系方式"]
    if not zh:
        header = ["id", "instrument", "owner", "what it does", "fee", "contact"]
    table = [header]
    for i in range(first, first + rows):
        fee = rng.randint(2, 98) * 100
        instrument = rng.choice(INSTRUMENTS)
        table.append(
            [
                f"EQ-{i:05d}",
                f"{instrument[side]} {i}",
                rng.choice(PARTNERS)[side],
                instrument[2 + side],
                f"每小时{fee}元" if zh else f"RMB {fee} per hour",
                f"lab{i}@partner.example.org",
            ]
        )
    return table


def generate_corpus(root: Path, chunks: int) -> None:
    """Bilingual policy Markdown (one chunk per article) and listing CSVs (one per row), `chunks` in all."""
    rng = random.Random(chunks)
    articles, rows = chunks // 2, chunks - chunks // 2
    (root / "policies").mkdir(parents=True)
    (root / "resources").mkdir()
    for number, start in enumerate(range(0, articles, ARTICLES_PER_FILE)):
        zh = number % 2 == 1
        text = _policy(rng, number, min(ARTICLES_PER_FILE, articles - start), zh)
        (root / "policies" / f"policy-{number:04d}{'.zh' if zh else ''}.md").write_text(text, encoding="utf-8")
    for number, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        zh = number % 2 == 1
        # Chinese Excel exports CSV as GB18030, so the generated Chinese listings are too.
        path = root / "resources" / f"equipment-{number:04d}.csv"
        with path.open("w", encoding="gb18030" if zh else "utf-8", newline="") as handle:
            csv.writer(handle).writerows(_listing(rng, start, min(ROWS_PER_FILE, rows - start), zh))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def timed_ingest(name: str, settings: Settings, ingest: Ingest, corpus: Path) -> Run:
    """Ingest `corpus` once and measure it; any failed file aborts the benchmark."""
    cpu = time.process_time()
    report: IngestReport = ingest.run([corpus])
    cpu = time.process_time() - cpu
    if report.failed:
        sys.exit(f"bench: {len(report.failed)} files failed in {corpus}, first: {report.failed[0]}")
    store = make_store(settings)
    info = store.current()
    vectors = store.open(info.generation).count() if info else 0
    return Run(
        name=name,
        files=len(report.added) + len(report.updated) + len(report.unchanged),
        chunks=report.chunks,
        vectors=vectors,
        seconds=report.seconds,
        cpu_seconds=round(cpu, 2),
        chunks_per_s=round(report.chunks / report.seconds, 1) if report.seconds else 0.0,
        ms_per_chunk=round(1000 * report.seconds / report.chunks, 3) if report.chunks else 0.0,
        peak_rss_mb=round(_peak_rss_mb(), 1),
    )


def run(corpus: Path, sizes: list[int], work: Path) -> list[Run]:
    """Dev corpus full + unchanged re-ingest, then one fresh full ingest per generated size."""
    base = get_settings()
    embeddings = make_embeddings(base)
    embeddings.embed_documents(["warm up the model"])
    runs = []
    settings = base.model_copy(update={"data_dir": work / "data-dev"})
    ingest = Ingest(make_store(settings), embeddings)
    runs.append(timed_ingest("dev full", settings, ingest, corpus))
    runs.append(timed_ingest("dev unchanged", settings, ingest, corpus))
    for size in sizes:
        generated = work / f"corpus-{size}"
        generate_corpus(generated, size)
        settings = base.model_copy(update={"data_dir": work / f"data-{size}"})
        runs.append(timed_ingest(f"generated {size}", settings, Ingest(make_store(settings), embeddings), generated))
    return runs


def _table(runs: list[Run]) -> Table:
    table = Table(title="Ingest benchmark")
    for column in ("run", "files", "chunks", "vectors", "wall s", "CPU s", "chunks/s", "ms/chunk", "x first", "RSS MB"):
        table.add_column(column, justify="left" if column == "run" else "right")
    scale = [r for r in runs if r.name.startswith("generated")]
    for r in runs:
        ratio = f"{r.ms_per_chunk / scale[0].ms_per_chunk:.2f}" if r in scale else ""
        cells = (r.name, r.files, r.chunks, r.vectors, r.seconds, r.cpu_seconds, r.chunks_per_s, r.ms_per_chunk, ratio)
        table.add_row(*map(str, cells), str(r.peak_rss_mb))
    full, unchanged = runs[0].seconds, runs[1].seconds
    table.caption = (
        f"targets: dev full <= {TARGET_FULL_SECONDS:.0f} s ({'met' if full <= TARGET_FULL_SECONDS else 'MISSED'}), "
        f"unchanged <= {TARGET_UNCHANGED_SECONDS:.0f} s "
        f"({'met' if unchanged <= TARGET_UNCHANGED_SECONDS else 'MISSED'}); "
        "x first = ms/chunk over the smallest generated size (1.00 = linear); RSS MB = peak so far"
    )
    return table


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (or JSON)."""
    parser = argparse.ArgumentParser(prog="bench/ingest.py", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="generated corpus sizes in chunks, comma-separated")
    parser.add_argument("--corpus", type=Path, default=DEV_CORPUS, help="the real corpus to time")
    parser.add_argument("--json", action="store_true", help="print the runs as one JSON object")
    parser.add_argument("--limits", action="store_true", help="run the memory and scale limits instead (slow)")
    parser.add_argument("--listing-rows", type=int, default=200_000, help="rows of the long listing (--limits)")
    parser.add_argument("--policies", type=int, default=2000, help="files of the many-policies folder (--limits)")
    parser.add_argument("--kill", action="store_true", help="also kill the long listing's ingest at random (--limits)")
    args = parser.parse_args(argv)
    if args.limits:
        from ingest_limits import run_limits  # beside this script, which Python puts first on the path

        return run_limits(args.listing_rows, args.policies, kill=args.kill)
    try:
        sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 2:
        parser.error("--sizes takes whole numbers of 2 or more, e.g. 1000,5000")
    if not args.corpus.is_dir():
        parser.error(f"no such corpus folder: {args.corpus}")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as work:
        runs = run(args.corpus, sizes, Path(work))
    if args.json:
        print(Report(runs=runs).model_dump_json())
    else:
        Console(width=120).print(_table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
