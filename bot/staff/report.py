"""The staff report on the Telegram records: rich tables for the terminal, a PNG chart of questions per hour."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from bot.conversation.records import Records, Stats, Tally
from bot.conversation.tables import connect, database_url
from bot.core.texts import text
from knowledge.settings import Settings

HOUR_FORMAT = "%Y-%m-%dT%H"  # how Records.hourly labels an hour (UTC)


def _tallies(title: str, first: str, rows: list[Tally]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(first)
    table.add_column("questions", justify="right")
    table.add_column("answered", justify="right")
    for row in rows:
        table.add_row(row.label or "(none)", str(row.questions), f"{row.answered}%")
    return table


def _counted(title: str, rows: list[tuple[str, int]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("question")
    table.add_column("times", justify="right")
    for question, times in rows:
        table.add_row(question, str(times))
    return table


def print_report(stats: Stats, console: Console, event: str | None = None) -> None:
    """The report as tables: totals and feedback, by day, by event, top unanswered and disliked questions."""
    scope = f" at event {event}" if event else ""
    console.print(f"[bold]Questions in the last {stats.days} days{scope}[/bold]")
    summary = Table(show_header=True)
    for column in ("questions", "answered", "helpful", "not helpful"):
        summary.add_column(column, justify="right")
    total = stats.total
    summary.add_row(str(total.questions), f"{total.answered}%", str(stats.helpful), str(stats.unhelpful))
    console.print(summary)
    console.print(_tallies("By day (UTC)", "day", stats.by_day))
    if not event:
        console.print(_tallies("By event", "event", stats.by_event))
    console.print(_counted("Top unanswered questions", stats.unanswered))
    console.print(_counted("Disliked answers", stats.disliked))


def _filled(hours: list[tuple[str, int]]) -> tuple[list[datetime], list[int]]:
    """Every hour from the first to the last with questions, the quiet ones as zero."""
    counts = {datetime.strptime(hour, HOUR_FORMAT): n for hour, n in hours}
    if not counts:
        return [], []
    slots, at = [], min(counts)
    while at <= max(counts):
        slots.append(at)
        at += timedelta(hours=1)
    return slots, [counts.get(slot, 0) for slot in slots]


def chart_png(hours: list[tuple[str, int]], event: str | None = None) -> bytes:
    """A bar chart of questions per hour as PNG bytes (no display needed; safe in worker threads)."""
    slots, counts = _filled(hours)
    # Labels in English: the chart font (DejaVu Sans) has no Chinese glyphs.
    figure = Figure(figsize=(8, 3.5), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.bar(slots, counts, width=1 / 24 * 0.9, align="edge", color="#2b6cb0")  # width in days: one hour
    title = text("en", "chart_title")
    axes.set_title(f"{title} · {event}" if event else title)
    axes.set_ylabel(text("en", "chart_questions"))
    axes.set_xlabel("UTC")
    axes.xaxis.set_major_formatter(DateFormatter("%m-%d %H:%M"))
    if slots:  # an hour either side, so a one-hour event still gets a readable axis
        axes.set_xlim(slots[0] - timedelta(hours=1), slots[-1] + timedelta(hours=2))
    axes.yaxis.get_major_locator().set_params(integer=True)
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def run_report(settings: Settings, event: str | None, days: int, chart: Path | None, as_json: bool = False) -> int:
    """`python -m bot report`: the Telegram records of the last `days` days, optionally one event's, and a chart."""
    records = Records(connect(database_url(settings)))
    try:
        stats = records.stats(days=days, event=event)
        hours = records.hourly(days=days, event=event)
    finally:
        records.close()
    if as_json:
        print(stats.model_dump_json())
    else:
        print_report(stats, Console(), event)
    if chart is not None:
        chart.parent.mkdir(parents=True, exist_ok=True)
        chart.write_bytes(chart_png(hours, event))
        print(f"chart: {chart}")
    return 0
