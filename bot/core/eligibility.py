"""Eligibility from staff-written rules: facts parsed from the question, checked clause by clause.

No model guesses the outcome: `parse_facts` reads numbers and keywords (English and Chinese) and
`check` applies the rule files in `programmes/` (see `knowledge.rules`). `extract_facts` is the
optional LLM reader of the same facts; the rules still decide.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field, ValidationError

from bot.core.models import Answer, Source
from bot.core.texts import text
from knowledge.language import Language
from knowledge.loaders import LoadError, load_file
from knowledge.programme import Programme, ProgrammeError, load_programme
from knowledge.retrieve import Passage
from knowledge.rules import FACTS, Condition, Degree, Facts, Scalar, Scheme, Sector, read_scheme, rule_files

log = logging.getLogger(__name__)

BUDGET = 600  # characters: what a phone shows without scrolling


class Outcome(StrEnum):
    """What the rules say about one scheme."""

    QUALIFIES = "qualifies"
    DOES_NOT_QUALIFY = "does_not_qualify"
    CANNOT_TELL = "cannot_tell"


class Verdict(BaseModel):
    """One scheme checked against the facts."""

    scheme: Scheme
    outcome: Outcome
    deciding: list[Condition] = Field(description="The unmet conditions; or the undecided ones, nearest first.")
    missing: list[str] = Field(description="Facts that would decide the undecided conditions.")
    conflicts: dict[str, list[str]] = Field(description="Contradictory facts an undecided condition needs.")
    decided: int = Field(description="How many conditions the facts settled.")

    @property
    def informative(self) -> bool:
        """True when the facts settled a condition or contradict each other on one."""
        return self.decided > 0 or bool(self.conflicts)


def _closeness(condition: Condition, facts: Facts) -> int:
    """0 when conflicting facts block the condition, 1 when some of its facts are known, else 2."""
    names = [c.fact for c in condition.comparisons()]
    if any(name in facts.conflicts for name in names):
        return 0
    return 1 if any(getattr(facts, name) is not None for name in names) else 2


def _verdict(facts: Facts, scheme: Scheme) -> Verdict:
    outcomes = [(condition, condition.outcome(facts)) for condition in scheme.conditions]
    unmet = [condition for condition, met in outcomes if met is False]
    undecided = sorted((c for c, met in outcomes if met is None), key=lambda c: _closeness(c, facts))
    unknown = {c.fact for condition in undecided for c in condition.comparisons() if getattr(facts, c.fact) is None}
    outcome = Outcome.DOES_NOT_QUALIFY if unmet else Outcome.CANNOT_TELL if undecided else Outcome.QUALIFIES
    return Verdict(
        scheme=scheme,
        outcome=outcome,
        deciding=unmet or undecided,
        missing=[fact for fact in FACTS if fact in unknown and fact not in facts.conflicts],
        conflicts={fact: values for fact, values in facts.conflicts.items() if fact in unknown},
        decided=len(outcomes) - len(undecided),
    )


def check(facts: Facts, schemes: list[Scheme]) -> list[Verdict]:
    """A verdict per scheme: qualifies, does not (with the unmet conditions) or can't tell (with what's missing)."""
    return [_verdict(facts, scheme) for scheme in schemes]


# ---------------------------------------------------------------- facts from free text

_EN_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
               "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
               "fifty": 50}  # fmt: skip
_ZH_DIGITS = {char: digit for digit, char in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_MONEY_UNITS = {"万": 0.01, "百万": 1, "千万": 10, "亿": 100, "k": 0.001, "thousand": 0.001, "million": 1, "mn": 1,
                "m": 1, "billion": 1000, "bn": 1000}  # fmt: skip

NUM = (
    r"(?P<n>\d+(?:\.\d+)?(?![\d.])|[零〇一二两三四五六七八九十百千]+|半|(?<![a-z])(?:"
    + "|".join(_EN_NUMBERS)
    + r")(?![a-z]))"
)
PCT = r"(?P<n>\d+(?:\.\d+)?)\s*%"
LESS = r"(?P<q>less than |under |almost |nearly |不到|不满|未满|近|快)?"
FOUNDED = r"(?:found|establish|regist|incorporat|set up|start|launch)\w*"
ZH_FOUNDED = r"(?:成立|注册|创立|创办)"
COMPANY = r"(?:company|startup|start-up|firm|business|venture|enterprise)"
PEOPLE = r"(?:people|ppl|employees|staff|persons|workers|ftes?|team members|heads)"
RD = r"(?:r\s*&\s*d|research(?: and development)?)"
MEMBER_EN = r"(?:an?\s+)?(?:goi\s+)?(?:sme\s+)?members?\b"
MEMBER_ZH = r"(?:goi)?的?(?:中小企业)?会员"
HOME_EN = r"(?:a\s+|an\s+|any\s+|my\s+|our\s+)?(?:home|flat|apartment|house|property)"

# Pudong and its best-known areas, then the rest of Shanghai; any other place is "elsewhere".
DISTRICT_PLACES = ("pudong", "zhangjiang", "jinqiao", "lingang", "lujiazui", "waigaoqiao",
                   "浦东", "张江", "金桥", "临港", "陆家嘴", "外高桥")  # fmt: skip
CITY_PLACES = ("shanghai", "minhang", "xuhui", "jing'an", "jingan", "changning", "putuo", "hongkou", "yangpu",
               "huangpu", "baoshan", "jiading", "songjiang", "qingpu", "fengxian", "jinshan", "chongming",
               "上海", "闵行", "徐汇", "静安", "长宁", "普陀", "虹口", "杨浦", "黄浦", "宝山", "嘉定", "松江", "青浦",
               "奉贤", "金山", "崇明")  # fmt: skip
PLACE = "|".join(DISTRICT_PLACES + CITY_PLACES)
_NOT_PLACES = {"the", "a", "an", "our", "my", "this", "that", "china", "prc", "mainland", "same", "another"}


def _words(*words: str) -> str:
    """Whole English words even next to Chinese ("ic设计", "影像ai"), where \\b sees no boundary."""
    return r"(?<![a-z])(?:" + "|".join(words) + r")(?![a-z])"


SECTOR_WORDS: dict[Sector, str] = {
    Sector.IC: _words("ic", "eda", r"chips?(?!\s+in\b)", "fabless")
    + r"|integrated circuit|semiconductor|wafer|集成电路|芯片|半导体|晶圆",
    Sector.BIOMEDICINE: _words("drugs?", "biotech")
    + r"|bio-?medic|pharma|medical device|therapeut|vaccine|生物医药|医药|新药|创新药|药物|医疗器械|生物技术|制药|疫苗",
    Sector.AI: _words("ai", "llms?") + r"|artificial intelligence|machine learning|deep learning|computer vision"
    r"|人工智能|大模型|机器学习|深度学习|机器视觉|算法",
    Sector.CIVIL_AVIATION: _words("drones?", "evtol") + r"|aviation|aircraft|aerospace|航空|飞机|无人机|低空",
    Sector.ADVANCED_MANUFACTURING: r"robot|intelligent manufacturing|smart manufacturing|advanced manufacturing|"
    r"高端装备|智能制造|机器人|装备制造",
    Sector.NEW_MATERIALS: r"new materials?|advanced materials?|chemical|polymer|新材料|化工",
    Sector.ICT: _words("[56]g") + r"|telecom|communications? tech|optical communication|信息通信|通信",
    Sector.NEW_ENERGY: _words("evs?") + r"|new energy|renewable|solar|photovoltaic|batter(?:y|ies)|hydrogen|"
    r"energy storage|electric vehicle|wind power|low-carbon|新能源|光伏|储能|电池|氢能|绿色低碳|风电",
}

Read = Callable[[re.Match[str], date], Scalar]


def _number(token: str) -> float:
    """A number in digits, English words or Chinese numerals (十八, 三十七, 两, 半)."""
    if token[0].isdigit():
        return float(token)
    if token in _EN_NUMBERS:
        return _EN_NUMBERS[token]
    if token == "半":
        return 0.5
    total, digit = 0, 0
    for char in token:
        if char in _ZH_DIGITS:
            digit = _ZH_DIGITS[char]
        else:
            total, digit = total + (digit or 1) * _ZH_UNITS[char], 0
    return total + digit


def _n(match: re.Match[str], _: date) -> float:
    return _number(match.group("n"))


def _qualified(match: re.Match[str]) -> bool:
    return match.groupdict().get("q") is not None


def _years(match: re.Match[str], today: date) -> float:
    """A duration in years; "less than N" reads as just under N."""
    unit = match.groupdict().get("u") or "year"
    years = _n(match, today) / (12 if unit.startswith(("month", "月")) else 1)
    return round(years - 0.01, 2) if _qualified(match) else years


def _months(match: re.Match[str], today: date) -> int:
    """A duration in whole months; "less than N months" reads as N - 1."""
    months = int(_n(match, today) * (12 if match.group("u").startswith(("year", "年")) else 1))
    return months - 1 if _qualified(match) else months


def _since(match: re.Match[str], today: date) -> int:
    """Years from a founding year to today, counted in calendar years."""
    return max(today.year - int(match.group("y")), 0)


def _million_rmb(match: re.Match[str], today: date) -> float:
    """An amount in millions of RMB; without a unit it is in yuan."""
    unit = match.groupdict().get("u")
    return _n(match, today) * (_MONEY_UNITS[unit] if unit else 1e-6)


def _place(name: str) -> dict[str, Scalar]:
    """What naming a company's place says about the district and the city."""
    if name in ("shanghai", "上海"):
        return {"registered_in_city": True}
    if name in DISTRICT_PLACES:
        return {"registered_in_district": True}
    if name in CITY_PLACES:
        return {"registered_in_district": False, "registered_in_city": True}
    return {} if name in _NOT_PLACES else {"registered_in_district": False}


