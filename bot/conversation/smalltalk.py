"""Small talk: greetings, thanks, goodbyes, "who are you / what can you do / help" — recognised, never searched.

Two tests that mean the same on any corpus, in English and Chinese: no content word remains once the words of the
small-talk exemplars (smalltalk.yaml, general language; typos allowed) are set aside, and the message is close in
meaning to an exemplar by the bundled embedding model (threshold fitted by scripts/fit_smalltalk.py). A question
that starts with "hi," keeps its content words, so it is still answered.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel

from knowledge.embeddings import LocalEmbeddings, model_id
from knowledge.lexical import tokenize
from knowledge.safe_yaml import load_yaml

log = logging.getLogger(__name__)

Intent = Literal["greeting", "thanks", "goodbye", "about"]
EXEMPLARS = Path(__file__).with_name("smalltalk.yaml")
FITTED = Path(__file__).with_name("smalltalk_fit.json")
MAX_CHARS = 60  # longer messages carry a question, whatever their words
TYPO = 0.8  # difflib ratio at which an unknown word is taken as a misspelt exemplar word ("thnaks", "helo")
_HAN = re.compile(r"[\u3400-\u9fff]")
_NOISE = re.compile(r"[^\w\s]|_")  # emoji and punctuation carry no meaning the model needs
_STRETCHED = re.compile(r"([a-z])\1{2,}")  # "heyyy", "hiiii": chat spelling, read as "heyy", "hii"
# Chinese sentence-final particles: grammar, not topic ("谢啦", "好吧"), in any text.
_PARTICLES = frozenset("啊呀啦吧哦嘛呢哈噢喔嗯咯哇")


class Fitted(BaseModel):
    """What scripts/fit_smalltalk.py wrote: the similarity threshold, the model and the set it was fitted on."""

    threshold: float
    model: str
    fitted_on: str
    accuracy: float


def load_exemplars(path: Path = EXEMPLARS) -> dict[Intent, list[str]]:
    """The exemplar messages per intent."""
    return load_yaml(path.read_text(encoding="utf-8"))


class SmallTalk:
    """Recognises small talk and says which kind."""

    def __init__(self, embeddings: Embeddings, exemplars: dict[Intent, list[str]], threshold: float) -> None:
        self.embeddings = embeddings
        self.exemplars = [(intent, text) for intent, texts in exemplars.items() for text in texts]
        self.threshold = threshold
        words = {word for _, text in self.exemplars for word in tokenize(text)}
        self._words = words
        self._latin = sorted(word for word in words if word.isascii())
        self._chars = {char for word in words for char in word if _HAN.match(char)}

    @classmethod
    def bundled(cls, embeddings: Embeddings) -> SmallTalk:
        """The shipped exemplars and fitted threshold, with `embeddings` when it is the model fitted with."""
        fitted = Fitted.model_validate(json.loads(FITTED.read_text(encoding="utf-8")))
        if model_id(embeddings) != fitted.model:
            log.info("small talk uses the bundled model: the threshold was fitted with %s", fitted.model)
            embeddings = LocalEmbeddings()
        return cls(embeddings, load_exemplars(), fitted.threshold)

    def _spelled(self, word: str) -> str | None:
        """The exemplar word a word is (itself, or the one it misspells); None for a content word."""
        if word in self._words or (word.isascii() and len(word) <= 2):  # "u", "ya": no topic in two letters
            return word
        if not word.isascii():
            known = self._chars | _PARTICLES
            return word if all(char in known for char in word if _HAN.match(char)) else None
        close = difflib.get_close_matches(word, self._latin, n=1, cutoff=TYPO) if len(word) >= 3 else []
        return close[0] if close else None

    def _known(self, word: str) -> bool:
        return self._spelled(word) is not None

    def content_words(self, message: str) -> list[str]:
        """The words of `message` that are not small talk (the topic of a question)."""
        return [word for word in tokenize(_unstretched(message)) if not self._known(word)]

    @cached_property
    def _vectors(self) -> np.ndarray:
        return _normalized(self.embeddings.embed_documents([text for _, text in self.exemplars]))

    def closest(self, message: str) -> tuple[Intent, float]:
        """The intent of the exemplar closest in meaning, and its cosine similarity."""
        words = _NOISE.sub(" ", _unstretched(message)).split()
        cleaned = " ".join(self._spelled(word) or word for word in words) or message
        scores = self._vectors @ _normalized([self.embeddings.embed_query(cleaned)])[0]
        best = int(np.argmax(scores))
        return self.exemplars[best][0], float(scores[best])

    def intent(self, message: str) -> Intent | None:
        """The kind of small talk `message` is, None for anything to answer from the documents."""
        if len(message) > MAX_CHARS or self.content_words(message):
            return None
        intent, score = self.closest(message)
        if score >= self.threshold:
            return intent
        # Only emoji or punctuation ("🙂"): searching it quotes random rows; the greeting says what to ask.
        return "greeting" if not _NOISE.sub("", message).strip() else None


def _unstretched(message: str) -> str:
    return _STRETCHED.sub(r"\1\1", message.lower())


def _normalized(vectors: list[list[float]]) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)
