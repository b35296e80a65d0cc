"""Cross-language term bridge: each question word's nearest knowledge-base word in the other language.

A Chinese question shares no words with the English clause that answers it, so the lexical side cannot help
it, and the dense side alone ranks that clause below same-language near misses. The multilingual embedding
model maps single words across languages well (芯片 -> chip, 孵化器 -> incubator, young -> 青年), so
retrieval can count a bridged word as a match when it ranks passages. Bridged matches only order
passages; they are not evidence that the knowledge base answers a question (see Passage.score).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from langchain_core.embeddings import Embeddings

# The most frequent words only: the matrix is searched for every question (20,000 words: 40 MB).
MAX_WORDS = 20_000
BATCH = 256  # words embedded at once: the model's working memory grows with the batch
_DIGIT = re.compile(r"\d")


def bridgeable(term: str) -> bool:
    """A word worth translating: no numbers or codes (they match as they are), no single characters."""
    return not _DIGIT.search(term) and len(term) >= (3 if term.isascii() else 2)


class TermBridge:
    """Translates question words into the knowledge base's words of the other language."""

    def __init__(
        self,
        embeddings: Embeddings,
        vocabulary: list[str],
        min_similarity: float,
        known: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.min_similarity = min_similarity
        # A threshold above 1 turns bridging off: then no word is worth embedding.
        self.words = [w for w in vocabulary if bridgeable(w)][:MAX_WORDS] if min_similarity <= 1 else []
        self.vectors = self._embed(self.words, known or {})
        self._latin = np.array([w.isascii() for w in self.words], dtype=bool)
        self._cached = lru_cache(maxsize=4096)(self._translate)

    def _embed(self, words: list[str], known: dict[str, np.ndarray]) -> np.ndarray:
        """Word vectors, reusing those of the previous generation: a refresh changes few words."""
        fresh = [w for w in words if w not in known]
        embedded = [
            np.asarray(vector, dtype=np.float32)
            for start in range(0, len(fresh), BATCH)
            for vector in self.embeddings.embed_documents(fresh[start : start + BATCH])
        ]
        vectors = known | dict(zip(fresh, embedded, strict=True))
        dim = len(next(iter(vectors.values()))) if vectors else 1
        return np.asarray([vectors[w] for w in words], dtype=np.float32).reshape(len(words), dim)

    def known(self) -> dict[str, np.ndarray]:
        """Word -> vector, for the bridge of the next generation."""
        return dict(zip(self.words, self.vectors, strict=True))

    def _translate(self, terms: tuple[str, ...]) -> dict[str, str]:
        wanted = [t for t in dict.fromkeys(terms) if bridgeable(t)]
        if not wanted or not self.words:
            return {}
        queries = np.asarray(self.embeddings.embed_documents(wanted), dtype=np.float32)
        similarity = queries @ self.vectors.T
        found: dict[str, str] = {}
        for term, row in zip(wanted, similarity, strict=True):
            # Only the other language: a same-language neighbour is a near synonym, not a translation.
            row = np.where(self._latin != term.isascii(), row, -1.0)
            best = int(np.argmax(row))
            if row[best] >= self.min_similarity:
                found[term] = self.words[best]
        return found

    def bridge(self, terms: Iterable[str]) -> dict[str, str]:
        """Question word -> the knowledge base's word in the other language that means the same, where one does."""
        return self._cached(tuple(terms))
