"""A firm profile against every scheme: verdicts best first, and what changed since the user was last told."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from bot.core.eligibility import Outcome, Verdict, check
from bot.core.texts import text
from knowledge.facts import Facts
from knowledge.language import Language
from knowledge.schemes import Scheme

ORDER = (Outcome.QUALIFIES, Outcome.CANNOT_TELL, Outcome.DOES_NOT_QUALIFY)  # best matches first


class Change(StrEnum):
    """What happened to a scheme for one profile between two index generations."""

    NEW = "new"  # qualifies now, did not before
    CHANGED = "changed"  # still qualifies, but a clause or the amount changed
    WITHDRAWN = "withdrawn"  # qualified before; the scheme is gone from the rules


@dataclass(frozen=True)
class Notice:
    """One change to tell a user about; `scheme` is None when the scheme was withdrawn."""

    scheme_id: str
    change: Change
    scheme: Scheme | None


def ranked(facts: Facts, schemes: list[Scheme]) -> list[Verdict]:
    """Every scheme's verdict for the profile, qualifying first, then undecided (fewest facts missing), then not."""
    verdicts = check(facts, schemes)
    return sorted(verdicts, key=lambda v: (ORDER.index(v.outcome), len(v.missing), v.scheme.scheme))


def signature(scheme: Scheme) -> str:
    """A short digest of what a match depends on (clauses, their words, the amount): changes when any does."""
    terms = [scheme.benefit.model_dump() if scheme.benefit else None]
    terms += [c.model_dump(mode="json", exclude={"policy"}) for c in scheme.conditions]
    return hashlib.sha256(json.dumps(terms, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def matched(facts: Facts, schemes: list[Scheme], signatures: dict[str, str] | None = None) -> dict[str, str]:
    """The schemes the profile qualifies for, by id, with their signatures (pass them when matching many)."""
    signatures = signatures or {scheme.scheme: signature(scheme) for scheme in schemes}
    return {
        scheme.scheme: signatures[scheme.scheme]
        for scheme in schemes
        if all(condition.outcome(facts) is True for condition in scheme.conditions)
    }


def notices(
    told: dict[str, str], facts: Facts, schemes: list[Scheme], signatures: dict[str, str] | None = None
) -> tuple[list[Notice], dict[str, str]]:
    """What to tell a user whose last-told matches were `told`, and the matches to remember afterwards.

    A scheme the profile stops qualifying for while still published is forgotten silently (the user's facts or a
    stricter rule, not a withdrawal); one that disappears from the rules is reported withdrawn.
    """
    by_id = {scheme.scheme: scheme for scheme in schemes}
    now = matched(facts, schemes, signatures)
    found = [Notice(i, Change.NEW, by_id[i]) for i in now if i not in told]
    found += [Notice(i, Change.CHANGED, by_id[i]) for i in now if i in told and told[i] != now[i]]
    found += [Notice(i, Change.WITHDRAWN, None) for i in told if i not in by_id]
    return sorted(found, key=lambda n: (n.change, n.scheme_id)), now


def clauses(scheme: Scheme, language: Language) -> str:
    """The scheme's conditions as the policy words them, grouped by clause: what a match rests on."""
    grouped: dict[str, list[str]] = {}
    for condition in scheme.conditions:
        grouped.setdefault(condition.clause, []).append(condition.wording(language))
    return "; ".join(f"{clause}: {', '.join(words)}" for clause, words in grouped.items())


def notice_text(notice: Notice, language: Language) -> str:
    """The message telling a user about one change, in their language (plain text)."""
    if notice.scheme is None:
        return text(language, "pm_withdrawn", scheme=notice.scheme_id)
    scheme = notice.scheme
    benefit = f" ({scheme.benefit.get(language)})" if scheme.benefit else ""
    key = "pm_new" if notice.change is Change.NEW else "pm_changed"
    return text(language, key, title=scheme.title.get(language), benefit=benefit, clauses=clauses(scheme, language))


def verdict_line(verdict: Verdict, language: Language) -> str:
    """One scheme's verdict for /schemes: qualifies (on which clauses), not (the unmet clause), or what is missing."""
    scheme = verdict.scheme
    title = scheme.title.get(language)
    if verdict.outcome is Outcome.QUALIFIES:
        benefit = f" ({scheme.benefit.get(language)})" if scheme.benefit else ""
        return text(language, "pm_qualifies", title=title, benefit=benefit, clauses=clauses(scheme, language))
    deciding = verdict.deciding[0]
    if verdict.outcome is Outcome.DOES_NOT_QUALIFY:
        says = deciding.wording(language)
        return text(language, "pm_does_not_qualify", title=title, clause=deciding.clause, says=says)
    missing = ", ".join(verdict.missing or verdict.conflicts)
    return text(language, "pm_cannot_tell", title=title, missing=missing, clause=deciding.clause)