def _not_place(name: str) -> dict[str, Scalar]:
    """What "not in <place>" says: only a district or the city itself rules anything out."""
    if name in ("shanghai", "上海"):
        return {"registered_in_district": False, "registered_in_city": False}
    return {"registered_in_district": False} if name in DISTRICT_PLACES else {}


@dataclass(frozen=True)
class _Rule:
    """A pattern and the facts a match of it states."""

    pattern: re.Pattern[str]
    read: Callable[[re.Match[str], date], dict[str, Scalar]]


def _stating(fact: str, value: Read | Scalar, *patterns: str) -> tuple[_Rule, ...]:
    def read(match: re.Match[str], today: date) -> dict[str, Scalar]:
        return {fact: value(match, today) if callable(value) else value}

    return tuple(_Rule(re.compile(pattern), read) for pattern in patterns)


def _locating(reader: Callable[[str], dict[str, Scalar]], *patterns: str) -> tuple[_Rule, ...]:
    return tuple(_Rule(re.compile(pattern), lambda match, _: reader(match.group("p"))) for pattern in patterns)


# Most specific first: every match is blanked out before the next rule runs, so "2-year-old
# startup" is not also read as an age, nor "18 of them in R&D" as the headcount.
RULES: tuple[_Rule, ...] = (
    *_stating(
        "years_since_registration",
        _since,
        FOUNDED + r"\s+(?:back\s+)?in\s+(?P<y>(?:19|20)\d\d)\b",
        r"(?P<y>(?:19|20)\d\d)\s*年?\s*" + ZH_FOUNDED,
        ZH_FOUNDED + r"(?:于|在)\s*(?P<y>(?:19|20)\d\d)",
    ),
    *_stating("years_since_registration", 1, FOUNDED + r"\s+last\s+year", "去年" + ZH_FOUNDED),
    *_stating("years_since_registration", 0, FOUNDED + r"\s+this\s+year", r"(?:今年|刚刚?)" + ZH_FOUNDED),
    *_stating(
        "years_since_registration",
        _years,
        FOUNDED + r"\s+(?:only\s+|just\s+)?" + LESS + NUM + r"\s+(?P<u>years?|months?)\s+ago",
        r"(?<![a-z\d])" + NUM + r"[- ](?P<u>years?|yrs?|months?)[- ]old\s+" + COMPANY,
        r"(?:" + COMPANY + r"|we)\s+(?:is|are|'re|was|has been|have been)\s+(?:around\s+|operating\s+|registered\s+)?"
        r"(?:for\s+)?(?:only\s+|just\s+)?" + LESS + NUM + r"\s+(?P<u>years?|months?)(?!\s+of)",
        ZH_FOUNDED + r"(?:了|已|刚|才|已经|刚满|满|时间)*\s*" + LESS + NUM + r"\s*个?\s*(?P<u>年|月)",
    ),
    *_stating(
        "age",
        _n,
        r"(?<![\d.])(?P<n>\d{2}|[一二三四五六七八九十]{1,3})\s*周?岁",
        r"(?<![a-z\d])(?P<n>\d{2})[- ](?:years?|yrs?)[- ]old\b",
        r"\b(?:i'?m|i am|aged|age:?|my age is|age of)\s+(?P<n>\d{2})\b"
        r"(?!\.?\d|\s*(?:%|percent|months?|years? (?:ago|since|of)|" + PEOPLE + r"))",
        r"(?<![a-z\d])(?P<n>\d{2})\s*y/?o\b",
    ),
    *_stating(
        "rd_staff_share",
        _n,
        RD + r"\s*(?:staff|people|employees|headcount|personnel|team)[^.;,\d]{0,25}?" + PCT,
        PCT + r"\s*of\s+(?:our\s+|the\s+|all\s+)?(?:staff|employees|people|team|headcount)\s+"
        r"(?:are\s+|work\s+|working\s+|do\s+)?(?:in\s+|on\s+)?" + RD,
        r"研发人员(?:占|比例|占比)[^\d。,;]{0,10}" + PCT,
    ),
    *_stating(
        "rd_staff",
        _n,
        r"(?<![a-z\d.])" + NUM + r"\s+(?:of\s+(?:them|whom|us|those|these)\s+)?"
        r"(?:are\s+|work\s+|working\s+|do\s+|doing\s+)?(?:in\s+|on\s+)?" + RD + r"\b",
        RD
        + r"\s+(?:staff|people|employees|headcount|personnel|team|engineers)\s*(?:of|is|are|:|=)?\s*"
        + NUM
        + r"(?!\s*%)",
        r"研发(?:人员|团队|工程师)?\s*(?:有|共|约|:|为|是)?\s*" + NUM + r"\s*(?:个|位)?(?:人|名)",
        NUM + r"\s*(?:个|名|位)?人\s*(?:做|从事|搞|在做|负责|是|为|在)\s*研发",
    ),
    *_stating(
        "headcount",
        _n,
        r"(?<![a-z\d.])" + NUM + r"\s*(?:full[- ]time\s+)?" + PEOPLE + r"\b",
        r"\bteam\s+of\s+" + NUM + r"\b",
        r"(?<![a-z\d])" + NUM + r"[- ]person\b",
        r"headcount\s*(?:of|is|:)?\s*" + NUM,
        r"(?:总人数|员工总数|职工总数|员工人数|职工人数)\s*(?:有|为|是|:|约)?\s*" + NUM,
        r"(?:员工|职工|团队|公司|我们)(?:有|共|共有|一共|约|:|人数)?\s*" + NUM + r"\s*(?:个|名|位)?(?:人|名)",
        NUM + r"\s*(?:个|名|位)?(?:全职)?(?:员工|职工)",
        r"(?:^|(?<=[,、。;\s]))" + NUM + r"\s*个?人(?=[,、。;\s的]|$)",
    ),
    *_stating(
        "revenue_million_rmb",
        0,
        r"(?:no|zero|without|haven't (?:had|made) any|not (?:yet )?(?:made|generated|had) any)"
        r"\s+(?:revenue|sales|income)",
        r"pre-revenue",
        r"(?:没有|没|无|尚无|暂无|零)(?:营业)?(?:收入|营收)|(?:营业)?(?:收入|营收)为?(?:零|0)(?![\d.])",
    ),
    *_stating(
        "revenue_million_rmb",
        _million_rmb,
        r"(?:revenue|sales|turnover)[^.;\d]{0,25}?(?:rmb|cny|¥|yuan)?\s*(?P<n>\d+(?:\.\d+)?)(?![\d.]|\s*%)\s*"
        r"(?P<u>million|mn|m(?![a-z])|billion|bn|k(?![a-z])|thousand|亿|千万|百万|万)?",
        r"(?P<n>\d+(?:\.\d+)?)\s*(?P<u>million|mn|m|billion|bn|k|thousand)\s*(?:rmb|yuan|cny)?\s+(?:in\s+|of\s+)?"
        r"(?:annual\s+)?(?:revenue|sales|turnover)",
        r"(?:营业收入|营收|收入|销售额)[^\d。,;%]{0,8}?(?P<n>\d+(?:\.\d+)?)(?![\d.]|\s*%)\s*(?P<u>亿|千万|百万|万)?",
        r"(?P<n>\d+(?:\.\d+)?)\s*(?P<u>亿|千万|百万|万)元?的?(?:营业收入|营收|收入|销售额)",
    ),
    *_stating("largest_partner_share", 100, r"(?:wholly[- ]owned|100%\s*owned)\s+(?:subsidiary|by)|全资子公司"),
    *_stating(
        "largest_partner_share",
        _n,
        r"(?:holds?|owns?|has|have|controls?)\s+(?:a\s+|about\s+|around\s+)?" + PCT,
        PCT + r"\s*(?:of\s+(?:our|the|my)\s+(?:shares|equity|stock|company)|of\s+us\b|owned\s+by)",
        PCT + r"\s*(?:stake|equity|shareholding)",
        r"owned\s+" + PCT + r"\s+by",
        r"(?:持股|持有|占股|控股|拥有)[^\d。,;]{0,10}?" + PCT,
        PCT + r"\s*的?(?:股份|股权|股)",
    ),
    *_stating(
        "social_insurance_months",
        _months,
        r"(?:社保|社会保险)[^\d。,;一二两三四五六七八九十半]{0,8}" + LESS + NUM + r"\s*个?\s*(?P<u>月|年)",
        LESS + NUM + r"\s*个?\s*(?P<u>月|年)的?(?:社保|社会保险)",
        r"social (?:insurance|security)[^.;\d]{0,30}?(?:for\s+)?(?:only\s+|just\s+)?"
        + LESS
        + NUM
        + r"\s+(?P<u>months?|years?)",
        LESS + NUM + r"\s+(?P<u>months?|years?)\s+of\s+(?:\w+\s+)?social (?:insurance|security)",
    ),
    *_stating("degree", Degree.PHD, r"ph\.?\s?d|doctorate|doctoral|博士"),
    *_stating("degree", Degree.MASTER, r"master(?:'s|s|\s+degree|\s+of)\b|\bm\.?sc\b|\bmba\b|\bmeng\b|硕士|研究生"),
    *_stating("degree", Degree.BACHELOR, r"bachelor|\bb\.?sc\b|undergraduate degree|本科|学士"),
    *_stating(
        "employer_is_member",
        False,
        r"employer\s+is(?:n't|\s+not)\s+(?:a\s+)?(?:goi\s+)?member",
        r"(?:单位|公司|企业)(?:还?不是|并非|非)(?:goi)?(?:成员|会员)",
    ),
    *_stating(
        "employer_is_member",
        True,
        r"(?:work|working|employed|job|joined|hired|started)\b[^.;?!]{0,40}?\b(?:goi\s+)?member\s+(?:company|firm|enterprise)",
        r"employer\s+is\s+(?:a\s+)?(?:goi\s+)?member",
        r"(?:入职|就职|工作于|任职于?|受聘于?|在)[^。,;?]{0,15}?(?:goi)?(?:成员|会员)大?(?:企业|单位|公司)",
        r"(?:goi)?(?:成员|会员)大?(?:企业|单位|公司)的?(?:员工|工作|上班|任职|就职)",
    ),
    *_stating(
        "member_status",
        False,
        r"(?:not|isn'?t|aren'?t|never)\s+(?:yet\s+|been\s+)?" + MEMBER_EN,
        r"non-members?|haven'?t\s+joined(?:\s+goi)?",
        r"(?:还?不是|并非|非|尚未成为|还没有?成为|没有?加入|未加入|还没有?加入)" + MEMBER_ZH,
        r"预备会员",
    ),
    *_stating(
        "member_status",
        True,
        r"(?:we(?:'re| are)|we(?:'ve| have) (?:joined|become)|already)\s+" + MEMBER_EN,
        r"member(?:ship)?\s+(?:number|no\.?|id)\b|joined\s+goi",
        r"(?:是|已经?是|已经?(?:加入|成为))" + MEMBER_ZH,
        r"会员编号|已经?加入goi",
    ),
    *_stating(
        "owns_home_in_city",
        False,
        r"(?:don'?t|do not|doesn'?t|does not|never)\s+owns?\s+" + HOME_EN,
        r"not\s+a\s+homeowner|no\s+" + HOME_EN + r"\s+of\s+(?:my|our)\s+own",
        r"名下(?:无|没有?)(?:住)?房|无自有住房|无房|没有?(?:自有)?(?:住)?房(?:子|产)?(?![补租])|没有?买(?:过)?房|未购房",
    ),
    *_stating(
        "owns_home_in_city",
        True,
        r"\b(?:i|we|my (?:wife|husband|spouse))\s+(?:already\s+)?owns?\s+" + HOME_EN,
        r"bought\s+" + HOME_EN + r"|homeowner",
        r"名下有(?:住)?房|有(?:自己的|自有)(?:住)?房|买了房|已购房|有房(?![补租])",
    ),
    *_stating(
        "listed",
        False,
        r"(?:not|isn'?t|aren'?t|never been)\s+(?:publicly\s+)?listed|unlisted",
        r"未上市|没有?上市|非上市",
    ),
    *_stating("listed", True, r"(?:we(?:'re| are)|is)\s+(?:publicly\s+)?listed|listed\s+on\s+the", r"已上市|上市公司"),
    *_locating(
        _not_place,
        r"(?:not|n't)\s+(?:registered\s+|based\s+|located\s+)?(?:in\s+)?(?:the\s+)?(?P<p>" + PLACE + r")\b",
        r"(?:outside|rather than|instead of)\s+(?:of\s+)?(?P<p>" + PLACE + r")\b",
        r"(?:不在|并非|不是|不属于|非)(?P<p>" + PLACE + r")",
    ),
    *_locating(
        _place,
        r"regist\w*\s+(?:in|at)\s+(?:shanghai'?s?\s+)?(?:the\s+)?(?P<p>" + PLACE + r"|[a-z][a-z'-]+)",
        r"注册(?:在|于|地(?:是|在|为)?)\s*(?:上海市?)?(?P<p>" + PLACE + r"|[\u4e00-\u9fff]{2})",
        r"在(?:上海市?)?(?P<p>" + PLACE + r"|[\u4e00-\u9fff]{2})(?:市|区|新区)?注册",
        r"\b(?:in|at|from|based in|located in)\s+(?:the\s+)?(?P<p>" + PLACE + r")\b",
        r"(?:在|位于|落户|入驻|地处|来自)(?:上海市?)?(?P<p>" + PLACE + r")",
    ),
    *(rule for sector, words in SECTOR_WORDS.items() for rule in _stating("sector", sector, words)),
)

