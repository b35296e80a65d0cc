"""The facts eligibility rules speak of: what a user says about their company or themselves.

Each field of `Facts` is one fact of the vocabulary rule files may name (`knowledge.rules`); its definition carries whom
it describes and the question the guided check asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

Scalar = bool | int | float | str


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
