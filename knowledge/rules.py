"""Eligibility rule files: the schema staff write, validated with the YAML line of every mistake.

Convention: a rule file is a `.yaml`/`.yml` file inside a folder named `programmes/` (at any depth
of a knowledge source, or the source folder itself). Ingest validates it here instead of loading it
as data; a valid file is indexed as a prose description of the scheme, an invalid one is reported
with its line. One file describes one scheme:

    scheme: rent-subsidy                       # short id: lowercase letters, digits, dashes
    title: {en: Youth rent subsidy, zh: 青年人才租房补贴}
    policy: policies/young-talent-rent-subsidy.zh.md   # the document the rules come from,
                                               # relative to the knowledge-base root
    applies_to: person                         # person | company: who the facts describe
    benefit: {en: "RMB 1,000-2,500 a month", zh: "每月1,000–2,500元"}   # optional
    keywords: {en: [rent subsidy], zh: [租房补贴]}   # how users name the scheme
    conditions:                                # all must hold
      - fact: age
        op: "<="                               # quote operators: YAML reads a bare > as text
        value: 35
        unless: {fact: degree, op: "==", value: phd}   # the condition is waived when this holds
        clause: 第三条                          # required: where the policy says so
        says: {en: "Master's: at most 35", zh: 硕士不超过35周岁}   # the policy's words (optional)
      - fact: age
        op: "<="
        value: 30
        when: {fact: degree, op: "==", value: bachelor}  # the condition applies only when this holds
        clause: 第三条
      - fact: member_status
        op: "=="
        value: true
        clause: 第三条（一）
        policy: policies/other.zh.md           # optional: the clause is in another document
    window:                                    # optional: when applications are taken
      opens: 2027-03-01                        # dates as YYYY-MM-DD
      closes: 2027-03-31
      apply: https://example.org/apply         # a link or a contact: how to apply

Facts are the fields of `Facts` (below): yes/no facts take == and !=; numbers also take <, <=, >
and >=; choices (sector, degree) take ==, !=, in and not_in (`in` with a list: [ic, ai]).
Percentages are written as numbers from 0 to 100; revenue in millions of RMB.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from langchain_core.documents import Document
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, SequenceNode

from knowledge.facts import FACTS
from knowledge.language import Language, detect_language
from knowledge.reading import LoadError, read_utf8
from knowledge.safe_yaml import NoAliasLoader
from knowledge.schemes import Scheme

RULES_FOLDER = "programmes"
RULE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Problem:
    """One mistake in a rule file."""

    line: int
    message: str


class RuleError(ValueError):
    """A rule file that cannot be used, with every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"line {p.line}: {p.message}" for p in self.problems))


Loc = tuple[int | str, ...]


def _node_at(root: Node, loc: Loc) -> Node:
    """The deepest YAML node along a validation error's location."""
    node = root
    for part in loc:
        child: Node | None = None
        if isinstance(node, MappingNode):
            child = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return node


def _where(loc: Loc) -> str:
    names = [part for part in loc if isinstance(part, str)]
    if not names:
        return "rule file"
    if names[-1] == "conditions":
        return "condition"
    return f"'{names[-1]}' test" if names[-1] in ("when", "unless") else names[-1]


def _message(error: ErrorDetails) -> str:
    loc, kind = error["loc"], error["type"]
    if kind == "missing":
        return f"{_where(loc[:-1])} has no {loc[-1]}"
    if kind == "extra_forbidden":
        return f"unknown key '{loc[-1]}' in {_where(loc[:-1])}"
    if kind == "string_too_short":
        return f"{_where(loc[:-1])} has an empty {loc[-1]}"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return f"{'.'.join(map(str, loc))}: {error['msg']}"


