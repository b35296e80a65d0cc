"""The staff glossary: a Chinese name finds the English row that uses another name for the same thing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knowledge.embeddings import LocalEmbeddings
from knowledge.glossary import GLOSSARY_FILE, GlossaryError, parse_glossary
from knowledge.indexing import Ingest
from knowledge.retrieve import HybridSearcher
from knowledge.store import make_store
from tests.conftest import DEV_CORPUS, make_settings

CRYO_EM = "冷冻电镜一次多少钱？"
CRYO_ROW = "resources/equipment.csv#1"


@pytest.fixture
def folders(tmp_path: Path, dev_data_dir: Path) -> tuple[Path, Path]:
    """A copy of the dev corpus and of its index, so ingesting a glossary re-embeds nothing."""
    corpus, data = tmp_path / "corpus", tmp_path / "data"
    shutil.copytree(DEV_CORPUS, corpus)
    shutil.copytree(dev_data_dir, data)
    return corpus, data


def _top(corpus: Path, data: Path, embeddings: LocalEmbeddings, question: str) -> str:
    store = make_store(make_settings(data))
    report = Ingest(store, embeddings).run([corpus])
    assert report.failed == [], report.failed
    return HybridSearcher(store, embeddings).search(question, k=1)[0].source_key


def test_a_glossary_entry_makes_a_chinese_name_find_the_english_row_and_removing_it_undoes_that(
    folders: tuple[Path, Path], local_embeddings: LocalEmbeddings
) -> None:
    corpus, data = folders
    assert _top(corpus, data, local_embeddings, CRYO_EM) != CRYO_ROW, "the model alone misses it"
    (corpus / GLOSSARY_FILE).write_text("- [冷冻电镜, cryo-EM, cryo-electron microscope]\n", encoding="utf-8")
    assert _top(corpus, data, local_embeddings, CRYO_EM) == CRYO_ROW
    (corpus / GLOSSARY_FILE).unlink()
    assert _top(corpus, data, local_embeddings, CRYO_EM) != CRYO_ROW


def test_an_invalid_glossary_is_reported_and_the_one_served_stays(
    folders: tuple[Path, Path], local_embeddings: LocalEmbeddings
) -> None:
    corpus, data = folders
    (corpus / GLOSSARY_FILE).write_text("- [冷冻电镜, cryo-electron microscope]\n", encoding="utf-8")
    assert _top(corpus, data, local_embeddings, CRYO_EM) == CRYO_ROW
    (corpus / GLOSSARY_FILE).write_text("- [冷冻电镜, cryo-electron microscope]\n- [冷冻电镜]\n", encoding="utf-8")
    store = make_store(make_settings(data))
    report = Ingest(store, local_embeddings).run([corpus])
    assert [(f.path, "entry 2" in f.reason) for f in report.failed] == [(GLOSSARY_FILE, True)]
    assert HybridSearcher(store, local_embeddings).search(CRYO_EM, k=1)[0].source_key == CRYO_ROW


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("- [cryo-EM]\n", "entry 1 (line 1): a group needs two or more different names"),
        ("- [cryo-EM, CRYO-EM]\n", "two or more different names"),
        ("# names\n- [a, b]\n\n- [c, B]\n", "entry 2 (line 4): 'b' is already in entry 1 (line 2); merge the two"),
        ("- cryo-EM\n", "entry 1 (line 1): "),
        ("cryo: em\n", "each entry is a list of names"),
        ("- [a, b\n", "not valid YAML (line 2)"),
    ],
)
def test_glossary_mistakes_are_named(text: str, says: str) -> None:
    with pytest.raises(GlossaryError) as caught:
        parse_glossary(text)
    assert says in str(caught.value)


def test_the_sample_glossary_is_valid() -> None:
    from knowledge.settings import SAMPLE_KNOWLEDGE

    assert len(parse_glossary((SAMPLE_KNOWLEDGE / GLOSSARY_FILE).read_text(encoding="utf-8"))) >= 5
