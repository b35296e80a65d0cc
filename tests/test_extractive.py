"""Short quoted answers keep what the question asks for."""

from __future__ import annotations

from bot.core.asks import asked_for
from bot.core.extractive import BUDGET, compose
from knowledge.retrieve import Passage

# A long clause: many sentences share the question's words, the one with the amount shares few of them.
ROUNDS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
CLAUSE = " ".join(
    [
        f"The incubator rent subsidy for start-ups in an accredited incubator is reviewed in the {n} round."
        for n in ROUNDS
    ]
    + [
        "Per square metre of office space that it occupies, a company is paid back RMB 2.40 a day, which the bureau"
        " pays out once a quarter into the account named in its application."
    ]
    + [f"Start-ups keep the {n} incubator rent subsidy agreement on file." for n in ROUNDS]
)


def _passage(text: str, source: str = "policies/rent.md", score: float = 0.5, id: str = "p1") -> Passage:
    return Passage(id=id, text=text, source=source, title=source.split("/")[-1], score=score)


def test_a_how_much_question_keeps_the_sentence_with_the_amount_in_a_short_answer() -> None:
    assert len(CLAUSE) > 2 * BUDGET
    question = "How much is the incubator rent subsidy for start-ups?"
    answer = compose(question, "en", [_passage(CLAUSE)], lambda p: [p], lambda p: [p])
    assert "RMB 2.40 a day" in answer and len(answer) <= BUDGET + 100


def test_an_open_question_is_quoted_by_the_words_it_shares() -> None:
    answer = compose(
        "What is the incubator rent subsidy agreement?", "en", [_passage(CLAUSE)], lambda p: [p], lambda p: [p]
    )
    assert "first incubator rent subsidy agreement" in answer and "RMB 2.40" not in answer


def test_what_a_question_asks_for_is_read_from_its_form_in_both_languages() -> None:
    assert asked_for("How much is the voucher worth?") == ["amount"]
    assert asked_for("创新券一年最多能抵多少钱？") == ["amount"]
    assert asked_for("申请截止日期是什么时候？") == ["date"]
    assert asked_for("审核需要多久？") == ["duration"]
    assert asked_for("Who do I contact to book it?") == ["contact"]
    assert asked_for("What does the programme offer?") == []
    assert asked_for("还能领租房补贴吗？每个月多少？") == ["amount"]
    assert asked_for("审批要多少天？") == ["duration"]
    assert asked_for("so what share of our rent gets waived?") == ["amount"]


def test_a_sibling_clause_of_the_best_document_is_quoted_before_a_near_tie_from_another() -> None:
    passages = [
        _passage("The subsidy is paid for at most 36 months.", score=0.44, id="a"),
        _passage("Applicants must be under 38, or 42 with a doctorate.", score=0.30, id="b"),
        _passage("Talent apartments are let to full-time employees.", "policies/flats.md", score=0.30, id="c"),
    ]
    answer = compose("Can a 40-year-old doctor get the rent subsidy?", "en", passages, lambda p: [p], lambda p: [p])
    assert "42 with a doctorate" in answer and "Talent apartments" not in answer


def _row(row: int, name: str, fee: str, score: float) -> Passage:
    lines = [
        f"name: {name}",
        "owner: Meridian Biologics",
        "location: Egret Island Bio Park, Building B2",
        "purpose: " + "Separates and quantifies the components of a mixture for purity and stability studies. " * 2,
        "specifications: UHPLC inlet; ESI and APCI sources; diode-array detector 190-800 nm; autosampler 120 vials",
        f"fee: {fee}",
        "who_may_book: Programme Members and district SMEs; samples shipped on dry ice",
        "contact: lab@meridian.example",
    ]
    return Passage(
        id=f"r{row}",
        text="\n".join(lines),
        source="resources/equipment.csv",
        row=row,
        kind="listing",
        title=name,
        score=score,
    )


def test_two_close_rows_of_a_listing_share_the_screen_each_with_its_fee() -> None:
    rows = [_row(3, "LC-MS/MS", "RMB 72 per sample", 0.25), _row(1, "HPLC system", "RMB 380 per sample", 0.24)]
    answer = compose(
        "how pure is our drug batch - what can I book and what does it cost?", "en", rows, lambda p: [p], lambda p: [p]
    )
    assert "RMB 72 per sample" in answer and "RMB 380 per sample" in answer
    assert len(answer) <= BUDGET + 100


def test_the_amount_asked_for_comes_from_a_sibling_clause_when_no_close_passage_holds_one() -> None:
    conditions = _passage("Applicants must be under 38, or 42 with a doctorate.", score=0.44, id="a")
    document = [
        conditions,
        _passage("Doctors get RMB 2,600 a month, masters RMB 1,800.", score=0.0, id="b"),
        _passage("Each claim needs the lease and the social-insurance record.", score=0.0, id="c"),
    ]
    question = "I'm a 40-year-old doctor, can I get the rent subsidy and how much a month?"
    answer = compose(question, "en", [conditions], lambda p: [p], lambda _: document)
    assert "42 with a doctorate" in answer and "RMB 2,600 a month" in answer
    unasked = compose("Who can get the rent subsidy?", "en", [conditions], lambda p: [p], lambda _: document)
    assert "2,600" not in unasked


def test_an_faq_answer_does_not_borrow_a_date_from_another_question_of_the_faq(sample_assistant) -> None:
    # The FAQ's expired Lingang housing rule ("valid ... to 31 December 2025 and have expired") answered this.
    answer = sample_assistant.answer_extractive("what is the deadline to apply for the SME fund?")
    assert "Lingang" not in answer.answer and "expired" not in answer.answer