def _semantic_problems(scheme: Scheme, root: Node, kb_root: Path | None) -> Iterator[Problem]:
    """What the schema alone cannot see: facts about the wrong subject, policies that don't exist."""
    for index, condition in enumerate(scheme.conditions):
        for key, test in zip((None, "when", "unless"), (condition, condition.when, condition.unless), strict=True):
            if test is not None and FACTS[test.fact].subject != scheme.applies_to:
                loc: Loc = ("conditions", index, *((key,) if key else ()), "fact")
                yield Problem(
                    _node_at(root, loc).start_mark.line + 1,
                    f"fact '{test.fact}' is about a {FACTS[test.fact].subject}, "
                    f"but this scheme applies to a {scheme.applies_to}",
                )
    if kb_root is None:
        return
    policies: list[tuple[Loc, str | None]] = [(("policy",), scheme.policy)]
    policies += [(("conditions", i, "policy"), c.policy) for i, c in enumerate(scheme.conditions)]
    for loc, policy in policies:
        if policy is not None and not (kb_root / policy).is_file():
            yield Problem(_node_at(root, loc).start_mark.line + 1, f"policy '{policy}' is not in the knowledge base")


def _compose(text: str) -> tuple[Node, object]:
    loader = NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RuleError([Problem(1, "the file is empty")])
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RuleError([Problem(mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem}")]) from exc
    finally:
        loader.dispose()


def parse_scheme(text: str, kb_root: Path | None = None) -> Scheme:
    """Validate a rule file's text; with `kb_root`, also check that the cited policies exist."""
    root, data = _compose(text)
    if not isinstance(data, dict):
        raise RuleError(
            [Problem(1, "a rule file is a mapping with scheme:, title:, policy:, applies_to:, conditions:")]
        )
    try:
        scheme = Scheme.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(_node_at(root, e["loc"]).start_mark.line + 1, _message(e)) for e in exc.errors()]
        raise RuleError(sorted(problems, key=lambda p: p.line)) from exc
    problems = list(_semantic_problems(scheme, root, kb_root))
    if problems:
        raise RuleError(problems)
    return scheme


def is_rule_file(path: Path, root: Path) -> bool:
    """True for YAML under a `programmes/` folder of a source (or a source that is that folder)."""
    folders = path.relative_to(root.parent).parts[:-1]
    return path.suffix.lower() in RULE_SUFFIXES and RULES_FOLDER in folders


def rule_files(sources: Iterable[Path]) -> Iterator[tuple[Path, Path]]:
    """(rule file, its source root) for every rule file under the sources, hidden files skipped."""
    for source in sources:
        root = source.parent if source.is_file() else source
        candidates = [source] if source.is_file() else sorted(source.rglob("*"))
        for path in candidates:
            hidden = any(part.startswith((".", "~$")) for part in path.relative_to(root).parts)
            if path.is_file() and not hidden and is_rule_file(path, root):
                yield path, root


def read_scheme(path: Path, root: Path) -> Scheme:
    """The scheme in a rule file; a `LoadError` naming the lines of its mistakes otherwise."""
    try:
        return parse_scheme(read_utf8(path), kb_root=root)
    except (RuleError, UnicodeDecodeError) as exc:
        raise LoadError(path, str(exc)) from exc


def describe(scheme: Scheme, language: Language) -> str:
    """The scheme's conditions as a short Markdown section, for retrieval and for staff."""
    heading = {"en": "Eligibility conditions", "zh": "申请条件"}[language]
    lines = [f"## {scheme.title.get(language)}: {heading}", ""]
    if scheme.benefit:
        lines += [scheme.benefit.get(language), ""]
    lines += [f"- {c.wording(language)} ({scheme.policy_of(c)} {c.clause})" for c in scheme.conditions]
    return "\n".join(lines)


def rule_documents(path: Path, root: Path) -> list[Document]:
    """A rule file as one prose document (both languages), so retrieval finds the rules too."""
    scheme = read_scheme(path, root)
    text = "\n\n".join(describe(scheme, language) for language in ("en", "zh"))
    title = " / ".join(dict.fromkeys(scheme.title.get(lang) for lang in ("en", "zh")))  # type: ignore[arg-type]
    metadata = {
        "source": path.relative_to(root).as_posix(),
        "title": title,
        "language": detect_language(text),
        "kind": "rules",
        "topics": "eligibility",
        "policy": scheme.policy,
    }
    return [Document(page_content=text, metadata=metadata)]
