"""Admin API routes of the matching job: run it, and decide on the review queue. Served
under `/api` (api/routers.py); the job itself is profiles/matching_job.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine

from omnicx.api.auth import Caller, require_permission
from omnicx.api.errors import ApiError, ErrorBody
from omnicx.profiles import matching_job as job
from omnicx.profiles.matching_job import MatchJobError, MatchJobReport, ReviewView
from omnicx.profiles.matching_records import FIELDS

router = APIRouter(tags=["identity"])

RUNNERS = require_permission("identity.matching")
REVIEWERS = require_permission("profiles.repair")

STATUS: dict[str, int] = {
    "invalid_thresholds": 422,
    "unknown_field": 422,
    "invalid_status": 422,
    "too_few_records": 409,
    "cannot_match": 409,
    "matching_failed": 500,
    "not_found": 404,
    "already_decided": 409,
}


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


class MatchProfilesIn(BaseModel):
    """How to run the matching job; every field has a default."""

    auto_merge: float = Field(
        default=job.AUTO_MERGE,
        gt=0,
        le=1,
        description="Pairs at least this likely to be the same person are merged.",
    )
    review_from: float = Field(
        default=job.REVIEW_FROM,
        gt=0,
        le=1,
        description="Pairs at least this likely (and below `auto_merge`) go to the review "
        "queue; at most `auto_merge`.",
    )
    fields: list[str] | None = Field(
        default=None,
        description=f"The fields to compare (default all): {', '.join(FIELDS)}.",
    )


class MatchJobOut(BaseModel):
    """What a run of the matching job did."""

    profiles: int = Field(description="Profiles holding any of the traits read.")
    records: int = Field(description="Profiles with a name and another field to compare.")
    compared: list[str] = Field(description="The record columns compared.")
    pairs: int = Field(description="Pairs at least `review_from` likely to be the same person.")
    merged: int = Field(description="Pairs joined into one profile.")
    refused: int = Field(
        description="Pairs a rule refused to join (two userIds, an unmerge), now or before."
    )
    queued: int = Field(description="Pairs newly added to the review queue.")
    held: int = Field(
        description="Pairs at least `auto_merge` likely offered for review instead of merged: "
        "nothing but the name and the city agrees, or a surname or the birth dates differ."
    )
    dismissed: int = Field(
        description="Pairs of two people whatever the model says (the given names differ, or "
        "the surnames and the birth dates do): neither merged nor queued."
    )
    skipped: int = Field(
        description="Pairs already one profile, rejected by a reviewer, or already queued."
    )
    auto_merge: float
    review_from: float
    seconds: float


class ReviewOut(BaseModel):
    """A probable match in the review queue."""

    id: int
    left_profile_id: str
    right_profile_id: str
    probability: float
    detail: dict[str, Any] = Field(
        description="The compared values, `{field: [left, right]}` (first_name, last_name, "
        "birth_date, postcode, city, street, email, phone)."
    )
    status: Literal["pending", "accepted", "rejected"]
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    current_profile_ids: list[str] = Field(
        description="The profiles the two sides are part of now: one id once they are one "
        "profile (an accepted review, or merged since), two while apart."
    )


def _report_out(report: MatchJobReport) -> MatchJobOut:
    return MatchJobOut(
        profiles=report.profiles,
        records=report.records,
        compared=list(report.compared),
        pairs=report.pairs,
        merged=report.merged,
        refused=report.refused,
        queued=report.queued,
        held=report.held,
        dismissed=report.dismissed,
        skipped=report.skipped,
        auto_merge=report.auto_merge,
        review_from=report.review_from,
        seconds=round(report.seconds, 3),
    )


def _review_out(view: ReviewView) -> ReviewOut:
    review = view.review
    return ReviewOut(
        id=review.id,
        left_profile_id=review.left_profile_id,
        right_profile_id=review.right_profile_id,
        probability=review.probability,
        detail=review.detail,
        status=review.status,  # type: ignore[arg-type]
        created_at=review.created_at,
        decided_at=review.decided_at,
        decided_by=review.decided_by,
        current_profile_ids=list(view.current_profile_ids),
    )


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.runtime.engine
    return engine


@contextmanager
def _job_errors() -> Iterator[None]:
    """The job's errors as API errors."""
    try:
        yield
    except MatchJobError as error:
        raise ApiError(STATUS.get(error.code, 400), error.code, error.message) from None