# Facts where several values are not a contradiction: the highest degree and the largest stake count.
_HIGHEST: dict[str, Callable[[Scalar], float]] = {
    "degree": lambda degree: list(Degree).index(Degree(degree)),
    "largest_partner_share": float,
}


def normalize(text: str) -> str:
    """Lower case, half-width digits and punctuation, straight quotes, no thousands separators."""
    folded = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'").lower()
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", folded)


def _found(text: str, today: date) -> dict[str, list[Scalar]]:
    """Every value each rule finds, most specific rules first, each match blanked once read."""
    found: dict[str, list[Scalar]] = {}
    for rule in RULES:
        for match in rule.pattern.finditer(text):
            for fact, value in rule.read(match, today).items():
                found.setdefault(fact, []).append(value)
        text = rule.pattern.sub(lambda m: " " * len(m.group()), text)
    return found


def _as_said(value: Scalar) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _merge(found: dict[str, list[Scalar]]) -> Facts:
    """One value per fact; different values for the same fact become a conflict."""
    values: dict[str, Scalar] = {}
    conflicts: dict[str, list[str]] = {}
    for fact, candidates in found.items():
        distinct = list(dict.fromkeys(candidates))
        if fact in _HIGHEST:
            values[fact] = max(distinct, key=_HIGHEST[fact])
        elif len(distinct) == 1:
            values[fact] = distinct[0]
        else:
            conflicts[fact] = [_as_said(value) for value in distinct]
    try:
        return Facts.model_validate({**values, "conflicts": conflicts})
    except ValidationError as exc:  # an implausible number (a 300% stake) is dropped, not fatal
        bad = {error["loc"][0] for error in exc.errors()}
        return Facts.model_validate({**{k: v for k, v in values.items() if k not in bad}, "conflicts": conflicts})


