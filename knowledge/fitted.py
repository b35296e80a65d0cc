"""The figures the answering method fits from the development sets (`bench/fit.py` writes them to fitted.json):
the weight of the question's own words in retrieval, and the evidence an extractive answer needs."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

FITTED = Path(__file__).with_name("fitted.json")


class Thresholds(BaseModel):
    """How much evidence an extractive answer needs (bot/core/evidence.py applies them)."""

    min_score: float = Field(description="Below: nothing worth showing, 'I don't know'.")
    confident_score: float = Field(description="From here up the quotes are the answer; below, labelled unsure...")
    confident_lexical: float = Field(description="...unless the passage also holds this share of the question's words.")


class Fitted(Thresholds):
    """What bench/fit.py chose, and on which sets."""

    lexical_weight: float = Field(description="Retrieval: weight of the question's words found, beside meaning.")
    fitted_on: list[str] = Field(default_factory=list, description="The development sets the values come from.")
    objective: str = Field("", description="What the fit maximised.")


@lru_cache(maxsize=1)
def fitted() -> Fitted:
    """The figures in fitted.json, read once."""
    return Fitted.model_validate_json(FITTED.read_text(encoding="utf-8"))
