"""The staff glossary: names that mean the same thing, in English and Chinese, matched lexically.

A `glossary.yaml` at the top of a knowledge folder lists groups of equivalent names (instruments, products,
schemes), whatever the embedding model makes of them:

    - [冷冻电镜, cryo-EM, cryo-electron microscope]
    - [青年人才租房补贴, youth rent subsidy]

Ingest validates it and publishes it with the index generation, so every replica searches with the glossary of
the generation it serves; a question naming one name of a group matches passages that use another.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import StringConstraints, TypeAdapter, ValidationError

from knowledge.reading import read_utf8
from knowledge.safe_yaml import key_line, load_yaml, yaml_mistake

GLOSSARY_FILE = "glossary.yaml"
MAX_GROUPS = 10_000

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
_GROUPS = TypeAdapter(list[list[Name]])


class GlossaryError(ValueError):
    """A glossary file that cannot be used, and why (with the entry's number)."""


def parse_glossary(text: str) -> list[list[str]]:
    """The groups of a glossary file's text; GlossaryError says which entry is wrong and how."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise GlossaryError(yaml_mistake(exc)) from exc
    if data is None:
        return []
    try:
        groups = _GROUPS.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = first["loc"][0] if first["loc"] and isinstance(first["loc"][0], int) else None
        where = f"{_entry(text, at)}: " if at is not None else ""
        raise GlossaryError(f"{where}{first['msg']}; each entry is a list of names, e.g. [冷冻电镜, cryo-EM]") from exc
    if len(groups) > MAX_GROUPS:
        raise GlossaryError(f"{len(groups):,} entries; a glossary may hold {MAX_GROUPS:,}")
    return _checked(groups, text)


def _entry(text: str, index: int) -> str:
    """An entry as staff find it in the file: its number and its line."""
    return f"entry {index + 1} (line {key_line(text, (index,))})"


def _checked(groups: list[list[str]], text: str) -> list[list[str]]:
    seen: dict[str, int] = {}
    for index, group in enumerate(groups):
        names = list(dict.fromkeys(name.lower() for name in group))
        if len(names) < 2:
            raise GlossaryError(f"{_entry(text, index)}: a group needs two or more different names, got {group}")
        for name in names:
            if name in seen:
                first = _entry(text, seen[name])
                raise GlossaryError(f"{_entry(text, index)}: '{name}' is already in {first}; merge the two")
            seen[name] = index
    return groups


def read_glossary(path: Path) -> list[list[str]]:
    """The groups of a glossary file (`GlossaryError` or `UnicodeDecodeError` when it is not valid)."""
    return parse_glossary(read_utf8(path))


def glossary_path(sources: list[Path]) -> Path:
    """Where staff add names: the first knowledge folder's glossary that exists, else one in the first folder;
    GlossaryError when the sources name no folder."""
    folders = [source for source in sources if source.is_dir()]
    if not folders:
        raise GlossaryError("KNOWLEDGE_SOURCES names no folder to hold glossary.yaml")
    return next((path for path in (f / GLOSSARY_FILE for f in folders) if path.is_file()), folders[0] / GLOSSARY_FILE)


def add_group(path: Path, names: list[str]) -> list[list[str]]:
    """Append a group of equivalent names to a glossary file (made when missing; its comments kept) and return every
    group. The whole new text is validated first (GlossaryError: nothing written) and replaces the file in one
    rename, so ingest never reads half of it."""
    old = read_utf8(path) if path.is_file() else ""
    entry = yaml.safe_dump([names], allow_unicode=True, default_flow_style=None, width=1_000)
    new = old + ("\n" if old and not old.endswith("\n") else "") + entry
    groups = parse_glossary(new)
    partial = path.with_name(f".{path.name}.partial")  # a hidden file: ingest skips it
    partial.write_text(new, encoding="utf-8")
    partial.replace(path)
    return groups


Tokenize = Callable[[str], list[str]]


@dataclass(frozen=True)
class _Name:
    text: str
    pattern: re.Pattern[str]
    tokens: frozenset[str]


def _name(name: str, tokenize: Tokenize) -> _Name:
    lowered = name.lower()
    start = r"(?<![a-z0-9])" if lowered[0].isascii() else ""
    end = r"(?![a-z0-9])" if lowered[-1].isascii() else ""
    return _Name(lowered, re.compile(start + re.escape(lowered) + end), frozenset(tokenize(lowered)))


class Glossary:
    """Finds the glossary names a question uses, and the search words of their equivalents."""

    def __init__(self, groups: Iterable[list[str]], tokenize: Tokenize) -> None:
        self._groups = [[_name(name, tokenize) for name in group] for group in groups]

    def __len__(self) -> int:
        return len(self._groups)

    def alternatives(self, question: str, terms: Iterable[str]) -> dict[str, list[frozenset[str]]]:
        """Each question word inside a glossary name the question uses -> the search words of that name's
        equivalents (a passage holding all the words of one of them holds the name)."""
        lowered = question.lower()
        found: dict[str, list[frozenset[str]]] = {}
        for group in self._groups:
            for name in group:
                if not name.pattern.search(lowered):
                    continue
                others = [other.tokens for other in group if other is not name and other.tokens]
                for term in terms:
                    if term in name.text:
                        found.setdefault(term, []).extend(others)
        return found


def equivalent_words(alternatives: dict[str, list[frozenset[str]]]) -> list[str]:
    """Every search word of the equivalents found, for the BM25 side."""
    return sorted({word for names in alternatives.values() for tokens in names for word in tokens})