def parse_facts(text: str, today: date | None = None) -> Facts:
    """The facts a message states, in English or Chinese, without an LLM."""
    return _merge(_found(normalize(text), today or date.today()))


_EXTRACT_PROMPT = (
    "Read the facts the user states about their company or about themselves. Fill a field only when the "
    "message states it and leave the others null. Percentages are numbers from 0 to 100, revenue is in "
    "millions of RMB, and years since registration count from the founding year to {year}."
)


async def extract_facts(chat: BaseChatModel, text: str, today: date | None = None) -> Facts:
    """The same facts read by an LLM, for phrasings the patterns miss; the rules still decide."""
    reader = chat.with_structured_output(Facts)
    year = (today or date.today()).year
    result = await reader.ainvoke([SystemMessage(_EXTRACT_PROMPT.format(year=year)), HumanMessage(text)])
    return Facts.model_validate(result)


# ---------------------------------------------------------------- answering

_ASKS = re.compile(
    r"\b(?:eligib\w*|qualif\w*|entitled)\b"
    r"|\b(?:can|could|may)\s+(?:we|i|my\s+\w+|our\s+\w+)\b"
    r"|\b(?:will|would|do|does|am|are|is)\s+(?:we|i|my\s+\w+|our\s+\w+)\s+(?:still\s+|also\s+|even\s+)?"
    r"(?:get|apply|claim|receive|use|join|have|obtain|become|count|benefit|be\s+(?:a|an|eligible))\b"
    r"|\bwork\s+for\s+(?:us|me)\b"
    r"|能不能|能否|可不可以|可否|是否(?:可以|能|符合|有资格)|有没有资格|有资格|符合|满足|够条件|够格"
    r"|(?:可以|能|可)(?:申请|申报|领|拿|享受|报|加入|成为)|会不会(?:卡|影响)|(?:能|可以|可|行)[^。?!]{0,20}(?:吗|么|嘛)"
)


