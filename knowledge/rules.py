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

Facts are the fields of `Facts` (below): yes/no facts take == and !=; numbers also take <, <=, >
and >=; choices (sector, degree) take ==, !=, in and not_in (`in` with a list: [ic, ai]).
Percentages are written as numbers from 0 to 100; revenue in millions of RMB.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from langchain_core.documents import Document
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, SequenceNode

from knowledge.language import Language, detect_language
from knowledge.loaders import LoadError
from knowledge.safe_yaml import NoAliasLoader

RULES_FOLDER = "programmes"
RULE_SUFFIXES = (".yaml", ".yml")


class Subject(StrEnum):
    """Whom a scheme's facts describe."""

    PERSON = "person"
    COMPANY = "company"


class Sector(StrEnum):
    """The programme's key industries."""

    IC = "ic"
    BIOMEDICINE = "biomedicine"
    AI = "ai"
    CIVIL_AVIATION = "civil_aviation"
    ADVANCED_MANUFACTURING = "advanced_manufacturing"
    NEW_MATERIALS = "new_materials"
    ICT = "ict"
    NEW_ENERGY = "new_energy"


class Degree(StrEnum):
    """Highest degree, lowest first."""

    BACHELOR = "bachelor"
    MASTER = "master"
    PHD = "phd"


def _fact(subject: Subject, description: str, ask: tuple[str, str], **limits: float) -> Any:
    """A fact's definition: whom it describes, and the question the guided check asks for it (English, Chinese;
    {district}, {city} and {short} are filled from programme.yaml)."""
    extra = {"subject": subject.value, "ask": {"en": ask[0], "zh": ask[1]}}
    return Field(None, description=description, json_schema_extra=extra, **limits)


class Facts(BaseModel):
    """What a user has said about their company or themselves; None means not said."""

    registered_in_district: bool | None = _fact(
        Subject.COMPANY,
        "The company is registered in Pudong New Area.",
        ask=("Is your company registered in {district}?", "公司是否在{district}注册？"),
    )
    registered_in_city: bool | None = _fact(
        Subject.COMPANY,
        "The company is registered in Shanghai.",
        ask=("Is your company registered in {city}?", "公司是否在{city}注册？"),
    )
    years_since_registration: float | None = _fact(
        Subject.COMPANY,
        "Years since the company was registered.",
        ge=0,
        ask=("How many years ago was your company registered? (e.g. 3)", "公司成立几年了？（例如：3）"),
    )
    headcount: int | None = _fact(
        Subject.COMPANY,
        "Number of employees.",
        ge=0,
        ask=("How many employees does your company have? (e.g. 40)", "公司有多少名员工？（例如：40）"),
    )
    rd_staff: int | None = _fact(
        Subject.COMPANY,
        "Number of employees working in R&D.",
        ge=0,
        ask=("How many of your employees work in R&D?", "研发人员有多少人？"),
    )
    rd_staff_share: float | None = _fact(
        Subject.COMPANY,
        "R&D staff as a percentage of all employees.",
        ge=0,
        le=100,
        ask=(
            "What share of your staff works in R&D, in percent? (e.g. 25)",
            "研发人员占职工总数的百分比是多少？（例如：25）",
        ),
    )
    revenue_million_rmb: float | None = _fact(
        Subject.COMPANY,
        "Last year's revenue in millions of RMB.",
        ge=0,
        ask=(
            "What was last year's revenue, in millions of RMB? (e.g. 12.5; 0 if none)",
            "上年度营业收入是多少百万元？（例如：12.5；没有收入填0）",
        ),
    )
    sector: Sector | None = _fact(
        Subject.COMPANY,
        "The company's main industry.",
        ask=("Which industry is your main business in?", "公司的主营业务属于哪个领域？"),
    )
    member_status: bool | None = _fact(
        Subject.COMPANY,
        "The company is a GOI SME member (holds a member number).",
        ask=(
            "Is your company already a {short} SME member (with a member number)?",
            "公司是否已是{short}中小企业会员（持有会员编号）？",
        ),
    )
    largest_partner_share: float | None = _fact(
        Subject.COMPANY,
        "Largest percentage of the company's shares held by one large company.",
        ge=0,
        le=100,
        ask=(
            "What percentage of your company's shares does the largest {short} member company hold? (0 if none)",
            "持股最多的{short}成员大企业持有公司多少百分比的股份？（没有填0）",
        ),
    )
    listed: bool | None = _fact(
        Subject.COMPANY,
        "The company is listed on a stock exchange.",
        ask=("Is your company listed on a stock exchange?", "公司是否已在证券交易所上市？"),
    )
    age: int | None = _fact(
        Subject.PERSON, "The applicant's age in years.", ge=0, le=120, ask=("How old are you?", "您今年多少周岁？")
    )
    degree: Degree | None = _fact(
        Subject.PERSON,
        "The applicant's highest degree.",
        ask=("What is your highest full-time degree?", "您的最高全日制学历是？"),
    )
    social_insurance_months: int | None = _fact(
        Subject.PERSON,
        "Months of social insurance paid in Pudong.",
        ge=0,
        ask=(
            "For how many months has your employer paid your social insurance in {district}?",
            "用人单位已在{district}为您连续缴纳社保多少个月？",
        ),
    )
    owns_home_in_city: bool | None = _fact(
        Subject.PERSON,
        "The applicant or spouse owns a home in Shanghai.",
        ask=("Do you or your spouse own a home in {city}?", "您或配偶在{city}是否有自有住房？"),
    )
    employer_is_member: bool | None = _fact(
        Subject.PERSON,
        "The applicant's employer is a GOI member company.",
        ask=(
            "Do you work full-time for a {short} member company or {short} SME member?",
            "您是否在{short}成员企业或{short}中小企业会员全职工作？",
        ),
    )
    conflicts: SkipJsonSchema[dict[str, list[str]]] = Field(
        default_factory=dict, description="Facts stated twice with different values: fact -> the values as said."
    )

    @model_validator(mode="after")
    def _derive(self) -> Facts:
        """Fill what follows from other facts: R&D share from counts, Shanghai from Pudong."""
        if (
            self.rd_staff_share is None
            and self.rd_staff is not None
            and self.headcount
            and self.rd_staff <= self.headcount
        ):
            self.rd_staff_share = round(100 * self.rd_staff / self.headcount, 1)
        if self.registered_in_city is None and self.registered_in_district:
            self.registered_in_city = True
        return self


