"""The programme's vocabulary: staff name places and sectors in a file; ingest checks it; the advice reads it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from bot.core.eligibility import EligibilityAdvisor, parse_facts
from knowledge.indexing import Ingest
from knowledge.settings import SAMPLE_KNOWLEDGE
from knowledge.store import make_store
from knowledge.vocabulary import VOCABULARY_FILE, VocabularyError, load_vocabulary, parse_vocabulary
from tests.conftest import make_settings

TODAY = date(2026, 11, 25)
HARBOUR = """
places:
  city: [harbour city, 港城]
  district: [bay district, seaside park, 湾区]
  elsewhere_in_city: [old town]
sectors:
  new_energy:
    words: [tidal]
    stems: [offshore wind, 潮汐]
"""


def _knowledge(tmp_path: Path, vocabulary: str) -> Path:
    folder = tmp_path / "kb"
    (folder / "policies").mkdir(parents=True)
    (folder / "policies" / "guide.md").write_text("# Guide\n\nThe programme supports founders.\n", encoding="utf-8")
    (folder / VOCABULARY_FILE).write_text(vocabulary, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("we are registered in Bay District", {"registered_in_district": True, "registered_in_city": True}),
        ("our office is in Seaside Park", {"registered_in_district": True, "registered_in_city": True}),
        ("registered in Harbour City's Old Town", {"registered_in_district": False, "registered_in_city": True}),
        ("not in Bay District", {"registered_in_district": False}),
        (
            "注册在港城湾区，做潮汐发电",
            {"registered_in_district": True, "registered_in_city": True, "sector": "new_energy"},
        ),
        ("we build tidal turbines", {"sector": "new_energy"}),
        ("we are in Pudong", {}),  # the sample's district means nothing to this programme
    ],
)
def test_another_programme_names_its_own_places_and_sectors(message: str, expected: dict[str, object]) -> None:
    facts = parse_facts(message, TODAY, parse_vocabulary(HARBOUR))
    assert facts.model_dump(exclude_defaults=True) == expected


def test_without_a_vocabulary_no_place_or_sector_is_read() -> None:
    assert parse_facts("a chip startup registered in Pudong, 12 employees", TODAY).model_dump(
        exclude_defaults=True
    ) == {"headcount": 12}


def test_the_sample_ships_a_valid_vocabulary() -> None:
    vocabulary = load_vocabulary([SAMPLE_KNOWLEDGE])
    assert "pudong" in vocabulary.places.district and "上海" in vocabulary.places.city
    assert len(vocabulary.sectors) == 8


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("places: [pudong", "not valid YAML (line 1)"),
        ("places:\n  city: &c [x]\n  district: *c", "YAML aliases (*name) are not accepted"),
        ("- pudong", "a vocabulary file is a mapping with places: and sectors:"),
        ("sectors:\n  fintech:\n    words: [bank]", "sectors.fintech.[key]: Input should be 'ic', 'biomedicine'"),
        ("places:\n  district: [Pudong]", "places.district.0: String should match pattern"),
        ("places:\n  district: ['chips?']", "places.district.0: String should match pattern"),
        ("places:\n  city: [shanghai]\n  district: [shanghai]", "'shanghai' is listed under both city and district"),
        ("place:\n  city: [shanghai]", "place: Extra inputs are not permitted"),
    ],
)
def test_a_broken_vocabulary_gets_a_clear_error(text: str, reason: str) -> None:
    with pytest.raises(VocabularyError) as caught:
        parse_vocabulary(text)
    assert reason in str(caught.value)


def test_ingest_reports_a_broken_vocabulary_and_the_advisor_keeps_working(tmp_path: Path) -> None:
    folder = _knowledge(tmp_path, "places:\n  district: [Bay District]\n")
    store = make_store(make_settings(tmp_path / "data"))
    report = Ingest(store, DeterministicFakeEmbedding(size=16)).run([folder])
    [failure] = report.failed
    assert failure.path == VOCABULARY_FILE and "places.district.0" in failure.reason
    assert report.published and VOCABULARY_FILE in [
        skipped.path for skipped in report.ignored
    ]  # the documents are still served
    assert (
        EligibilityAdvisor.from_sources([folder])
        .facts.read("registered in Bay District", TODAY)
        .model_dump(exclude_defaults=True)
        == {}
    )


def test_an_edited_vocabulary_publishes_a_generation_the_bot_rereads(tmp_path: Path) -> None:
    folder = _knowledge(tmp_path, HARBOUR)
    store = make_store(make_settings(tmp_path / "data"))
    embeddings = DeterministicFakeEmbedding(size=16)
    assert Ingest(store, embeddings).run([folder]).published
    (folder / VOCABULARY_FILE).write_text(HARBOUR.replace("seaside park", "seaside park, pier"), encoding="utf-8")
    again = Ingest(store, embeddings).run([folder])
    assert again.published and again.failed == []
    advisor = EligibilityAdvisor.from_sources([folder])
    assert advisor.facts.read("we are based in Pier", TODAY).registered_in_district is True
