"""Every sentence the assistant says to users, one table per language.

Sentences name the programme through placeholders ({programme}, {full}, {short}, {team}, {staff}, {office}, {contact},
{district}, {city}) filled from programme.yaml, or with the neutral words of the `p_` keys when it says nothing.
"""

from __future__ import annotations

from bot.core.texts.en import EN
from bot.core.texts.zh import ZH
from knowledge.language import Language
from knowledge.programme import Programme

TEXTS: dict[Language, dict[str, str]] = {"en": EN, "zh": ZH}


def identity(language: Language, programme: Programme | None) -> dict[str, str]:
    """The programme's words for the sentences' placeholders; neutral ones for what programme.yaml does not say."""
    table, found = TEXTS[language], programme or Programme()
    short = found.short_name.get(language) if found.short_name else None
    contact = found.contact
    return {
        "programme": table["p_programme_of"].format(short=short) if short else table["p_programme"],
        "full": table["p_full_of"].format(name=found.name.get(language)) if found.name else table["p_programme"],
        "short": short or table["p_short"],
        "team": table["p_team_of"].format(short=short) if short else table["p_team"],
        "staff": table["p_staff_of"].format(short=short) if short else table["p_staff"],
        "office": table["p_office_of"].format(office=contact.office.get(language)) if contact else table["p_office"],
        "contact": table["p_contact"].format(email=contact.email) if contact and contact.email else "",
        "district": found.district.get(language) if found.district else table["p_district"],
        "city": found.city.get(language) if found.city else table["p_city"],
    }


def text(language: Language, key: str, programme: Programme | None = None, **values: object) -> str:
    """The sentence `key` in `language`, with its placeholders filled (the programme's from `programme`)."""
    return TEXTS[language][key].format(**{**identity(language, programme), **values})
