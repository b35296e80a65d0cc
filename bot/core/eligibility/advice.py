"""Answers to "can we…?" from the rule files: the facts checked, the verdicts in a phone-sized message.

`EligibilityAdvisor` loads the rule files and the programme's vocabulary from the knowledge folders, reads
the facts a question states (`facts`), checks them (`check`) and writes the advice, the policies as sources.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from bot.core.eligibility.check import Outcome, Verdict, check
from bot.core.eligibility.facts import FactReader, normalize
from bot.core.models import Answer, Source
from bot.core.texts import text
from knowledge.facts import Facts, Scalar
from knowledge.language import Language
from knowledge.loaders import load_file
from knowledge.programme import Programme, ProgrammeError, load_programme
from knowledge.reading import LoadError
from knowledge.retrieve import Passage
from knowledge.rules import read_scheme, rule_files
from knowledge.schemes import Condition, Scheme
from knowledge.vocabulary import Vocabulary, load_vocabulary

log = logging.getLogger(__name__)

BUDGET = 600  # characters: what a phone shows without scrolling

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
        self,
        schemes: list[Scheme],
        policies: dict[str, PolicyInfo] | None = None,
        vocabulary: Vocabulary | None = None,
        programme: Programme | None = None,
        rule_paths: dict[str, str] | None = None,
    ) -> None:
        self.schemes = schemes
        self.policies = policies or {}
        # A document -> the schemes it states: their policy, or their rule file (source path -> scheme id).
        self._documents: dict[str, list[Scheme]] = {}
        by_id = {scheme.scheme: scheme for scheme in schemes}
        written = [(path, by_id[i]) for path, i in (rule_paths or {}).items() if i in by_id]
        for path, scheme in [*((scheme.policy, scheme) for scheme in schemes), *written]:
            self._documents.setdefault(path, []).append(scheme)
        self.programme = programme  # names the district, city and office in the advice
        self.facts = FactReader(vocabulary)  # the programme's places and sectors, for its messages
        self._names = [(scheme, [_term_pattern(name) for name in scheme.names()]) for scheme in schemes]

    @classmethod
    def from_sources(cls, sources: Iterable[Path], programme: Programme | None = None) -> EligibilityAdvisor:
        """Load every valid rule file under the knowledge sources; invalid ones are logged and skipped."""
        sources = list(sources)
        schemes: dict[str, Scheme] = {}
        policies: dict[str, PolicyInfo] = {}
        rule_paths: dict[str, str] = {}
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
            rule_paths[path.relative_to(root).as_posix()] = scheme.scheme
            for policy in {scheme.policy, *(c.policy for c in scheme.conditions if c.policy)}:
                policies.setdefault(policy, _policy_info(root / policy, root))
        if programme is None:
            try:
                programme = load_programme(sources)
            except ProgrammeError as exc:
                log.warning("programme.yaml skipped, neutral wording: %s", exc)
        return cls(list(schemes.values()), policies, load_vocabulary(sources), programme, rule_paths)

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

    def about(self, passages: Iterable[Passage]) -> list[Scheme]:
        """The schemes of the first passage that comes from a scheme's policy or rule file."""
        return next((self._documents[p.source] for p in passages if p.source in self._documents), [])

    def advise(
        self, question: str, language: Language, today: date | None = None, found: Iterable[Passage] = ()
    ) -> Answer | None:
        """A rule-based answer to an eligibility question about a known scheme; None to fall back to retrieval.

        A question that names no scheme ("we are 3 years old, can we join?") is about the scheme of `found`."""
        message = normalize(question)
        if not self.schemes or not _ASKS.search(message):
            return None
        schemes, names = self.mentioned(message)
        schemes = schemes or self.about(found)
        for start, end in names:  # "chip fund" names the scheme, it says nothing about the company
            message = message[:start] + " " * (end - start) + message[end:]
        facts = self.facts.read(message, today)
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