@contextmanager
def _transaction(request: Request) -> Iterator[Connection]:
    """One transaction for the request; the job's errors become API errors."""
    with _job_errors(), _engine(request).begin() as connection:
        yield connection


def _actor(caller: Caller) -> str:
    return f"api:{caller.role}:{caller.name}"


@router.post(
    "/identity/match-profiles",
    summary="Run the matching job: merge probable duplicates, queue the doubtful ones",
    operation_id="identity_match_profiles",
    response_model=MatchJobOut,
    responses={
        409: _error(
            "Too few profiles with a name and another field to learn from "
            "(`too_few_records`), or nothing to compare in them (`cannot_match`)."
        ),
        422: _error(
            "Thresholds out of order (`invalid_thresholds`: 0 < review_from <= auto_merge "
            "<= 1), an unknown field (`unknown_field`), or a malformed body."
        ),
        500: _error("The matching engine failed (`matching_failed`)."),
    },
)
def match_profiles(
    request: Request,
    caller: Annotated[Caller, Depends(RUNNERS)],
    body: Annotated[MatchProfilesIn | None, Body()] = None,
) -> MatchJobOut:
    """Compares every profile with a name and another trait (birth date, postcode, city,
    street, e-mail, phone) with Splink, merges the pairs at least `auto_merge` likely whose
    names and one more field agree, and queues for review those at least `review_from` likely
    (but not those whose given names differ: two people, whatever the model says).
    Merges go through the identity rules (a pair with two userIds is refused), are logged as
    `merged` changes and can be undone with unmerge. Runs in the request: seconds for
    thousands of profiles."""
    given = body or MatchProfilesIn()
    with _job_errors():
        report = job.run(
            _engine(request),
            auto_merge=given.auto_merge,
            review_from=given.review_from,
            fields=given.fields,
            actor=_actor(caller),
        )
    return _report_out(report)


@router.get(
    "/identity/reviews",
    summary="The review queue of probable matches",
    operation_id="identity_reviews",
    response_model=list[ReviewOut],
)
def reviews(
    request: Request,
    caller: Annotated[Caller, Depends(REVIEWERS)],
    status: Annotated[
        Literal["pending", "accepted", "rejected", "all"],
        Query(description="Which reviews: waiting for a decision (default), decided, or all."),
    ] = "pending",
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
) -> list[ReviewOut]:
    """Probable matches, most probable first, with both records' compared values."""
    with _transaction(request) as connection:
        found = job.list_reviews(connection, status=status, limit=limit)
    return [_review_out(view) for view in found]


ReviewIdPath = Annotated[int, Path(description="The review's id (`GET /api/identity/reviews`).")]
DECISION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: _error("No such review, or one of its profiles was erased (`not_found`)."),
    409: _error("The review was accepted or rejected already (`already_decided`)."),
}


@router.post(
    "/identity/reviews/{review_id}/accept",
    summary="Accept a probable match: join the two profiles",
    operation_id="identity_review_accept",
    response_model=ReviewOut,
    responses=DECISION_ERRORS,
)
def accept(
    request: Request, caller: Annotated[Caller, Depends(REVIEWERS)], review_id: ReviewIdPath
) -> ReviewOut:
    """Joins the two profiles through an identity link (logged as a merge, undone with
    unmerge); the rules still apply, so two profiles with different userIds stay apart:
    `current_profile_ids` then holds two ids."""
    with _transaction(request) as connection:
        view = job.decide_review(connection, review_id, accept=True, actor=_actor(caller))
    return _review_out(view)


@router.post(
    "/identity/reviews/{review_id}/reject",
    summary="Reject a probable match: the two profiles stay apart",
    operation_id="identity_review_reject",
    response_model=ReviewOut,
    responses=DECISION_ERRORS,
)
def reject(
    request: Request, caller: Annotated[Caller, Depends(REVIEWERS)], review_id: ReviewIdPath
) -> ReviewOut:
    """Marks the match as wrong; the matching job neither merges nor offers the pair again."""
    with _transaction(request) as connection:
        view = job.decide_review(connection, review_id, accept=False, actor=_actor(caller))
    return _review_out(view)