# "How much of the fee can we get back?" asks for a figure, not whether the asker qualifies.
_AMOUNT = re.compile(r"\bhow\s+(?:much|many|long|often)\b|多少|几[个天年月次]|多久|多长")


def is_eligibility_question(question: str) -> bool:
    """True for "can we get…", "do we qualify", "能…吗", "可以申请", "符合条件" and the like, but not "how much…"."""
    message = normalize(question)
    return _ASKS.search(message) is not None and _AMOUNT.search(message) is None


# Headings under which policies state who may apply ("2. Who can apply", "一、适用对象", "申请条件").
_CONDITIONS = re.compile(
    r"who (can|may) apply|who qualifies|who counts|eligib|condition|requirement|对象|条件|资格|适用范围",
    re.IGNORECASE,
)


def conditions_first(passages: list[Passage]) -> list[Passage]:
    """The best document's conditions sections, then the best passage and the rest: a "can we…?" answer
    needs both, and the conditions must not be the part a phone-sized answer cuts."""
    if not passages:
        return passages
    best = passages[0]

    def states_conditions(passage: Passage) -> bool:
        heading = (passage.section or "").split(" > ")[-1]
        return passage is not best and passage.source_key == best.source_key and bool(_CONDITIONS.search(heading))

    conditions = [p for p in passages if states_conditions(p)]
    return [*conditions, best, *(p for p in passages[1:] if p not in conditions)]


