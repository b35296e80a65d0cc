"""What the bot keeps for staff: questions and how they were answered, feedback, handoffs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Engine, Integer, and_, cast, func, insert, select

from bot.conversation.tables import feedback, handoffs, now, questions, upsert
from bot.core.models import Answer, Source
from knowledge.language import Language


class Tally(BaseModel):
    """Questions and the answered share for one day or event."""

    label: str
    questions: int
    answered: int  # percent


class Handoff(BaseModel):
    """A user whose conversation was handed to staff."""

    chat_id: int
    language: Language
    who: str
    question_id: int | None = None  # the question the user was handed over on


class Stats(BaseModel):
    """The staff report over the last `days` days."""

    days: int
    event: str | None = None
    total: Tally
    helpful: int
    unhelpful: int
    by_day: list[Tally]
    by_event: list[Tally]
    unanswered: list[tuple[str, int]]
    disliked: list[tuple[str, int]]


class Gap(BaseModel):
    """One recorded question the bot did not answer, whose answer got 👎, or on which the user was handed to staff."""

    question: str
    at: str
    answered: bool
    disliked: bool
    handed_off: bool = False
    mode: str
    sources: list[str]


def _tally(label: str, questions: int, answered: int | None) -> Tally:
    return Tally(
        label=label, questions=questions, answered=round(100 * (answered or 0) / questions) if questions else 0
    )


def _scope(days: int, event: str | None) -> ColumnElement[bool]:
    """Questions asked since `days` ago (today included), and at `event` when one is given."""
    recent = questions.c.at >= (datetime.now(UTC).date() - timedelta(days=days - 1)).isoformat()
    return and_(recent, questions.c.event == event) if event else recent


class Records:
    """The staff's tables in the bot's database; every replica reads and writes the same rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        """Close the database connections (shared with the conversations' state)."""
        self.engine.dispose()

    def add_question(self, chat_id: int, user_id: int | None, event: str | None, answer: Answer) -> int:
        """Record a question with its answer; returns its id (used in the answer's buttons)."""
        row = insert(questions).values(
            at=now(), chat_id=chat_id, user_id=user_id, event=event, language=answer.language,
            question=answer.question, answered=answer.answered, mode=answer.mode,
            sources=[s.model_dump(mode="json") for s in answer.sources],
        )  # fmt: skip
        with self.engine.begin() as db:
            return int(db.execute(row).inserted_primary_key[0])

    def sources(self, question_id: int, chat_id: int) -> list[Source]:
        """The sources of an answer given in `chat_id` (none for an unknown id, or another chat's answer)."""
        with self.engine.connect() as db:
            found = db.scalar(
                select(questions.c.sources).where(questions.c.id == question_id, questions.c.chat_id == chat_id)
            )
        return [Source.model_validate(s) for s in found or []]

    def feedback(self, question_id: int, chat_id: int, user_id: int, helpful: bool) -> bool:
        """Record (or change) one user's verdict on an answer given in `chat_id`; False if it was not (forged)."""
        verdict = upsert(self.engine, feedback, question_id=question_id, user_id=user_id, helpful=helpful, at=now())
        with self.engine.begin() as db:
            asked_here = select(questions.c.id).where(questions.c.id == question_id, questions.c.chat_id == chat_id)
            if db.scalar(asked_here) is None:
                return False
            db.execute(verdict)
        return True

    def add_handoff(self, staff_message_id: int, user_id: int | None, handoff: Handoff) -> None:
        """Remember which user a message in the staff chat is about, so staff replies reach them."""
        row = upsert(
            self.engine, handoffs, staff_message_id=staff_message_id, chat_id=handoff.chat_id, user_id=user_id,
            language=handoff.language, who=handoff.who, question_id=handoff.question_id, at=now(),
        )  # fmt: skip
        with self.engine.begin() as db:
            db.execute(row)

    def handoff(self, staff_message_id: int) -> Handoff | None:
        """The user a staff-chat message hands off, if it is a handoff."""
        h = handoffs.c
        query = select(h.chat_id, h.language, h.who, h.question_id).where(h.staff_message_id == staff_message_id)
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return Handoff.model_validate(row._asdict()) if row else None

    def move_handoff(self, staff_message_id: int, to: int) -> None:
        """File a hand-off under the staff message it was finally posted as (a note queued for another channel)."""
        with self.engine.begin() as db:
            db.execute(
                handoffs.update().where(handoffs.c.staff_message_id == staff_message_id).values(staff_message_id=to)
            )

    def question(self, question_id: int) -> str | None:
        """The text of a recorded question."""
        with self.engine.connect() as db:
            return db.scalar(select(questions.c.question).where(questions.c.id == question_id))

    def stats(self, days: int = 7, top: int = 5, event: str | None = None) -> Stats:
        """Questions, answered share, feedback, top unanswered and disliked questions since `days` ago (at `event`)."""
        q, f = questions, feedback
        recent = _scope(days, event)
        count, answered = func.count(), func.sum(cast(q.c.answered, Integer))
        day, tag = func.substr(q.c.at, 1, 10).label("day"), func.coalesce(q.c.event, "").label("tag")
        said = q.join(f, f.c.question_id == q.c.id)
        with self.engine.connect() as db:
            total = db.execute(select(count, answered).where(recent)).one()
            votes = db.execute(
                select(func.sum(cast(f.c.helpful, Integer)), func.sum(1 - cast(f.c.helpful, Integer)))
                .select_from(said)
                .where(recent)
            ).one()
            by_day = db.execute(select(day, count, answered).where(recent).group_by(day).order_by(day.desc())).all()
            by_event = db.execute(
                select(tag, count, answered).where(recent).group_by(tag).order_by(count.desc()).limit(10)
            ).all()
            same = func.lower(func.trim(q.c.question))
            unanswered = db.execute(
                select(func.min(q.c.question), count)
                .where(recent, ~q.c.answered)
                .group_by(same)
                .order_by(count.desc(), func.max(q.c.at).desc())
                .limit(top)
            ).all()
            disliked = db.execute(
                select(q.c.question, count)
                .select_from(said)
                .where(recent, ~f.c.helpful)
                .group_by(q.c.id)
                .order_by(count.desc(), q.c.id.desc())
                .limit(top)
            ).all()
        return Stats(
            days=days,
            event=event,
            total=_tally("", *total),
            helpful=votes[0] or 0,
            unhelpful=votes[1] or 0,
            by_day=[_tally(*row) for row in by_day],
            by_event=[_tally(*row) for row in by_event],
            unanswered=[(question, n) for question, n in unanswered],
            disliked=[(question, n) for question, n in disliked],
        )

    def hourly(self, days: int = 7, event: str | None = None) -> list[tuple[str, int]]:
        """Questions per hour (UTC, "YYYY-MM-DDTHH"), oldest first, since `days` ago (at `event`)."""
        hour = func.substr(questions.c.at, 1, 13).label("hour")
        query = select(hour, func.count()).where(_scope(days, event)).group_by(hour).order_by(hour)
        with self.engine.connect() as db:
            return [(at, n) for at, n in db.execute(query)]

    def gaps(self, days: int = 7, event: str | None = None) -> list[Gap]:
        """Questions since `days` ago (at `event`) that were not answered, got 👎 or were handed to staff, with
        their sources' paths."""
        q, f = questions, feedback
        disliked = q.c.id.in_(select(f.c.question_id).where(~f.c.helpful).scalar_subquery())
        handed = q.c.id.in_(select(handoffs.c.question_id).where(handoffs.c.question_id.is_not(None)).scalar_subquery())
        query = select(q.c.question, q.c.at, q.c.answered, disliked, handed, q.c.mode, q.c.sources).where(
            _scope(days, event), ~q.c.answered | disliked | handed
        )
        with self.engine.connect() as db:
            rows = db.execute(query).all()
        return [
            Gap(
                question=text, at=at, answered=answered, disliked=bad, handed_off=passed, mode=mode,
                sources=[s["path"] for s in found],
            )
            for text, at, answered, bad, passed, mode, found in rows
        ]  # fmt: skip
