"""Rule files: operators, `when`/`unless`, validation errors with their line, and ingest of a rules folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.facts import FACTS, Facts, Subject
from knowledge.indexing import Ingest
from knowledge.reading import LoadError
from knowledge.rules import RuleError, is_rule_file, parse_scheme, read_scheme, rule_documents, rule_files
from knowledge.schemes import Comparison, Condition
from knowledge.settings import SAMPLE_KNOWLEDGE
from knowledge.store import make_store
from tests.conftest import make_settings

GOOD = """\
scheme: rent-subsidy
title: {en: Youth rent subsidy, zh: 青年人才租房补贴}
policy: policies/housing.zh.md
applies_to: person
benefit: {en: "RMB 1,500 a month", zh: "每月1,500元"}
keywords: {en: [rent subsidy], zh: [租房补贴]}
conditions:
  - fact: age
    op: "<="
    value: 35
    unless: {fact: degree, op: "==", value: phd}
    clause: 第三条
    says: {en: "master's: at most 35", zh: 硕士不超过35周岁}
  - fact: social_insurance_months
    op: ">="
    value: 6
    clause: 第二条（三）
"""

HOUSING = "---\ntitle: 青年人才租房补贴\nlanguage: zh\n---\n\n# 租房补贴\n\n第三条 硕士不超过35周岁。\n"


def _holds(fact: str, op: str, value: object, **facts: object) -> bool | None:
    return Comparison.model_validate({"fact": fact, "op": op, "value": value}).holds(Facts.model_validate(facts))


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [("==", 37, True), ("!=", 37, False), ("<", 38, True), ("<=", 36, False), (">", 36, True), (">=", 38, False)],
)
def test_number_operators(op: str, value: int, expected: bool) -> None:
    assert _holds("age", op, value, age=37) is expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [("==", "ic", True), ("!=", "ic", False), ("in", ["ai", "ic"], True), ("not_in", ["ai", "ic"], False)],
)
def test_choice_operators(op: str, value: object, expected: bool) -> None:
    assert _holds("sector", op, value, sector="ic") is expected


@pytest.mark.parametrize(("op", "expected"), [("==", False), ("!=", True)])
def test_bool_operators(op: str, expected: bool) -> None:
    assert _holds("listed", op, True, listed=False) is expected


def test_a_fact_not_stated_leaves_the_comparison_unknown() -> None:
    assert _holds("age", "<=", 35) is None


def _age_limit(**gate: object) -> Condition:
    return Condition.model_validate({"fact": "age", "op": "<=", "value": 35, "clause": "第三条", **gate})


def test_unless_waives_the_condition_when_it_holds() -> None:
    condition = _age_limit(unless={"fact": "degree", "op": "==", "value": "phd"})
    assert condition.outcome(Facts(age=38, degree="phd")) is True
    assert condition.outcome(Facts(age=38, degree="master")) is False
    assert condition.outcome(Facts(age=30)) is True  # met anyway: the exception does not matter
    assert condition.outcome(Facts(age=38)) is None  # depends on the degree


def test_when_applies_the_condition_only_when_it_holds() -> None:
    condition = _age_limit(when={"fact": "degree", "op": "==", "value": "master"})
    assert condition.outcome(Facts(age=38, degree="master")) is False
    assert condition.outcome(Facts(age=38, degree="phd")) is True
    assert condition.outcome(Facts(age=38)) is None
    assert condition.outcome(Facts(degree="phd")) is True  # does not apply, whatever the age


def test_rd_share_is_computed_from_the_counts_and_pudong_implies_shanghai() -> None:
    facts = Facts(headcount=50, rd_staff=18, registered_in_district=True)
    assert facts.rd_staff_share == 36.0 and facts.registered_in_city is True


def test_every_fact_has_a_subject_and_a_kind() -> None:
    assert {spec.subject for spec in FACTS.values()} == {Subject.PERSON, Subject.COMPANY}
    assert FACTS["degree"].choices == ("bachelor", "master", "phd")
    assert FACTS["registered_in_district"].kind == "bool" and FACTS["headcount"].kind == "number"
    assert "conflicts" not in FACTS


def test_a_good_file_parses() -> None:
    scheme = parse_scheme(GOOD)
    assert scheme.scheme == "rent-subsidy" and scheme.applies_to is Subject.PERSON
    assert scheme.conditions[0].unless is not None and scheme.conditions[0].says is not None
    assert scheme.conditions[0].wording("zh") == "硕士不超过35周岁"
    assert scheme.conditions[1].wording("en") == "social_insurance_months >= 6"  # no `says`: the rule itself


def _problem(text: str) -> str:
    with pytest.raises(RuleError) as caught:
        parse_scheme(text)
    return str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("fact: social_insurance_months", "fact: social_insurance_month",
         "line 14: unknown fact 'social_insurance_month' (did you mean 'social_insurance_months'? known: "),
        ('op: ">="', 'op: "=>"', "line 15: operator '=>' is not one of ==, !=, <, <=, >, >=, in, not_in"),
        ("    clause: 第二条（三）\n", "", "line 14: condition has no clause"),
        ("clause: 第二条（三）", "clause: ''", "line 17: condition has an empty clause"),
        ("clause: 第二条（三）", "clasue: 第二条（三）", "line 17: unknown key 'clasue' in condition"),
        ('{fact: degree, op: "==", value: phd}', '{fact: degree, op: "<", value: phd}',
         "line 11: operator '<' does not apply to degree (one of: bachelor, master, phd); use ==, !=, in, not_in"),
        ("value: phd", "value: doctor", "line 11: value 'doctor' does not fit degree (one of: bachelor, master, phd)"),
        ("value: 6", "value: six", "line 16: value 'six' does not fit social_insurance_months (a number)"),
        ('{fact: degree, op: "==", value: phd}', "{fact: degree, op: in, value: phd}", "line 11: 'in' needs a list"),
        ("fact: social_insurance_months", "fact: headcount",
         "line 14: fact 'headcount' is about a company, but this scheme applies to a person"),
        ("applies_to: person", "applies_to: startup", "line 4: applies_to: Input should be 'person' or 'company'"),
        ("scheme: rent-subsidy", "scheme: Rent Subsidy", "line 1: scheme 'Rent Subsidy' must be a short id"),
        ("title: {en: Youth rent subsidy, zh: 青年人才租房补贴}\n", "", "line 1: rule file has no title"),
        ('op: ">="', "op: >=", "line 15: not valid YAML"),
    ],
)  # fmt: skip
def test_each_mistake_is_reported_with_its_line(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert expected in _problem(GOOD.replace(old, new))


WINDOW = "window:\n  opens: 2027-03-01\n  closes: 2027-03-31\n  apply: https://example.org/apply\n"


def test_an_application_window_is_read_with_its_dates_and_how_to_apply() -> None:
    window = parse_scheme(GOOD + WINDOW).window
    assert window is not None and (window.opens.isoformat(), window.closes.isoformat()) == ("2027-03-01", "2027-03-31")
    assert window.apply == "https://example.org/apply" and parse_scheme(GOOD).window is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("closes: 2027-03-31", "closes: 2027-02-28",
         "line 19: the window closes (2027-02-28) before it opens (2027-03-01)"),
        ("closes: 2027-03-31", "closes: 31 March", "line 20: window.closes: Input should be a valid date"),
        ("  apply: https://example.org/apply\n", "", "line 19: window has no apply"),
        ("apply: https://example.org/apply", "apply: ''", "line 21: window has an empty apply"),
        ("opens:", "open:", "line 19: unknown key 'open' in window"),
    ],
)  # fmt: skip
def test_a_wrong_window_is_reported_with_its_line(old: str, new: str, expected: str) -> None:
    assert expected in _problem((GOOD + WINDOW).replace(old, new))


def test_several_mistakes_are_all_reported_in_line_order() -> None:
    broken = GOOD.replace("fact: age", "fact: agee").replace('op: ">="', 'op: "=>"')
    message = _problem(broken)
    assert message.index("line 8: unknown fact 'agee'") < message.index("line 15: operator '=>'")


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "conditions: []\n"])
def test_a_file_that_is_no_rule_file_is_refused(text: str) -> None:
    assert _problem(text).startswith("line 1: ")


def test_a_cited_policy_must_exist_in_the_knowledge_base(tmp_path: Path) -> None:
    with pytest.raises(RuleError) as caught:
        parse_scheme(GOOD, kb_root=tmp_path)
    assert str(caught.value) == "line 3: policy 'policies/housing.zh.md' is not in the knowledge base"
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "housing.zh.md").write_text(HOUSING, encoding="utf-8")
    assert parse_scheme(GOOD, kb_root=tmp_path).policy == "policies/housing.zh.md"


def test_rule_files_are_yaml_under_a_programmes_folder(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    rels = (
        "programmes/a.yaml",
        "programmes/sub/b.yml",
        "resources/c.yaml",
        "programmes/notes.md",
        "programmes/.d.yaml",
    )
    for rel in rels:
        (kb / rel).parent.mkdir(parents=True, exist_ok=True)
        (kb / rel).write_text("x: 1\n", encoding="utf-8")
    found = [path.relative_to(kb).as_posix() for path, _ in rule_files([kb])]
    assert found == ["programmes/a.yaml", "programmes/sub/b.yml"]
    assert is_rule_file(kb / "programmes" / "a.yaml", kb / "programmes")  # the source is the folder itself
    assert not is_rule_file(kb / "resources" / "c.yaml", kb)


def test_the_sample_rule_files_are_valid_and_cite_existing_policies() -> None:
    schemes = [read_scheme(path, root) for path, root in rule_files([SAMPLE_KNOWLEDGE])]
    assert len(schemes) >= 4
    assert all(condition.clause for scheme in schemes for condition in scheme.conditions)


def _kb(tmp_path: Path, broken: str) -> Path:
    kb = tmp_path / "kb"
    (kb / "policies").mkdir(parents=True)
    (kb / "programmes").mkdir()
    (kb / "policies" / "housing.zh.md").write_text(HOUSING, encoding="utf-8")
    (kb / "programmes" / "rent-subsidy.yaml").write_text(GOOD, encoding="utf-8")
    (kb / "programmes" / "broken.yaml").write_text(broken, encoding="utf-8")
    return kb


def test_a_rule_file_is_indexed_as_a_description_in_both_languages(tmp_path: Path) -> None:
    kb = _kb(tmp_path, GOOD)
    [document] = rule_documents(kb / "programmes" / "rent-subsidy.yaml", kb)
    assert document.metadata["source"] == "programmes/rent-subsidy.yaml"
    assert document.metadata["kind"] == "rules" and document.metadata["policy"] == "policies/housing.zh.md"
    assert "硕士不超过35周岁 (policies/housing.zh.md 第三条)" in document.page_content
    assert "Youth rent subsidy: Eligibility conditions" in document.page_content


def test_an_unreadable_rule_file_is_a_load_error(tmp_path: Path) -> None:
    kb = _kb(tmp_path, GOOD.replace('op: "<="', 'op: "=<"'))
    with pytest.raises(LoadError) as caught:
        read_scheme(kb / "programmes" / "broken.yaml", kb)
    assert caught.value.reason.startswith("line 9: operator '=<'")


def test_ingest_reports_a_broken_rule_file_and_indexes_the_rest(tmp_path: Path, local_embeddings) -> None:
    kb = _kb(tmp_path, GOOD.replace("fact: age", "fact: agge"))
    report = Ingest(make_store(make_settings(tmp_path / "data")), local_embeddings).run([kb])
    assert [failure.path for failure in report.failed] == ["programmes/broken.yaml"]
    assert report.failed[0].reason.startswith("line 8: unknown fact 'agge' (did you mean 'age'?")
    assert sorted(report.added) == ["policies/housing.zh.md", "programmes/rent-subsidy.yaml"]
    assert report.published