class PolicyInfo(BaseModel):
    """What an answer shows about the policy a rule comes from."""

    title: str
    effective: str | None = None
    expires: str | None = None
    url: str | None = None


def _policy_info(path: Path, root: Path) -> PolicyInfo:
    try:
        metadata = load_file(path, root)[0].metadata
    except (LoadError, IndexError):
        return PolicyInfo(title=path.name)
    keep = ("effective", "expires", "url")
    return PolicyInfo(
        title=str(metadata.get("title") or path.name), **{k: str(metadata[k]) for k in keep if metadata.get(k)}
    )


def _term_pattern(term: str) -> re.Pattern[str]:
    """A scheme name as typed: whole words (plural allowed) in English, a substring in Chinese."""
    term = normalize(term)
    if term.isascii():
        return re.compile(r"(?<![a-z])" + re.escape(term) + r"(?:s|es)?(?![a-z])")
    return re.compile(re.escape(term))


Span = tuple[int, int]


class EligibilityAdvisor:
    """Answers "do we qualify for X?" from the rule files, when the question gives enough facts."""

    def __init__(
        self, schemes: list[Scheme], policies: dict[str, PolicyInfo] | None = None, programme: Programme | None = None
    ) -> None:
        self.schemes = schemes
        self.policies = policies or {}
        self.programme = programme  # names the district, city and office in the advice
        self._names = [(scheme, [_term_pattern(name) for name in scheme.names()]) for scheme in schemes]

    @classmethod
    def from_sources(cls, sources: Iterable[Path], programme: Programme | None = None) -> EligibilityAdvisor:
        """Load every valid rule file under the knowledge sources; invalid ones are logged and skipped."""
        schemes: dict[str, Scheme] = {}
        policies: dict[str, PolicyInfo] = {}
        sources = list(sources)
        for path, root in rule_files(sources):
            try:
                scheme = read_scheme(path, root)
            except LoadError as exc:
                log.warning("rule file %s skipped: %s", path, exc.reason)
                continue
            if scheme.scheme in schemes:
                log.warning("rule file %s skipped: scheme '%s' is defined twice", path, scheme.scheme)
                continue
            schemes[scheme.scheme] = scheme
            for policy in {scheme.policy, *(c.policy for c in scheme.conditions if c.policy)}:
                policies.setdefault(policy, _policy_info(root / policy, root))
        if programme is None:
            try:
                programme = load_programme(sources)
            except ProgrammeError as exc:
                log.warning("programme.yaml skipped, neutral wording: %s", exc)
        return cls(list(schemes.values()), policies, programme)

    def mentioned(self, message: str) -> tuple[list[Scheme], list[Span]]:
        """Schemes the (normalized) text names, most specific name winning, and where the names are."""
        hits = [(m.span(), scheme) for scheme, patterns in self._names for p in patterns for m in p.finditer(message)]

        def inside_longer(span: Span, scheme: Scheme) -> bool:
            return any(
                other is not scheme and o[0] <= span[0] and span[1] <= o[1] and o[1] - o[0] > span[1] - span[0]
                for o, other in hits
            )

        chosen: dict[str, Scheme] = {}
        for span, scheme in sorted(hits, key=lambda hit: hit[0]):
            if not inside_longer(span, scheme):
                chosen.setdefault(scheme.scheme, scheme)
        return list(chosen.values()), [span for span, _ in hits]

    def advise(self, question: str, language: Language, today: date | None = None) -> Answer | None:
        """A rule-based answer to an eligibility question about a known scheme; None to fall back to retrieval."""
        message = normalize(question)
        if not self.schemes or not _ASKS.search(message):
            return None
        schemes, names = self.mentioned(message)
        for start, end in names:  # "chip fund" names the scheme, it says nothing about the company
            message = message[:start] + " " * (end - start) + message[end:]
        facts = parse_facts(message, today)
        verdicts = [verdict for verdict in check(facts, schemes) if verdict.informative][:2]
        if not verdicts:
            return None
        return self.report(question, verdicts, facts, language, today)

    def report(
        self, question: str, verdicts: list[Verdict], facts: Facts, language: Language, today: date | None = None
    ) -> Answer:
        """The verdicts as an answer: each scheme's outcome with its deciding clause, the policies as sources."""
        return Answer(
            question=question,
            answer=self._compose(verdicts, facts, language),
            answered=True,
            language=language,
            mode="extractive",
            sources=self._sources(verdicts, today or date.today()),
        )

    def _policy(self, path: str) -> PolicyInfo:
        return self.policies.get(path) or PolicyInfo(title=Path(path).name)

    def _cite(self, scheme: Scheme, condition: Condition, language: Language) -> str:
        title = self._policy(scheme.policy_of(condition)).title
        return text(language, "elig_cite", clause=condition.clause, title=title)

    def _rule(self, scheme: Scheme, condition: Condition, language: Language) -> str:
        return text(
            language, "elig_rule", rule=condition.wording(language), cite=self._cite(scheme, condition, language)
        )

    def _block(self, verdict: Verdict, facts: Facts, language: Language) -> list[str]:
        """The sentences about one scheme, most important first."""
        scheme, name = verdict.scheme, verdict.scheme.title.get(language)
        if verdict.outcome is Outcome.DOES_NOT_QUALIFY:
            unmet = verdict.deciding[0]
            rule, said = self._rule(scheme, unmet, language), _said(unmet, facts, language, self.programme)
            return [text(language, "elig_no", scheme=name, rule=rule, said=said)]
        if verdict.outcome is Outcome.QUALIFIES:
            clauses = ", ".join(dict.fromkeys(c.clause for c in scheme.conditions))
            met = text(language, "elig_yes", scheme=name, count=len(scheme.conditions), clauses=clauses)
            return [
                met,
                *([text(language, "elig_benefit", benefit=scheme.benefit.get(language))] if scheme.benefit else []),
            ]
        return [text(language, "elig_unsure", scheme=name), *self._questions(verdict, language)]

    def _fact(self, fact: str, language: Language) -> str:
        return text(language, f"fact_{fact}", self.programme)

    def _questions(self, verdict: Verdict, language: Language) -> list[str]:
        """What the user should clarify or add, and the rules that are waiting for it."""
        separator = text(language, "list_sep")
        asks = [
            text(language, "elig_conflict", fact=self._fact(fact, language), values=separator.join(values))
            for fact, values in verdict.conflicts.items()
        ]
        if verdict.missing:
            needed = separator.join(self._fact(fact, language) for fact in verdict.missing)
            asks.append(text(language, "elig_need", facts=needed))
        rules = [self._rule(verdict.scheme, condition, language) for condition in verdict.deciding[:2]]
        return [*asks, text(language, "elig_open", rules=text(language, "rule_sep").join(rules))]

    def _compose(self, verdicts: list[Verdict], facts: Facts, language: Language) -> str:
        """The verdicts in at most BUDGET characters: each block's first sentence always, then what fits."""
        joiner = "" if language == "zh" else " "
        final = text(language, "elig_final", self.programme)
        blocks = [self._block(verdict, facts, language) for verdict in verdicts]
        kept = [[block[0]] for block in blocks]
        room = BUDGET - len(final) - sum(len(part) + 2 for block in kept for part in block)
        for block, parts in zip(kept, blocks, strict=True):
            for part in parts[1:]:
                if len(part) + 1 <= room:
                    block.append(part)
                    room -= len(part) + 1
        return "\n\n".join([*(joiner.join(block) for block in kept), final])

    def _sources(self, verdicts: list[Verdict], today: date) -> list[Source]:
        sources: dict[str, Source] = {}
        for verdict in verdicts:
            scheme = verdict.scheme
            cited = [(scheme.policy_of(c), c.clause) for c in verdict.deciding[:1]] + [(scheme.policy, None)]
            for path, clause in cited:
                info = self._policy(path)
                sources.setdefault(
                    path,
                    Source(
                        title=info.title,
                        path=path,
                        score=1.0,
                        date=info.effective,
                        section=clause,
                        url=info.url,
                        expired=bool(info.expires and info.expires < today.isoformat()),
                    ),
                )
        return list(sources.values())


def _shown(fact: str, value: Scalar, language: Language) -> str:
    """A fact's value as the user would write it."""
    if isinstance(value, bool):
        return text(language, "yes" if value else "no")
    if isinstance(value, StrEnum):
        return text(language, f"choice_{value.value}")
    if fact == "revenue_million_rmb":
        return text(language, "revenue_value", million=f"{value:g}", wan=f"{float(value) * 100:g}")
    return f"{value:g}%" if fact.endswith("_share") else f"{value:g}"


def _said(condition: Condition, facts: Facts, language: Language, programme: Programme | None) -> str:
    """The stated facts a condition was decided on: "age: 37, highest degree: master's"."""
    known = dict.fromkeys(c.fact for c in condition.comparisons() if getattr(facts, c.fact) is not None)
    return text(language, "list_sep").join(
        text(
            language,
            "elig_fact",
            fact=text(language, f"fact_{fact}", programme),
            value=_shown(fact, getattr(facts, fact), language),
        )
        for fact in known
    )
