"""Eligibility: the checker, facts from English and Chinese text, and rule-based answers on the sample rules."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from langchain_openai import ChatOpenAI

from bot.core.eligibility import (
    BUDGET,
    EligibilityAdvisor,
    Outcome,
    check,
    extract_facts,
    is_eligibility_question,
    parse_facts,
)
from knowledge.facts import Facts
from knowledge.language import detect_language
from knowledge.schemes import Scheme
from knowledge.settings import SAMPLE_KNOWLEDGE
from knowledge.vocabulary import Vocabulary, load_vocabulary
from tests.fakes.openai import API_KEY, FakeOpenAI

TODAY = date(2026, 11, 25)
SAMPLE_WORDS = load_vocabulary([SAMPLE_KNOWLEDGE])  # the sample programme's places and sectors
HOUSING = "policies/young-talent-rent-subsidy.zh.md"
MEMBERSHIP = "policies/sme-eligibility-and-joining.zh.md"


def _scheme(*conditions: dict[str, object], applies_to: str = "person") -> Scheme:
    return Scheme.model_validate({
        "scheme": "test", "title": {"en": "Test scheme"}, "policy": "policies/test.md", "applies_to": applies_to,
        "conditions": [{"clause": f"clause {i}", **c} for i, c in enumerate(conditions, 1)],
    })  # fmt: skip


AGE = {"fact": "age", "op": "<=", "value": 35, "unless": {"fact": "degree", "op": "==", "value": "phd"}}
INSURANCE = {"fact": "social_insurance_months", "op": ">=", "value": 6}
HOME = {"fact": "owns_home_in_city", "op": "==", "value": False}
RENT = _scheme(AGE, INSURANCE, HOME)


def test_all_conditions_met_qualifies() -> None:
    [verdict] = check(Facts(age=30, social_insurance_months=8, owns_home_in_city=False), [RENT])
    assert verdict.outcome is Outcome.QUALIFIES and verdict.deciding == [] and verdict.decided == 3


def test_an_unmet_condition_is_named_with_its_clause() -> None:
    [verdict] = check(Facts(age=30, social_insurance_months=2), [RENT])
    assert verdict.outcome is Outcome.DOES_NOT_QUALIFY
    assert [(c.fact, c.clause) for c in verdict.deciding] == [("social_insurance_months", "clause 2")]


def test_an_unmet_condition_decides_even_when_other_facts_are_missing() -> None:
    [verdict] = check(Facts(age=37, degree="master"), [RENT])
    assert verdict.outcome is Outcome.DOES_NOT_QUALIFY and verdict.deciding[0].clause == "clause 1"


def test_missing_facts_are_named() -> None:
    [verdict] = check(Facts(age=37, social_insurance_months=12), [RENT])
    assert verdict.outcome is Outcome.CANNOT_TELL
    assert verdict.missing == ["degree", "owns_home_in_city"]
    assert verdict.deciding[0].fact == "age"  # the condition nearest to a decision comes first


def test_conflicting_facts_cannot_decide_and_are_reported() -> None:
    facts = Facts(social_insurance_months=12, owns_home_in_city=False, conflicts={"age": ["37", "39"]})
    [verdict] = check(facts, [RENT])
    assert verdict.outcome is Outcome.CANNOT_TELL
    assert verdict.conflicts == {"age": ["37", "39"]} and "age" not in verdict.missing


def test_no_stated_fact_decides_nothing() -> None:
    [verdict] = check(Facts(), [RENT])
    assert verdict.outcome is Outcome.CANNOT_TELL and verdict.decided == 0 and not verdict.informative


def test_each_scheme_gets_its_own_verdict() -> None:
    company = _scheme({"fact": "headcount", "op": "<=", "value": 300}, applies_to="company")
    verdicts = check(Facts(headcount=500, age=30), [RENT, company])
    assert [v.outcome for v in verdicts] == [Outcome.CANNOT_TELL, Outcome.DOES_NOT_QUALIFY]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("I'm 34 and hold a master's degree", {"age": 34, "degree": "master"}),
        ("I'm 28. Social insurance paid in Pudong for 7 months", {"age": 28, "social_insurance_months": 7}),
        ("a 36-year-old PhD with 4 months of social insurance",
         {"age": 36, "degree": "phd", "social_insurance_months": 4}),
        ("we're a 3-year-old startup with 12 employees", {"years_since_registration": 3, "headcount": 12}),
        ("founded in 2021, team of 8", {"years_since_registration": 5, "headcount": 8}),
        ("We were founded 18 months ago", {"years_since_registration": 1.5}),
        ("registered in Hangzhou, not Pudong", {"registered_in_district": False}),
        ("I'm 28 with a master's, 8 months social insurance, work at a GOI member, no home",
         {"age": 28, "degree": "master", "social_insurance_months": 8, "employer_is_member": True,
          "owns_home_in_city": False}),
        ("our company was registered in Pudong nine years ago",
         {"registered_in_district": True, "registered_in_city": True, "years_since_registration": 9}),
        ("our AI company in Lingang has 40 staff, 15 of them in R&D",
         {"registered_in_district": True, "registered_in_city": True, "sector": "ai", "headcount": 40, "rd_staff": 15,
          "rd_staff_share": 37.5}),
        ("a large partner holds 55% of our shares", {"largest_partner_share": 55}),
        ("revenue last year was RMB 30 million and we are not listed", {"revenue_million_rmb": 30, "listed": False}),
        ("no revenue yet, and we're a GOI member", {"revenue_million_rmb": 0, "member_status": True}),
        ("we are not yet a member", {"member_status": False}),
        ("I don't own a home and I work at a GOI member company",
         {"owns_home_in_city": False, "employer_is_member": True}),
        ("We make solid-state batteries in Minhang",
         {"sector": "new_energy", "registered_in_district": False, "registered_in_city": True}),
        ("我三十二岁，博士，社保交了半年", {"age": 32, "degree": "phd", "social_insurance_months": 6}),
        ("本科，28周岁，名下无房", {"degree": "bachelor", "age": 28, "owns_home_in_city": False}),
        ("公司2022年成立，员工80人，其中研发20人",
         {"years_since_registration": 4, "headcount": 80, "rd_staff": 20, "rd_staff_share": 25}),
        ("注册在昆山，不在浦东", {"registered_in_district": False}),
        ("我们在张江，做集成电路设计，营收3000万元",
         {"registered_in_district": True, "registered_in_city": True, "sector": "ic", "revenue_million_rmb": 30}),
        ("某大企业持股60%", {"largest_partner_share": 60}),
        ("研发人员占比12%，总人数60", {"rd_staff_share": 12, "headcount": 60}),
        ("已经是GOI会员了，未上市", {"member_status": True, "listed": False}),
        ("在一家GOI成员企业工作，社保缴纳了两年", {"employer_is_member": True, "social_insurance_months": 24}),
        ("成立不到一年，还没有收入", {"years_since_registration": 0.99, "revenue_million_rmb": 0}),
        ("我们是刚成立的新能源公司，还不是会员",
         {"years_since_registration": 0, "sector": "new_energy", "member_status": False}),
        ("本科和硕士都在复旦读的", {"degree": "master"}),  # the highest degree counts
    ],
)  # fmt: skip
def test_facts_are_read_from_english_and_chinese(message: str, expected: dict[str, object]) -> None:
    facts = parse_facts(message, TODAY, SAMPLE_WORDS).model_dump(exclude_defaults=True)
    assert facts == expected


def test_two_different_values_for_one_fact_are_a_conflict() -> None:
    facts = parse_facts("我35岁……不对，是36岁，硕士", TODAY, SAMPLE_WORDS)
    assert facts.age is None and facts.conflicts == {"age": ["35", "36"]} and facts.degree == "master"


@pytest.mark.parametrize(
    "question",
    ["Can we apply for the fund?", "do we qualify for membership", "Are we eligible?", "我能领租房补贴吗？",
     "我们可以申请吗", "是否符合条件", "do vouchers work for us?"],
)  # fmt: skip
def test_eligibility_questions_are_recognised(question: str) -> None:
    assert is_eligibility_question(question)


@pytest.mark.parametrize(
    "question", ["How much is the rent subsidy for a PhD?", "租房补贴每月多少钱？", "When is the deadline?"]
)
def test_other_questions_are_not_eligibility_questions(question: str) -> None:
    assert not is_eligibility_question(question)


@pytest.fixture(scope="module")
def advisor() -> EligibilityAdvisor:
    return EligibilityAdvisor.from_sources([SAMPLE_KNOWLEDGE])


def _advise(advisor: EligibilityAdvisor, question: str):
    answer = advisor.advise(question, detect_language(question), today=TODAY)
    assert answer is None or len(answer.answer) <= BUDGET
    return answer


def test_a_chinese_applicant_over_the_age_limit_is_told_why(advisor: EligibilityAdvisor) -> None:
    answer = _advise(advisor, "我36岁，硕士毕业，在一家GOI成员企业上班，可以申请租房补贴吗？")
    assert answer is not None and answer.answered and answer.mode == "extractive" and answer.language == "zh"
    assert "恐怕不符合" in answer.answer and "35周岁" in answer.answer and "第三条" in answer.answer
    source = answer.sources[0]
    assert (source.path, source.section, source.title) == (HOUSING, "第三条", "浦东青年人才租房补贴与安家支持")


def test_an_english_company_outside_pudong_is_told_the_cited_clause(advisor: EligibilityAdvisor) -> None:
    answer = _advise(advisor, "We are registered in Wuxi, not Pudong. Can we use the voucher top-up?")
    assert answer is not None and answer.language == "en"
    assert answer.answer.startswith("Probably not") and "registration and tax in Pudong" in answer.answer
    assert [s.path for s in answer.sources] == [MEMBERSHIP, "policies/innovation-vouchers.zh.md"]


def test_when_facts_are_missing_the_answer_asks_for_them_and_quotes_the_rule(advisor: EligibilityAdvisor) -> None:
    answer = _advise(advisor, "I'm a 33-year-old engineer, can I get the rent subsidy?")
    assert answer is not None and answer.answer.startswith("I can't tell yet")
    assert "highest degree" in answer.answer and "no older than 30" in answer.answer


def test_conflicting_ages_are_pointed_out(advisor: EligibilityAdvisor) -> None:
    answer = _advise(advisor, "我35岁，不对，是36岁，硕士，能申请租房补贴吗")
    assert answer is not None and "不一致（35、36）" in answer.answer


def test_an_applicant_meeting_every_rule_is_told_so_with_the_benefit(advisor: EligibilityAdvisor) -> None:
    answer = _advise(
        advisor, "I'm 31, PhD, 10 months of social insurance, no home of my own, and I work at a GOI member company. "
        "Do I qualify for the rent subsidy?"
    )  # fmt: skip
    assert answer is not None and "you meet the 7 conditions" in answer.answer and "2,500" in answer.answer


@pytest.mark.parametrize(
    "question",
    [
        "How much is the rent subsidy for a PhD who is 30?",  # not asking about eligibility
        "can I get the rent subsidy?",  # no facts to decide anything
        "I'm 30, can I get a Lingang talent apartment?",  # no rule file for that scheme
    ],
)
def test_questions_the_rules_cannot_answer_fall_back_to_retrieval(advisor: EligibilityAdvisor, question: str) -> None:
    assert _advise(advisor, question) is None


def test_invalid_rule_files_are_skipped_when_loading(tmp_path: Path) -> None:
    (tmp_path / "programmes").mkdir()
    (tmp_path / "programmes" / "broken.yaml").write_text("scheme: x\nconditions: []\n", encoding="utf-8")
    assert EligibilityAdvisor.from_sources([tmp_path]).schemes == []


async def test_an_llm_may_read_the_facts_but_the_rules_decide() -> None:
    with FakeOpenAI() as server:
        server.reply_with(lambda *_: json.dumps({"age": 37, "degree": "master", "employer_is_member": True}))
        chat = ChatOpenAI(model="fake", api_key=API_KEY, base_url=server.base_url)  # type: ignore[arg-type]
        facts = await extract_facts(chat, "Thirty-seven, master's, just joined a GOI member firm", today=TODAY)
    assert (facts.age, facts.degree, facts.employer_is_member) == (37, "master", True)
    schemes = EligibilityAdvisor.from_sources([SAMPLE_KNOWLEDGE]).schemes
    verdict = next(v for v in check(facts, schemes) if v.scheme.scheme == "rent-subsidy")
    assert verdict.outcome is Outcome.DOES_NOT_QUALIFY and verdict.deciding[0].clause == "第三条"


def test_membership_names_the_programme_from_its_vocabulary() -> None:
    harbour = Vocabulary(programme=["hbi", "港湾创新"])
    assert parse_facts("we're an HBI member, already joined HBI", TODAY, harbour).member_status is True
    assert parse_facts("我们已经加入港湾创新", TODAY, harbour).member_status is True
    assert parse_facts("I work at an HBI member company", TODAY, harbour).employer_is_member is True
    assert parse_facts("we already joined GOI", TODAY, harbour).member_status is None  # another programme's name
