"""From retrieved passages to what a channel shows: merged searches, the sources cited, expiry warnings, redaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from bot.core.models import Answer, Source
from bot.core.texts import text
from knowledge.language import Language
from knowledge.programme import Programme
from knowledge.retrieve import Passage

OnDraft = Callable[[str], Awaitable[None]]


def merged(first: list[Passage], second: list[Passage], k: int) -> list[Passage]:
    """The best `k` of two searches' passages, each passage once with its better score."""
    best: dict[str, Passage] = {}
    for passage in [*first, *second]:
        if passage.id not in best or passage.score > best[passage.id].score:
            best[passage.id] = passage
    return sorted(best.values(), key=lambda p: p.score, reverse=True)[:k]


def said(answer: Answer, redact: Callable[[str], str]) -> Answer:
    """Everything of an answer a channel shows (text, and each source's title, clause, path and link), redacted."""

    def shown(source: Source) -> Source:
        fields = {"title": source.title, "section": source.section, "path": source.path, "url": source.url}
        return source.model_copy(update={name: redact(value) for name, value in fields.items() if value})

    return answer.model_copy(update={"answer": redact(answer.answer), "sources": [shown(s) for s in answer.sources]})


def redacted_drafts(on_draft: OnDraft, redact: Callable[[str], str]) -> OnDraft:
    """The draft callback with each draft redacted before a channel shows it."""

    async def draft(partial: str) -> None:
        await on_draft(redact(partial))

    return draft


def sources_of(passages: list[Passage], limit: int) -> list[Source]:
    """The distinct documents (or rows) behind passages, best first, as the answer cites them."""
    seen: dict[str, Source] = {}
    today = date.today().isoformat()
    for p in passages:
        if p.source_key not in seen:
            seen[p.source_key] = Source(
                title=p.title,
                path=p.source,
                row=p.row,
                score=round(p.score, 4),
                date=p.effective,
                section=p.section,
                url=p.url,
                expires=p.expires,
                expired=bool(p.expires and p.expires < today),
            )
    return list(seen.values())[:limit]


def with_warnings(body: str, sources: list[Source], language: Language, programme: Programme) -> str:
    """The answer with a warning when the source it leans on most has expired."""
    warnings = [text(language, "expired", programme, date=s.expires or "") for s in sources[:1] if s.expired]
    return "\n\n".join([body, *warnings])
