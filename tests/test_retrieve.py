"""Retrieval across languages: question words bridged to the knowledge base's words in the other language."""

from __future__ import annotations

import pytest

from knowledge.bridge import TermBridge
from knowledge.lexical import LexicalIndex, versions
from knowledge.retrieve import HybridSearcher, SearchConfig

VOCABULARY = ["chip", "incubator", "rent", "subsidy", "microscope", "芯片", "孵化器", "青年", "租金", "GOI-2025"]


def test_words_are_bridged_to_their_translation_in_the_other_language(local_embeddings):
    bridge = TermBridge(local_embeddings, VOCABULARY, min_similarity=SearchConfig().bridge_similarity)
    found = bridge.bridge(["芯片", "孵化器", "young", "subsidy"])
    assert found["芯片"] == "chip" and found["孵化器"] == "incubator" and found["young"] == "青年"
    assert found.get("subsidy") != "subsidy"  # a word is never bridged to itself or its own language


def test_numbers_codes_and_unrelated_words_are_not_bridged(local_embeddings):
    bridge = TermBridge(local_embeddings, VOCABULARY, min_similarity=SearchConfig().bridge_similarity)
    assert bridge.bridge(["2025", "goi-2025", "小笼包", "x"]) == {}


def test_a_chinese_question_finds_the_english_row_it_names(searcher, local_embeddings):
    question = "有没有机器人打磨的专利？"  # the patent row is in English: "Force-controlled polishing ..."
    without = HybridSearcher(searcher.store, local_embeddings, SearchConfig(bridge_similarity=2.0))
    assert searcher.search(question, k=1)[0].source_key == "resources/patents.xlsx#9"
    assert without.search(question, k=1)[0].source_key != "resources/patents.xlsx#9"


def test_a_bridged_match_orders_passages_but_is_not_evidence(searcher):
    # Translations rank a passage; only the question's own words and meaning may make an answer confident.
    for passage in searcher.search("开放伙伴买了我们的芯片，有奖励吗？", k=5):
        assert passage.score == passage.dense + searcher.config.lexical_weight * passage.lexical


def test_versions_are_matched_as_the_documents_write_them():
    index = LexicalIndex(["Release notes for the v2.1 platform", "GOI 2.0 was launched in August 2025."])
    assert index.names_version("2.1") and index.names_version("2.0") and not index.names_version("3.0")
    assert versions("is RMB 1.35 million enough for GOI 3.0?") == ["3.0"]


def test_nonsense_search_arguments_are_refused_with_what_is_wrong(searcher):
    with pytest.raises(ValueError, match="k must be at least 1, not 0"):
        searcher.search("voucher cap", k=0)
    with pytest.raises(ValueError, match="candidates must be at least 1"):
        SearchConfig(candidates=0)
    with pytest.raises(ValueError, match="lexical_weight cannot be negative"):
        SearchConfig(lexical_weight=-0.2)
