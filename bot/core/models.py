"""What goes in and out of the assistant core, whatever the channel."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from knowledge.language import Language


class Source(BaseModel):
    """A document (or spreadsheet row) an answer is based on."""

    title: str
    path: str
    row: int | None = None
    score: float
    date: str | None = Field(None, description="Effective date of the document, when it has one.")
    section: str | None = Field(None, description="Clause or heading path the answer quotes.")
    url: str | None = None
    expires: str | None = Field(None, description="Expiry date of the document, when it has one.")
    expired: bool = False


class Answer(BaseModel):
    """The assistant's reply to one question."""

    question: str
    answer: str
    answered: bool
    language: Language
    mode: Literal["llm", "extractive"]
    sources: list[Source] = Field(default_factory=list)
    curated: bool = False


class Question(BaseModel):
    """One question with the user's earlier turns in the conversation, oldest first."""

    question: str = Field(min_length=1)
    history: list[str] = Field(default_factory=list)
