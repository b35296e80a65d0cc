"""Structure-aware chunking: a section under its heading path, a record row as one chunk."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

from knowledge.language import detect_language

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# A list item continues the clause that introduces it: "（一）…", "(a) …", "- …", "1. …", "Step 2. …".
_LIST_ITEM = re.compile(
    r"^(（[一二三四五六七八九十\d]+）|\([a-z\d]{1,3}\)|[-*•]\s|\d{1,2}[.)、]\s|(?i:step)\s\d+[.:]|第[一二三四五六七八九十\d]+步)"
)
# Sentence ends first (Chinese and Western), then clause marks, then words: a chunk never
# cuts a Chinese sentence while a sentence boundary is available.
_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ", ""]
# Clause-sized chunks: an extractive answer quotes one and must fit a phone screen, and a
# question is usually answered by one clause or one list of steps. Chinese packs about twice
# the meaning per character. A lead-in shorter than MIN ("The steps are:") joins what follows.
CHUNK_CHARS = {"en": 500, "zh": 250}
MIN_CHARS = {"en": 100, "zh": 50}
# A record longer than this (a JSON object holding a whole report) is split like prose: one chunk of 1 MB cost 4 GB.
MAX_RECORD_CHARS = 4000
# No text reaches the embedding model longer than this: its memory grows with the length of what it reads.
MAX_EMBED_CHARS = 2000


@dataclass
class _Section:
    path: list[str]
    lines: list[str] = field(default_factory=list)


def _sections(text: str) -> list[_Section]:
    """Cut Markdown-like text at headings, remembering each section's heading path."""
    sections = [_Section(path=[])]
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        match = _HEADING.match(line)
        if not match:
            sections[-1].lines.append(line)
            continue
        level = len(match.group(1))
        stack = [(lvl, title) for lvl, title in stack if lvl < level] + [(level, match.group(2))]
        sections.append(_Section(path=[title for _, title in stack]))
    return [s for s in sections if "\n".join(s.lines).strip()]


def _pack(text: str, size: int, least: int) -> list[str]:
    """One paragraph per piece, a too-short one joined to the next; oversized ones cut at sentence ends."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=0, separators=_SEPARATORS, keep_separator="end"
    )
    pieces: list[str] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        if len(paragraph) > size * 1.4:
            pieces.extend(splitter.split_text(paragraph))
        elif (
            pieces
            and (len(pieces[-1]) < least or _LIST_ITEM.match(paragraph))
            and len(pieces[-1]) + len(paragraph) < size
        ):
            pieces[-1] = f"{pieces[-1]}\n\n{paragraph}"
        else:
            pieces.append(paragraph)
    return pieces


def content_hash(text: str) -> str:
    """Stable short hash of a chunk's text."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_document(document: Document) -> list[Document]:
    """Chunks of one loaded document; every chunk keeps the document's metadata plus its section."""
    meta = document.metadata
    if meta.get("kind") == "listing" and len(document.page_content) <= MAX_RECORD_CHARS:
        pieces = [("", document.page_content.strip())]
    else:
        pieces = [
            (" > ".join(section.path), piece)
            for section in _sections(document.page_content)
            for piece in _pack_section(section, meta)
        ]
    # A record split like prose reads like prose: quoted as text, embedded as clauses, still cited by its row.
    kind = "policy" if meta.get("kind") == "listing" and len(pieces) > 1 else meta.get("kind")
    return [
        Document(
            page_content=text,
            metadata={
                **meta,
                **({"language": detect_language(text)} if meta.get("languages") else {}),
                "kind": kind,
                "section": section or None,
                "chunk": index,
                "chunk_hash": content_hash(text),
            },
        )
        for index, (section, text) in enumerate(p for p in pieces if p[1])
    ]


def _pack_section(section: _Section, meta: dict[str, object]) -> list[str]:
    """A section's pieces, sized for its language: the document's, or in a bilingual one the section's own."""
    text = "\n".join(section.lines)
    language = detect_language(text) if meta.get("languages") else meta.get("language")
    language = language if language in CHUNK_CHARS else "en"
    return _pack(text, CHUNK_CHARS[str(language)], MIN_CHARS[str(language)])


_CONTACT = re.compile(r"@|https?://|^[\d\s.,:/+-]*$")


def _descriptive(record: str, limit: int = 2) -> list[str]:
    """The longest prose values of a record (what it is and does), not ids, fees or contacts."""
    values = [line.split(":", 1)[1].strip() for line in record.splitlines() if ":" in line]
    prose = [v for v in values if not _CONTACT.search(v)]
    return sorted(prose, key=len, reverse=True)[:limit]


def embedding_views(chunk: Document, *, lean: bool = False) -> list[str]:
    """The texts embedded for a chunk; each is a way a question may describe it.

    A clause gets its title and heading path for context, and so does each of its paragraphs when it
    has several (one article among three is diluted in the chunk's vector). A record row is embedded whole, by
    its name alone (so "冷冻电镜" finds "Cryo-electron microscope"), and by its name with what it
    does (so a need finds it): a long row's vector is too diluted by fees and contacts for either.
    `lean` (rows of a big listing) embeds each row once: three views tripled the time of a 200,000-row file.
    """
    views = _views(chunk)
    return [view[:MAX_EMBED_CHARS] for view in (views[:1] if lean else views)]


def _views(chunk: Document) -> list[str]:
    meta = chunk.metadata
    if meta.get("kind") != "listing":
        heading = " > ".join(part for part in (meta.get("title"), meta.get("section")) if part)
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", chunk.page_content) if len(p.strip()) >= 20]
        texts = [chunk.page_content, *(paragraphs if len(paragraphs) > 1 else [])]
        return [f"{heading}\n{t}" if heading else t for t in texts]
    title = str(meta.get("title") or "")
    views = [chunk.page_content, title, "\n".join([title, *_descriptive(chunk.page_content)])]
    return list(dict.fromkeys(v for v in views if v.strip()))
