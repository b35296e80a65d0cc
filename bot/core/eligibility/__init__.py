"""Eligibility from staff-written rules: facts parsed from the question, checked clause by clause, then advice.

No model guesses the outcome: `facts` reads numbers and keywords (English and Chinese, the programme's places
and sectors from its vocabulary file), `check` applies the rule files in `programmes/` (see `knowledge.rules`)
and `advice` writes the answer. `extract_facts` is the optional LLM reader of the same facts.
"""

from bot.core.eligibility.advice import (
    BUDGET,
    EligibilityAdvisor,
    PolicyInfo,
    conditions_first,
    is_eligibility_question,
)
from bot.core.eligibility.check import Outcome, Verdict, check
from bot.core.eligibility.facts import FactReader, extract_facts, normalize, parse_facts

__all__ = [
    "BUDGET",
    "EligibilityAdvisor",
    "FactReader",
    "Outcome",
    "PolicyInfo",
    "Verdict",
    "check",
    "conditions_first",
    "extract_facts",
    "is_eligibility_question",
    "normalize",
    "parse_facts",
]