FactKind = Literal["bool", "number", "choice"]


@dataclass(frozen=True)
class FactSpec:
    """One fact of the vocabulary: whom it describes, what values it takes, how the guided check asks for it."""

    name: str
    subject: Subject
    kind: FactKind
    ask: dict[str, str]  # language -> question, with {district}, {city}, {short} placeholders
    choices: tuple[str, ...] = ()


def _spec(name: str, annotation: Any, extra: dict[str, Any]) -> FactSpec:
    value_type = next(arg for arg in get_args(annotation) if arg is not type(None))
    subject, ask = Subject(extra["subject"]), extra["ask"]
    if value_type is bool:
        return FactSpec(name, subject, "bool", ask)
    if issubclass(value_type, StrEnum):
        return FactSpec(name, subject, "choice", ask, tuple(value_type))
    return FactSpec(name, subject, "number", ask)


# The vocabulary is the fields of Facts that carry a subject (`conflicts` is bookkeeping).
FACTS: dict[str, FactSpec] = {
    name: _spec(name, field.annotation, field.json_schema_extra)
    for name, field in Facts.model_fields.items()
    if isinstance(field.json_schema_extra, dict)
}

Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in"]
OPS: tuple[str, ...] = get_args(Op)
KIND_OPS: dict[FactKind, tuple[str, ...]] = {"bool": OPS[:2], "number": OPS[:6], "choice": (*OPS[:2], *OPS[6:])}
_APPLY: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda fact, values: fact in values,
    "not_in": lambda fact, values: fact not in values,
}
Scalar = bool | int | float | str


def _describe_kind(spec: FactSpec) -> str:
    if spec.kind == "choice":
        return f"one of: {', '.join(spec.choices)}"
    return "true or false" if spec.kind == "bool" else "a number"


def _check_scalar(spec: FactSpec, value: Scalar) -> None:
    fits = {
        "bool": isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "choice": value in spec.choices,
    }[spec.kind]
    if not fits:
        raise ValueError(f"value '{value}' does not fit {spec.name} ({_describe_kind(spec)})")


def _kleene_or(values: Iterable[bool | None]) -> bool | None:
    """True if any is True, False if all are False, else unknown."""
    values = list(values)
    return True if True in values else (False if all(v is False for v in values) else None)


