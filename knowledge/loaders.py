"""Files in, LangChain documents out: prose as one Markdown-like document, tables as one document per row.

Every document carries `source` (path relative to the ingested folder), `kind` (`policy` or `listing`),
`row`/`sheet` for records, `title`, `language`, and the front-matter fields `effective`, `expires`,
`url` and `topics` when the file has them.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from bs4 import BeautifulSoup, Tag
from langchain_core.documents import Document

from knowledge.language import detect_language
from knowledge.plain import mark_structure, unwrap, without_running_heads
from knowledge.reading import LoadError, decode, office_container_reason, relative
from knowledge.safe_yaml import load_yaml, yaml_mistake
from knowledge.tabular import csv_records, json_records, xlsx_records, yaml_records

MAX_FILE_BYTES = 50 * 1024 * 1024
META_FIELDS = ("title", "language", "effective", "expires", "url", "topics")
DATE_FIELDS = ("effective", "expires")
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_EN_DATE = rf"(\d{{1,2}} (?:{_MONTHS}) \d{{4}})"
_ZH_DATE = r"(\d{4})年(\d{1,2})月(\d{1,2})日"
# Dates stated in a policy's header line, for files without front matter (most official texts).
_HEADER_DATES = {
    "effective": [
        rf"(?:施行|生效|实施)日期[：:]\s*{_ZH_DATE}",
        rf"(?:[Vv]alid|[Ee]ffective|[Aa]pplies\b[^.\n]*?) from {_EN_DATE}",
        rf"[Ee]ffective(?: on)? {_EN_DATE}",
    ],
    "expires": [rf"有效期至\s*{_ZH_DATE}", rf"[Vv]alid from {_EN_DATE} (?:to|until) {_EN_DATE}"],
}
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)
# The start of front matter ("---" then a "key:" line), to tell one left open from a rule at the top of a page.
_OPENED = re.compile(r"\A---\s*\n[\w-]+:")


def _iso(value: object, field: str, path: Path) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise LoadError(path, f"'{field}' must be a date like 2026-01-31, got '{value}'") from None


def _clean_meta(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """Front-matter fields we know, normalised: ISO dates, topics as one comma-separated string."""
    meta: dict[str, Any] = {}
    for field in META_FIELDS:
        value = raw.get(field)
        if value in (None, "", []):
            continue
        if field in DATE_FIELDS:
            meta[field] = _iso(value, field, path)
        elif field == "topics":
            items = value if isinstance(value, list) else str(value).split(",")
            meta[field] = ",".join(str(item).strip() for item in items if str(item).strip())
        elif field == "language":
            meta.update(_languages(value, path))
        else:
            meta[field] = str(value).strip()
    return meta


def _languages(value: object, path: Path) -> dict[str, str]:
    """`language: en`, or a bilingual document's `en, zh` (or a YAML list): then each chunk's language is taken
    from its own text (`languages` says the document holds both)."""
    items = value if isinstance(value, list) else str(value).split(",")
    languages = list(dict.fromkeys(str(item).strip().lower() for item in items if str(item).strip()))
    if not languages or any(language not in ("en", "zh") for language in languages):
        raise LoadError(path, f"'language' must be en, zh, or both as 'en, zh', got '{value}'")
    return {"language": languages[0]} if len(languages) == 1 else {"languages": ",".join(languages)}


def _header_dates(text: str) -> dict[str, str]:
    """Effective and expiry dates a policy states near its top, as ISO dates."""
    head = text[:800]
    found: dict[str, str] = {}
    for field, patterns in _HEADER_DATES.items():
        for pattern in patterns:
            match = re.search(pattern, head)
            if not match:
                continue
            groups = match.groups()
            if len(groups) == 3:
                found[field] = date(*map(int, groups)).isoformat()
            else:
                found[field] = datetime.strptime(groups[-1], "%d %B %Y").date().isoformat()
            break
    return found


def _prose(path: Path, root: Path, text: str, meta: dict[str, Any]) -> list[Document]:
    if not text.strip():
        raise LoadError(path, "no text found")
    meta = {**_header_dates(text), **meta}
    heading = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.M)
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), path.stem)
    title = meta.get("title") or (heading.group(1) if heading else first_line if len(first_line) <= 80 else path.stem)
    metadata = {
        "source": relative(path, root),
        "kind": "policy",
        "row": None,
        "sheet": None,
        **meta,
        "title": title,
        "language": meta.get("language") or detect_language(text),
    }
    return [Document(page_content=text.strip(), metadata=metadata)]


def _markdown(path: Path, root: Path) -> list[Document]:
    text = decode(path, path.read_bytes())
    meta: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            raw = load_yaml(match.group(1)) or {}
        except yaml.YAMLError as exc:
            first_line = text.count("\n", 0, match.start(1)) + 1
            raise LoadError(path, f"front matter is {yaml_mistake(exc, first_line)}") from None
        if not isinstance(raw, dict):
            raise LoadError(path, "front matter must be 'key: value' lines")
        meta = _clean_meta(raw, path)
        text = text[match.end() :]
    elif _OPENED.match(text):  # else its keys would be indexed, and quoted, as the document's first paragraph
        raise LoadError(path, "front matter opened with '---' on line 1 is never closed: end it with a '---' line")
    return _prose(path, root, text, meta)


def _text(path: Path, root: Path) -> list[Document]:
    return _prose(path, root, mark_structure(decode(path, path.read_bytes())), {})


def _html_block(tag: Tag) -> str:
    name = tag.name or ""
    words = " ".join(tag.get_text(" ", strip=True).split())
    if re.fullmatch(r"h[1-6]", name):
        return f"{'#' * int(name[1])} {words}"
    if name == "li":
        return f"- {words}"
    if name == "tr":
        return " | ".join(" ".join(cell.get_text(" ", strip=True).split()) for cell in tag.find_all(["th", "td"]))
    if name == "pre":
        return tag.get_text()
    return words


def _html(path: Path, root: Path) -> list[Document]:
    soup = BeautifulSoup(decode(path, path.read_bytes()), "html.parser")
    raw: dict[str, Any] = {
        str(m.get("name")).lower(): m.get("content")
        for m in soup.find_all("meta")
        if m.get("name") and m.get("content")
    }
    if soup.title and soup.title.string and "title" not in raw:
        raw["title"] = soup.title.string.strip()
    if soup.html and soup.html.get("lang") and "language" not in raw:
        raw["language"] = str(soup.html.get("lang")).split("-")[0]
    for noise in soup.find_all(["script", "style", "nav", "footer", "head", "template"]):
        noise.decompose()
    blocks = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "tr", "pre", "blockquote", "dt", "dd"]
    # Only outermost blocks: a <p> inside an <li> is already in the item's text.
    found = [t for t in soup.find_all(blocks) if not t.find_parent(blocks)]
    text = "\n\n".join(block for block in map(_html_block, found) if block.strip())
    if not found:
        text = soup.get_text("\n", strip=True)
    return _prose(path, root, text, _clean_meta(raw, path))


def _docx(path: Path, root: Path) -> list[Document]:
    import docx  # python-docx is slow to import; most runs never see a .docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        reason = office_container_reason(path) or f"not a readable Word .docx file ({exc.__class__.__name__})"
        raise LoadError(path, reason) from None
    lines: list[str] = []
    shift = 1 if _has_title(document) else 0  # "Heading 1" sits under the document's own title
    for paragraph in document.paragraphs:
        words = paragraph.text.strip()
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        level = re.match(r"Heading (\d)", style)
        if not words:
            continue
        if style == "Title":
            lines.append(f"# {words}")
        elif level:
            lines.append(f"{'#' * min(int(level.group(1)) + shift, 6)} {words}")
        elif style.startswith("List"):
            lines.append(f"- {words}")
        else:
            lines.append(words)
    for table in document.tables:
        lines += [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
    props = document.core_properties
    raw = {"title": props.title, "topics": props.keywords, "language": (props.language or "").split("-")[0] or None}
    meta = _clean_meta({k: v for k, v in raw.items() if v}, path) if raw["language"] in (None, "en", "zh") else {}
    return _prose(path, root, "\n\n".join(lines), meta)


def _has_title(document: Any) -> bool:
    return any((p.style is not None and p.style.name == "Title") for p in document.paragraphs[:3])


def _pdf(path: Path, root: Path) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise LoadError(path, "PDF is password-protected; save an unprotected copy")
        pages = without_running_heads([page.extract_text() or "" for page in reader.pages])
    except PdfReadError as exc:
        raise LoadError(path, f"not a readable PDF ({exc})") from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise LoadError(path, "PDF has no text layer (a scan?); run OCR or supply the text")
    title = reader.metadata.title if reader.metadata and reader.metadata.title else None
    return _prose(path, root, unwrap(mark_structure(text)), {"title": title} if title else {})


LOADERS: dict[str, Callable[[Path, Path], Iterable[Document]]] = {
    ".md": _markdown,
    ".markdown": _markdown,
    ".txt": _text,
    ".html": _html,
    ".htm": _html,
    ".docx": _docx,
    ".pdf": _pdf,
    ".csv": csv_records,
    ".xlsx": xlsx_records,
    ".json": json_records,
    ".yaml": yaml_records,
    ".yml": yaml_records,
}
SUPPORTED_SUFFIXES = frozenset(LOADERS)
# Formats staff have that ingest does not read, and the one to save them as.
_SAVE_AS = {".doc": ".docx", ".wps": ".docx", ".rtf": ".docx", ".xls": ".xlsx", ".et": ".xlsx", ".odt": ".docx"}


def unsupported(path: Path) -> str:
    """Why a file of an unread type is not ingested, and what to save it as when there is a close read type."""
    suffix = path.suffix.lower()
    hint = f": save it as {_SAVE_AS[suffix]}" if suffix in _SAVE_AS else ""
    return f"unsupported file type '{path.suffix or '(none)'}'{hint}"


def load_file(path: Path, root: Path) -> list[Document]:
    """The documents in one file; `LoadError` saying why when it cannot be read."""
    return list(iter_file(path, root))


def iter_file(path: Path, root: Path) -> Iterator[Document]:
    """The documents in one file as they are read, so a long listing is never held whole; `LoadError` saying why
    when it cannot be read, which may come after some documents (a bad row half-way down)."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoadError(path, unsupported(path))
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(path, f"cannot read file: {exc.strerror}") from None
    if size == 0:
        raise LoadError(path, "file is empty")
    if size > MAX_FILE_BYTES:
        raise LoadError(path, f"file is {size // 2**20} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB")
    found = 0
    try:
        for document in loader(path, root):
            found += 1
            yield document
    except LoadError:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise LoadError(path, f"cannot read file ({exc.__class__.__name__}: {exc})") from None
    except RecursionError:  # JSON or YAML nested thousands of levels deep
        raise LoadError(path, "data is nested too deeply to read") from None
    if not found:
        raise LoadError(path, "no records found (only a header, or every row is empty)")
