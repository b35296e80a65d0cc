"""Lexical side of retrieval: BM25 over jieba-segmented text, so names and codes match exactly."""

from __future__ import annotations

import logging
import math
import re
import tempfile
from collections.abc import Mapping
from functools import lru_cache

import bm25s
import jieba
import numpy as np

_CODE = re.compile(r"[a-z0-9]+(?:[-./][a-z0-9]+)+")  # GOI-PL-2025, ab-1200, 7.5
_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]+")
# A version of something named: "GOI 3.0", "version 2.1", "v1.2"; not an amount ("RMB 1.35 million").
_VERSION = re.compile(
    r"\b(?:[A-Z][A-Za-z]*|[Vv]ersion|[Vv])\s?(\d+(?:\.\d+)+)\b(?!\s*(?i:million|billion|thousand|[km]\b|%|万|亿|千))"
)
# Words that carry no evidence in either language; BM25's IDF leaves them too much weight
# in short passages, where one "the" can outscore a missing keyword.
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "there",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "will",
        "with",
        "would",
        "you",
        "your",
        "about",
        "any",
        "get",
        "的",
        "了",
        "吗",
        "呢",
        "是",
        "在",
        "和",
        "与",
        "或",
        "及",
        "我",
        "我们",
        "你",
        "你们",
        "有",
        "要",
        "给",
        "能",
        "可以",
        "多少",
        "什么",
        "怎么",
        "哪",
        "哪些",
        "吧",
        "啊",
        "就",
        "也",
        "都",
        "一个",
        "这个",
        "那个",
        "请问",
    ]
)


@lru_cache(maxsize=1)
def _segmenter() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    # jieba caches its dictionary; keep the cache out of the working directory.
    tokenizer.tmp_dir = tempfile.gettempdir()
    jieba.setLogLevel(logging.WARNING)
    return tokenizer


def versions(text: str) -> list[str]:
    """The version numbers a text names ("GOI 3.0" -> "3.0")."""
    return _VERSION.findall(text)


def identifiers(terms: list[str]) -> list[str]:
    """The search tokens that name one thing exactly: codes of letters and digits ("ins-024", "cn2023.x"), not a
    hyphenated word ("co-founder") nor a number ("7.5")."""
    return [
        term
        for term in terms
        if _CODE.fullmatch(term) and any(c.isdigit() for c in term) and any(c.isalpha() for c in term)
    ]


def tokenize(text: str) -> list[str]:
    """Lower-cased search tokens: jieba words for Chinese, words and whole codes for the rest."""
    lowered = text.lower()
    tokens = _CODE.findall(lowered)
    for run in _WORD.findall(lowered):
        if run[0].isascii():
            tokens.append(run)
        else:
            tokens.extend(_segmenter().lcut_for_search(run))
    return [t for t in tokens if t not in _STOP and t.strip()]


def searchable(title: str, section: str | None, text: str) -> str:
    """What the lexical side reads of a passage: its title and section name count as its words."""
    return f"{title} {section or ''}\n{text}"


class LexicalIndex:
    """BM25 over a fixed list of passages, built in one go from an index generation."""

    def __init__(self, texts: list[str]) -> None:
        self._bm25 = bm25s.BM25()
        tokens = [tokenize(text) or ["\u2205"] for text in texts]
        self._bm25.index(tokens, show_progress=False)
        # Each passage's distinct words as ids in one flat array: a set of strings per passage cost a 200,000-row
        # listing's bot about 100 MB of the lexical side's 490 (bench/ingest.py --limits).
        vocabulary: dict[str, int] = self._bm25.vocab_dict
        per_passage = [np.unique(np.fromiter(map(vocabulary.__getitem__, t), np.int32, len(t))) for t in tokens]
        del tokens
        self._starts = np.cumsum([0, *map(len, per_passage)], dtype=np.int64)
        self._ids = np.concatenate(per_passage) if per_passage else np.zeros(0, dtype=np.int32)
        self._vocabulary = vocabulary
        self._words = sorted(vocabulary, key=vocabulary.__getitem__)  # id -> word
        self._frequency = np.bincount(self._ids, minlength=len(vocabulary))  # passages holding each word
        self._unseen = math.log(1 + len(texts))  # a word no passage has is as telling as the rarest
        self.size = len(texts)
        self._versions = frozenset(version for text in texts for version in versions(text))
        # A search reads each candidate's words up to three times (own and bridged coverage, named codes).
        self._words_of = lru_cache(maxsize=256)(self._read_words)

    def names_version(self, version: str) -> bool:
        """True when some passage names this version of something ("GOI 2.0", "v2.0")."""
        return version in self._versions

    def vocabulary(self) -> list[str]:
        """Every indexed word, the most widespread first."""
        held = [int(i) for i in np.argsort(-self._frequency, kind="stable") if self._frequency[i] > 0]
        return [self._words[i] for i in held]

    def holds(self, index: int, terms: list[str]) -> bool:
        """True when passage `index` contains one of the words."""
        return bool(terms) and not self._words_of(index).isdisjoint(terms)

    def weights(self, terms: list[str]) -> dict[str, float]:
        """The query's words (from `tokenize`), each weighted by how much it tells (IDF)."""
        return {term: self._idf(term) for term in set(terms)}

    def _idf(self, term: str) -> float:
        at = self._vocabulary.get(term)
        held = int(self._frequency[at]) if at is not None else 0
        return math.log(1 + self.size / held) if held else self._unseen

    def coverage(
        self,
        weights: dict[str, float],
        index: int,
        synonyms: Mapping[str, str] | None = None,
        named: Mapping[str, list[frozenset[str]]] | None = None,
    ) -> float:
        """Share of the query's information (IDF-weighted words) that passage `index` contains.

        Unlike a raw BM25 score this does not reward a passage for one incidental rare word,
        which matters when one language is a minority of the corpus and all its words look rare;
        and a question about things the knowledge base never mentions scores low everywhere.
        A word also counts as found when its synonym (e.g. its translation) is, or when all the words of an
        equivalent name are (`named`: the glossary's, see knowledge.glossary).
        """
        total = sum(weights.values())
        if total == 0:
            return 0.0
        terms = self._words_of(index)
        synonyms, named = synonyms or {}, named or {}

        def found(term: str) -> bool:
            return term in terms or synonyms.get(term) in terms or any(name <= terms for name in named.get(term, ()))

        return sum(w for term, w in weights.items() if found(term)) / total

    def _read_words(self, index: int) -> frozenset[str]:
        """The distinct words of passage `index`: the question's words are looked up among them."""
        ids = self._ids[self._starts[index] : self._starts[index + 1]]
        return frozenset(self._words[i] for i in ids)

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every passage for the query's words (from `tokenize`); zeros when nothing matches."""
        if not terms or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return self._bm25.get_scores(terms)
