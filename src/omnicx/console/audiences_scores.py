"""Lead scoring in the console: the models, a model's rules and stage thresholds with how its
scores are spread (loaded after the page: it reads every score of the model), and one
profile's score explained (which rules gave which points, from which events, when)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from omnicx.access.sessions import ConsoleSession
from omnicx.audiences import scoring_store
from omnicx.audiences.score_summary import (
    explain,
    score_distribution,
    stage_counts,
    top_scores,
)
from omnicx.audiences.scoring_model import ScoringModel
from omnicx.audiences.scoring_timeline import stage_index
from omnicx.console import charts, i18n
from omnicx.console.audiences_common import SECTION, model_or_404, transaction
from omnicx.console.definitions import in_words
from omnicx.console.rendering import render
from omnicx.console.security import require
from omnicx.profiles import service as profiles
from omnicx.profiles.service import ProfileError
from omnicx.store.clock import utc_now

router = APIRouter()

READ = require("audiences.read")
Reader = Annotated[ConsoleSession, Depends(READ)]
TOP: Final = 20


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


PROFILES: Final = N_("Profiles")


def _language(request: Request) -> i18n.Language:
    return i18n.LANGUAGES[getattr(request.state, "language", i18n.DEFAULT_LANGUAGE)]


def _translate(request: Request, message: str) -> str:
    return i18n.translations(_language(request).code).gettext(message)


def rules_of(model: ScoringModel, language: str) -> list[dict[str, Any]]:
    """Each rule as the model page shows it."""
    return [
        {
            "rule": rule,
            "points": points(rule.points),
            "condition": in_words(rule.when, language),
            "on_events": rule.on_events,
            "cap": None if rule.cap is None else points(rule.cap),
            "half_life": model.half_life(rule),
        }
        for rule in model.rules
    ]


def points(value: float) -> float:
    """Points to the nearest 0.1 (the `number` filter writes them in the reader's way)."""
    return round(value, 1) + 0.0  # + 0.0: no -0.0


def total_points(value: float) -> float:
    """A total rounded down to 0.1, after rounding to a millionth as stages compare: never
    shows a threshold reached before the stage is (as scoring_text does)."""
    return math.floor(round(round(value, 6) * 10, 6)) / 10 + 0.0


def missing_points(threshold: float, total: float) -> float:
    """The points still needed to reach `threshold`, rounded up to 0.1."""
    return math.ceil(round((threshold - round(total, 6)) * 10, 6)) / 10 + 0.0


@router.get("/audiences/scores")
def models(request: Request, session: Reader) -> Response:
    """Every scoring model: its rules and stages at a glance."""
    with transaction(request) as connection:
        found = scoring_store.all_models(connection)
    return render(
        request,
        "audiences/scores.html",
        {"section": SECTION, "tab": "scores", "models": found},
    )


def _model_page(
    request: Request,
    stored: scoring_store.StoredModel,
    *,
    profile: str = "",
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    model = stored.model
    return render(
        request,
        "audiences/model.html",
        {
            "section": SECTION,
            "tab": "scores",
            "stored": stored,
            "model": model,
            "rules": rules_of(model, request.state.language),
            "stages": [(s.stage, points(s.min)) for s in model.stages],
            "profile": profile,
            "problem": problem,
        },
        status_code=status_code,
    )


@router.get("/audiences/scores/{key}")
def model_page(request: Request, session: Reader, key: str) -> Response:
    """A model: its rules, its stages, how its scores are spread (loaded after)."""
    with transaction(request) as connection:
        stored = model_or_404(connection, key)
    return _model_page(request, stored)


@router.get("/audiences/scores/{key}/distribution")
def distribution(request: Request, session: Reader, key: str) -> Response:
    """The model's stored scores as a histogram, profiles per stage and the highest scores."""
    with transaction(request) as connection:
        stored = model_or_404(connection, key)
        spread = score_distribution(connection, stored.id)
        per_stage = stage_counts(connection, stored.id)
        best = top_scores(connection, stored.id, limit=TOP)
    language = _language(request)
    formatter = i18n.Formatter(language.code)
    labels = [
        f"{formatter.number(round(low, 6))} – {formatter.number(round(high, 6))}"
        for low, high, _ in spread.buckets
    ]
    profiles_name = _translate(request, PROFILES)
    stages = list(stored.model.stage_names)
    return render(
        request,
        "audiences/distribution.html",
        {
            "section": SECTION,
            "stored": stored,
            "spread": spread,
            "labels": labels,
            "histogram": charts.bar(
                labels, {profiles_name: [n for _, _, n in spread.buckets]}, rtl=language.rtl
            ),
            "stages": [(stage, per_stage.get(stage, 0)) for stage in stages],
            "stage_chart": charts.bar(
                stages, {profiles_name: [per_stage.get(s, 0) for s in stages]}, rtl=language.rtl
            ),
            "best": [(row, total_points(row.score)) for row in best],
        },
    )


@router.get("/audiences/scores/{key}/explain")
def find_profile(
    request: Request,
    session: Reader,
    key: str,
    profile: Annotated[str, Query(max_length=400)] = "",
) -> Response:
    """The explanation of the profile named by an id or `type:value` (email:ada@...)."""
    reference = profile.strip()
    with transaction(request) as connection:
        stored = model_or_404(connection, key)
        if not reference:
            return _model_page(request, stored, problem="empty", status_code=422)
        try:
            found = profiles.find(connection, reference)
        except ProfileError:
            return _model_page(
                request, stored, profile=reference, problem="not_found", status_code=404
            )
    return RedirectResponse(f"/console/audiences/scores/{key}/{found}", status_code=303)


@router.get("/audiences/scores/{key}/{profile_id}")
def explanation(request: Request, session: Reader, key: str, profile_id: str) -> Response:
    """A profile's score under the model now: each rule's points, the events that gave
    them (when, their points then and now), the stage and what the next one needs."""
    if len(profile_id) > 64:
        raise HTTPException(404)
    with transaction(request) as connection:
        stored = model_or_404(connection, key)
        try:
            found = explain(connection, stored, profile_id, utc_now())
        except ProfileError:
            raise HTTPException(404) from None
    model = stored.model
    score = found.score
    index = stage_index(model, score.total)
    following = model.stages[index] if index < len(model.stages) else None
    return render(
        request,
        "audiences/explanation.html",
        {
            "section": SECTION,
            "tab": "scores",
            "stored": stored,
            "model": model,
            "explanation": found,
            "score": score,
            "total": total_points(score.total),
            "following": following,
            "missing": missing_points(following.min, score.total) if following else None,
            "parts": [
                {
                    "part": part,
                    "points": points(part.points),
                    "uncapped": points(part.uncapped),
                    "condition": in_words(part.rule.when, request.state.language),
                    "events": [
                        (c, points(c.points), points(c.decayed)) for c in part.contributions
                    ],
                }
                for part in score.rules
            ],
            "history": [(at, total_points(value), stage) for at, value, stage in found.history],
            "decays": {rule.id: model.half_life(rule) is not None for rule in model.rules},
        },
    )