class Comparison(BaseModel):
    """`fact op value`: true, false, or unknown when the fact was not said."""

    model_config = ConfigDict(extra="forbid")

    fact: str
    op: Op
    value: Scalar | list[Scalar]

    @field_validator("fact")
    @classmethod
    def _known_fact(cls, fact: str) -> str:
        if fact not in FACTS:
            close = difflib.get_close_matches(fact, FACTS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ValueError(f"unknown fact '{fact}' ({hint}known: {', '.join(FACTS)})")
        return fact

    @field_validator("op", mode="before")
    @classmethod
    def _known_op(cls, op: object) -> object:
        if op not in OPS:
            raise ValueError(f"operator '{op}' is not one of {', '.join(OPS)}")
        return op

    @field_validator("op")
    @classmethod
    def _op_fits_fact(cls, op: str, info: ValidationInfo) -> str:
        spec = FACTS.get(info.data.get("fact", ""))
        if spec and op not in KIND_OPS[spec.kind]:
            raise ValueError(
                f"operator '{op}' does not apply to {spec.name} ({_describe_kind(spec)}); "
                f"use {', '.join(KIND_OPS[spec.kind])}"
            )
        return op

    @field_validator("value")
    @classmethod
    def _value_fits_fact(cls, value: Scalar | list[Scalar], info: ValidationInfo) -> Scalar | list[Scalar]:
        spec, op = FACTS.get(info.data.get("fact", "")), info.data.get("op")
        if spec is None or op is None:
            return value
        if op in ("in", "not_in") and not (isinstance(value, list) and value):
            raise ValueError(f"'{op}' needs a list of values, e.g. [{', '.join(spec.choices[:2])}]")
        if op not in ("in", "not_in") and isinstance(value, list):
            raise ValueError(f"'{op}' needs one value, not a list")
        for item in value if isinstance(value, list) else [value]:
            _check_scalar(spec, item)
        return value

    def holds(self, facts: Facts) -> bool | None:
        """Whether the comparison holds for these facts; None when the fact is unknown."""
        stated = getattr(facts, self.fact)
        return None if stated is None else _APPLY[self.op](stated, self.value)


class Localized(BaseModel):
    """A text in English, Chinese or both."""

    model_config = ConfigDict(extra="forbid")

    en: str | None = None
    zh: str | None = None

    @model_validator(mode="after")
    def _some_text(self) -> Localized:
        if not (self.en or self.zh):
            raise ValueError("give the text in en, zh or both")
        return self

    def get(self, language: Language) -> str:
        """The text in `language`, else in the other one."""
        preferred = self.en if language == "en" else self.zh
        return preferred or self.en or self.zh or ""


class Keywords(BaseModel):
    """Words users name the scheme by, per language."""

    model_config = ConfigDict(extra="forbid")

    en: list[str] = Field(default_factory=list)
    zh: list[str] = Field(default_factory=list)


class Condition(Comparison):
    """One requirement of a scheme, with the clause it comes from."""

    clause: str = Field(min_length=1)
    says: Localized | None = None
    when: Comparison | None = None
    unless: Comparison | None = None
    policy: str | None = None

    def outcome(self, facts: Facts) -> bool | None:
        """Met, not met, or unknown; a false `when` or a true `unless` means met."""
        parts: list[bool | None] = [self.holds(facts)]
        if self.when is not None:
            when = self.when.holds(facts)
            parts.append(None if when is None else not when)
        if self.unless is not None:
            parts.append(self.unless.holds(facts))
        return _kleene_or(parts)

    def comparisons(self) -> list[Comparison]:
        """The condition itself and its `when`/`unless` tests."""
        return [self, *(c for c in (self.when, self.unless) if c is not None)]

    def wording(self, language: Language) -> str:
        """The policy's words for this condition, or `fact op value` when the file gives none."""
        return self.says.get(language) if self.says else f"{self.fact} {self.op} {self.value}"


class Scheme(BaseModel):
    """One scheme's eligibility rules, as written in a rule file."""

    model_config = ConfigDict(extra="forbid")

    scheme: str
    title: Localized
    policy: str
    applies_to: Subject
    benefit: Localized | None = None
    keywords: Keywords = Field(default_factory=Keywords)
    conditions: list[Condition] = Field(min_length=1)

    @field_validator("scheme")
    @classmethod
    def _slug(cls, scheme: str) -> str:
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", scheme):
            raise ValueError(f"scheme '{scheme}' must be a short id of lowercase letters, digits and dashes")
        return scheme

    def names(self) -> list[str]:
        """Every way users may name the scheme: its keywords and titles in both languages."""
        return [name for name in {*self.keywords.en, *self.keywords.zh, self.title.en, self.title.zh} if name]

    def policy_of(self, condition: Condition) -> str:
        """The document a condition's clause is in."""
        return condition.policy or self.policy


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
        return parse_scheme(path.read_text(encoding="utf-8"), kb_root=root)
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
