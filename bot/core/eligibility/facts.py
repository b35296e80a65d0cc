"""Facts from free text: the grammar's rules, most specific first, and their values merged into `Facts`.

`FactReader` combines the pattern grammar (`grammar`) with a programme's vocabulary (`knowledge.vocabulary`);
`extract_facts` is the optional LLM reader of the same facts. The rules still decide (`check`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from datetime import date

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import ValidationError

from bot.core.eligibility.grammar import (
    COMPANY,
    FOUNDED,
    HOME_EN,
    LESS,
    NUM,
    PCT,
    PEOPLE,
    RD,
    ZH_FOUNDED,
    Rule,
    locating,
    million_rmb,
    months,
    not_place,
    number,
    place,
    sector_pattern,
    since,
    stating,
    years,
)
from knowledge.facts import Degree, Facts, Scalar
from knowledge.vocabulary import Places, Vocabulary, alternation

# Most specific first: every match is blanked out before the next rule runs, so "2-year-old
# startup" is not also read as an age, nor "18 of them in R&D" as the headcount.
FIXED: tuple[Rule, ...] = (
    *stating(
        "years_since_registration",
        since,
        FOUNDED + r"\s+(?:back\s+)?in\s+(?P<y>(?:19|20)\d\d)\b",
        r"(?P<y>(?:19|20)\d\d)\s*年?\s*" + ZH_FOUNDED,
        ZH_FOUNDED + r"(?:于|在)\s*(?P<y>(?:19|20)\d\d)",
    ),
    *stating("years_since_registration", 1, FOUNDED + r"\s+last\s+year", "去年" + ZH_FOUNDED),
    *stating("years_since_registration", 0, FOUNDED + r"\s+this\s+year", r"(?:今年|刚刚?)" + ZH_FOUNDED),
    *stating(
        "years_since_registration",
        years,
        FOUNDED + r"\s+(?:only\s+|just\s+)?" + LESS + NUM + r"\s+(?P<u>years?|months?)\s+ago",
        r"(?<![a-z\d])" + NUM + r"[- ](?P<u>years?|yrs?|months?)[- ]old\s+" + COMPANY,
        r"(?:" + COMPANY + r"|we)\s+(?:is|are|'re|was|has been|have been)\s+(?:around\s+|operating\s+|registered\s+)?"
        r"(?:for\s+)?(?:only\s+|just\s+)?" + LESS + NUM + r"\s+(?P<u>years?|months?)(?!\s+of)",
        ZH_FOUNDED + r"(?:了|已|刚|才|已经|刚满|满|时间)*\s*" + LESS + NUM + r"\s*个?\s*(?P<u>年|月)",
    ),
    *stating(
        "age",
        number,
        r"(?<![\d.])(?P<n>\d{2}|[一二三四五六七八九十]{1,3})\s*周?岁",
        r"(?<![a-z\d])(?P<n>\d{2})[- ](?:years?|yrs?)[- ]old\b",
        r"\b(?:i'?m|i am|aged|age:?|my age is|age of)\s+(?P<n>\d{2})\b"
        r"(?!\.?\d|\s*(?:%|percent|months?|years? (?:ago|since|of)|" + PEOPLE + r"))",
        r"(?<![a-z\d])(?P<n>\d{2})\s*y/?o\b",
    ),
    *stating(
        "rd_staff_share",
        number,
        RD + r"\s*(?:staff|people|employees|headcount|personnel|team)[^.;,\d]{0,25}?" + PCT,
        PCT + r"\s*of\s+(?:our\s+|the\s+|all\s+)?(?:staff|employees|people|team|headcount)\s+"
        r"(?:are\s+|work\s+|working\s+|do\s+)?(?:in\s+|on\s+)?" + RD,
        r"研发人员(?:占|比例|占比)[^\d。,;]{0,10}" + PCT,
    ),
    *stating(
        "rd_staff",
        number,
        r"(?<![a-z\d.])" + NUM + r"\s+(?:of\s+(?:them|whom|us|those|these)\s+)?"
        r"(?:are\s+|work\s+|working\s+|do\s+|doing\s+)?(?:in\s+|on\s+)?" + RD + r"\b",
        RD
        + r"\s+(?:staff|people|employees|headcount|personnel|team|engineers)\s*(?:of|is|are|:|=)?\s*"
        + NUM
        + r"(?!\s*%)",
        r"研发(?:人员|团队|工程师)?\s*(?:有|共|约|:|为|是)?\s*" + NUM + r"\s*(?:个|位)?(?:人|名)",
        NUM + r"\s*(?:个|名|位)?人\s*(?:做|从事|搞|在做|负责|是|为|在)\s*研发",
    ),
    *stating(
        "headcount",
        number,
        r"(?<![a-z\d.])" + NUM + r"\s*(?:full[- ]time\s+)?" + PEOPLE + r"\b",
        r"\bteam\s+of\s+" + NUM + r"\b",
        r"(?<![a-z\d])" + NUM + r"[- ]person\b",
        r"headcount\s*(?:of|is|:)?\s*" + NUM,
        r"(?:总人数|员工总数|职工总数|员工人数|职工人数)\s*(?:有|为|是|:|约)?\s*" + NUM,
        r"(?:员工|职工|团队|公司|我们)(?:有|共|共有|一共|约|:|人数)?\s*" + NUM + r"\s*(?:个|名|位)?(?:人|名)",
        NUM + r"\s*(?:个|名|位)?(?:全职)?(?:员工|职工)",
        r"(?:^|(?<=[,、。;\s]))" + NUM + r"\s*个?人(?=[,、。;\s的]|$)",
    ),
    *stating(
        "revenue_million_rmb",
        0,
        r"(?:no|zero|without|haven't (?:had|made) any|not (?:yet )?(?:made|generated|had) any)"
        r"\s+(?:revenue|sales|income)",
        r"pre-revenue",
        r"(?:没有|没|无|尚无|暂无|零)(?:营业)?(?:收入|营收)|(?:营业)?(?:收入|营收)为?(?:零|0)(?![\d.])",
    ),
    *stating(
        "revenue_million_rmb",
        million_rmb,
        r"(?:revenue|sales|turnover)[^.;\d]{0,25}?(?:rmb|cny|¥|yuan)?\s*(?P<n>\d+(?:\.\d+)?)(?![\d.]|\s*%)\s*"
        r"(?P<u>million|mn|m(?![a-z])|billion|bn|k(?![a-z])|thousand|亿|千万|百万|万)?",
        r"(?P<n>\d+(?:\.\d+)?)\s*(?P<u>million|mn|m|billion|bn|k|thousand)\s*(?:rmb|yuan|cny)?\s+(?:in\s+|of\s+)?"
        r"(?:annual\s+)?(?:revenue|sales|turnover)",
        r"(?:营业收入|营收|收入|销售额)[^\d。,;%]{0,8}?(?P<n>\d+(?:\.\d+)?)(?![\d.]|\s*%)\s*(?P<u>亿|千万|百万|万)?",
        r"(?P<n>\d+(?:\.\d+)?)\s*(?P<u>亿|千万|百万|万)元?的?(?:营业收入|营收|收入|销售额)",
    ),
    *stating("largest_partner_share", 100, r"(?:wholly[- ]owned|100%\s*owned)\s+(?:subsidiary|by)|全资子公司"),
    *stating(
        "largest_partner_share",
        number,
        r"(?:holds?|owns?|has|have|controls?)\s+(?:a\s+|about\s+|around\s+)?" + PCT,
        PCT + r"\s*(?:of\s+(?:our|the|my)\s+(?:shares|equity|stock|company)|of\s+us\b|owned\s+by)",
        PCT + r"\s*(?:stake|equity|shareholding)",
        r"owned\s+" + PCT + r"\s+by",
        r"(?:持股|持有|占股|控股|拥有)[^\d。,;]{0,10}?" + PCT,
        PCT + r"\s*的?(?:股份|股权|股)",
    ),
    *stating(
        "social_insurance_months",
        months,
        r"(?:社保|社会保险)[^\d。,;一二两三四五六七八九十半]{0,8}" + LESS + NUM + r"\s*个?\s*(?P<u>月|年)",
        LESS + NUM + r"\s*个?\s*(?P<u>月|年)的?(?:社保|社会保险)",
        r"social (?:insurance|security)[^.;\d]{0,30}?(?:for\s+)?(?:only\s+|just\s+)?"
        + LESS
        + NUM
        + r"\s+(?P<u>months?|years?)",
        LESS + NUM + r"\s+(?P<u>months?|years?)\s+(?:of\s+)?(?:\w+\s+)?social (?:insurance|security)",
    ),
    *stating("degree", Degree.PHD, r"ph\.?\s?d|doctorate|doctoral|博士"),
    *stating("degree", Degree.MASTER, r"master(?:'s|s|\s+degree|\s+of)\b|\bm\.?sc\b|\bmba\b|\bmeng\b|硕士|研究生"),
    *stating("degree", Degree.BACHELOR, r"bachelor|\bb\.?sc\b|undergraduate degree|本科|学士"),
    *stating(
        "owns_home_in_city",
        False,
        r"(?:don'?t|do not|doesn'?t|does not|never)\s+owns?\s+" + HOME_EN,
        r"not\s+a\s+homeowner|\b(?:no|without)\s+" + HOME_EN + r"(?![a-z])",
        r"名下(?:无|没有?)(?:住)?房|无自有住房|无房|没有?(?:自有)?(?:住)?房(?:子|产)?(?![补租])|没有?买(?:过)?房|未购房",
    ),
    *stating(
        "owns_home_in_city",
        True,
        r"\b(?:i|we|my (?:wife|husband|spouse))\s+(?:already\s+)?owns?\s+" + HOME_EN,
        r"bought\s+" + HOME_EN + r"|homeowner",
        r"名下有(?:住)?房|有(?:自己的|自有)(?:住)?房|买了房|已购房|有房(?![补租])",
    ),
    *stating(
        "listed",
        False,
        r"(?:not|isn'?t|aren'?t|never been)\s+(?:publicly\s+)?listed|unlisted",
        r"未上市|没有?上市|非上市",
    ),
    *stating("listed", True, r"(?:we(?:'re| are)|is)\s+(?:publicly\s+)?listed|listed\s+on\s+the", r"已上市|上市公司"),
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


def _found(rules: tuple[Rule, ...], text: str, today: date) -> dict[str, list[Scalar]]:
    """Every value each rule finds, most specific rules first, each match blanked once read."""
    found: dict[str, list[Scalar]] = {}
    for rule in rules:
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


def _member_rules(names: list[str]) -> tuple[Rule, ...]:
    """Membership of the programme, named or not: "a GOI member", "已加入GOI" (its names from vocabulary.yaml)."""
    known = alternation(names)
    name_en = rf"(?:(?:{known})\s+)?" if known else ""
    name_zh = rf"(?:{known})?" if known else ""
    joined_en = rf"(?:\s+(?:{known}))?" if known else ""
    joined = (rf"joined\s+(?:{known})\b", rf"已经?加入(?:{known})") if known else ()
    member_en = r"(?:an?\s+)?" + name_en + r"(?:sme\s+)?members?\b"
    member_zh = name_zh + r"的?(?:中小企业)?会员"
    return (
        *stating(
            "employer_is_member",
            False,
            r"employer\s+is(?:n't|\s+not)\s+(?:a\s+)?" + name_en + r"member",
            r"(?:单位|公司|企业)(?:还?不是|并非|非)" + name_zh + r"(?:成员|会员)",
        ),
        *stating(
            "employer_is_member",
            True,
            r"(?:work|working|employed|job|joined|hired|started)\b[^.;?!]{0,40}?\b" + name_en + r"member\s+"
            r"(?:company|firm|enterprise)",
            r"employer\s+is\s+(?:a\s+)?" + name_en + r"member",
            r"(?:work|working|employed)\s+(?:at|for|with|in)\s+(?:an?\s+)?" + name_en + r"member\b",
            r"(?:入职|就职|工作于|任职于?|受聘于?|在)[^。,;?]{0,15}?" + name_zh + r"(?:成员|会员)大?(?:企业|单位|公司)",
            name_zh + r"(?:成员|会员)大?(?:企业|单位|公司)的?(?:员工|工作|上班|任职|就职)",
        ),
        *stating(
            "member_status",
            False,
            r"(?:not|isn'?t|aren'?t|never)\s+(?:yet\s+|been\s+)?" + member_en,
            r"non-members?|haven'?t\s+joined" + joined_en,
            r"(?:还?不是|并非|非|尚未成为|还没有?成为|没有?加入|未加入|还没有?加入)" + member_zh,
            r"预备会员",
        ),
        *stating(
            "member_status",
            True,
            r"(?:we(?:'re| are)|we(?:'ve| have) (?:joined|become)|already)\s+" + member_en,
            r"member(?:ship)?\s+(?:number|no\.?|id)\b|会员编号",
            r"(?:是|已经?是|已经?(?:加入|成为))" + member_zh,
            *joined,
        ),
    )


def _place_rules(places: Places) -> tuple[Rule, ...]:
    """Where the company is: "in Zhangjiang", "not in Pudong", "注册在昆山"; none without a district to judge."""
    if not places.district:
        return ()
    named = alternation(places.city + places.district + places.elsewhere_in_city)
    city = alternation(places.city)
    city_en = rf"(?:(?:{city})'?s?\s+)?" if city else ""  # "registered in Shanghai's Pudong"
    city_zh = rf"(?:(?:{city})市?)?" if city else ""  # "注册在上海市浦东"
    # "registered in Pudong nine years ago" states both; read apart, the place would cut the founding from its age.
    registered_ago = (
        r"regist\w*\s+(?:in|at)\s+"
        + city_en
        + r"(?:the\s+)?(?P<p>"
        + named
        + r")\s+(?:only\s+|just\s+)?"
        + LESS
        + NUM
        + r"\s+(?P<u>years?|months?)\s+ago"
    )

    def place_and_age(match: re.Match[str], today: date) -> dict[str, Scalar]:
        return {**place(places, match.group("p")), "years_since_registration": years(match, today)}

    return (
        Rule(re.compile(registered_ago), place_and_age),
        *locating(
            functools.partial(not_place, places),
            r"(?:not|n't)\s+(?:registered\s+|based\s+|located\s+)?(?:in\s+)?(?:the\s+)?(?P<p>" + named + r")\b",
            r"(?:outside|rather than|instead of)\s+(?:of\s+)?(?P<p>" + named + r")\b",
            r"(?:不在|并非|不是|不属于|非)(?P<p>" + named + r")",
        ),
        *locating(
            functools.partial(place, places),
            r"regist\w*\s+(?:in|at)\s+" + city_en + r"(?:the\s+)?(?P<p>" + named + r"|[a-z][a-z'-]+)",
            r"注册(?:在|于|地(?:是|在|为)?)\s*" + city_zh + r"(?P<p>" + named + r"|[\u4e00-\u9fff]{2})",
            r"在" + city_zh + r"(?P<p>" + named + r"|[\u4e00-\u9fff]{2})(?:市|区|新区)?注册",
            r"\b(?:in|at|from|based in|located in)\s+(?:the\s+)?(?P<p>" + named + r")\b",
            r"(?:在|位于|落户|入驻|地处|来自)" + city_zh + r"(?P<p>" + named + r")",
        ),
    )


class FactReader:
    """The grammar with one programme's vocabulary: reads the facts a message states, without an LLM."""

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        vocabulary = vocabulary or Vocabulary()
        sectors = [stating("sector", sector, sector_pattern(words)) for sector, words in vocabulary.sectors.items()]
        self.rules = (
            *FIXED,
            *_member_rules(vocabulary.programme),
            *_place_rules(vocabulary.places),
            *(rule for rules in sectors for rule in rules),
        )

    def read(self, text: str, today: date | None = None) -> Facts:
        """The facts `text` states, in English or Chinese."""
        return _merge(_found(self.rules, normalize(text), today or date.today()))


def parse_facts(text: str, today: date | None = None, vocabulary: Vocabulary | None = None) -> Facts:
    """The facts a message states; without a vocabulary no place or sector is read."""
    return FactReader(vocabulary).read(text, today)


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
