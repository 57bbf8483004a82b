"""Personas in the console: customers clustered by how they behave, each with its name,
description, size and what sets it apart, in numbers and charts. Clustering reads every
profile's behaviour, so the page loads the personas after itself (htmx)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from omnicx.access.sessions import ConsoleSession
from omnicx.audiences.behaviour import behaviour_table
from omnicx.audiences.personas import NAMED_DIFFERENCE, FeatureError, Persona, find_personas
from omnicx.console import charts, i18n
from omnicx.console.audiences_common import SECTION, transaction
from omnicx.console.rendering import render
from omnicx.console.security import require
from omnicx.store.clock import utc_now

router = APIRouter()
log = logging.getLogger("omnicx.console")

READ = require("audiences.read")
Reader = Annotated[ConsoleSession, Depends(READ)]
K_CHOICES: Final = tuple(range(2, 13))
"""How many personas a reader may ask for (the API's range); none: chosen by silhouette."""
SHOWN_FEATURES: Final = 6
"""Features per persona in the comparison chart (its most distinctive)."""


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


SHARE: Final = N_("Share of customers (%)")
NO_PERSONAS: Final = N_("the customers could not be grouped; the server log says why")


def _k(text: str) -> int | str | None:
    """The number of personas asked for: None (choose), a number, or "bad"."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit() and int(text) in K_CHOICES:
        return int(text)
    return "bad"


def _bad_k(request: Request) -> Response:
    return render(
        request,
        "message.html",
        {
            "problem": "invalid",
            "errors": [{"field": "k", "message": _k_message(request)}],
        },
        status_code=422,
    )


K_MESSAGE: Final = N_("must be empty (chosen for you) or a whole number from %(low)s to %(high)s")


def _translated(request: Request, message: str) -> str:
    language = getattr(request.state, "language", i18n.DEFAULT_LANGUAGE)
    return i18n.translations(language).gettext(message)


def _k_message(request: Request) -> str:
    language = getattr(request.state, "language", i18n.DEFAULT_LANGUAGE)
    formatter = i18n.Formatter(language)
    return i18n.translations(language).gettext(K_MESSAGE) % {
        "low": formatter.number(min(K_CHOICES)),
        "high": formatter.number(max(K_CHOICES)),
    }


@router.get("/audiences/personas")
def personas_page(
    request: Request, session: Reader, k: Annotated[str, Query(max_length=8)] = ""
) -> Response:
    """The page; the personas follow (`/audiences/personas/clusters`)."""
    chosen = _k(k)
    if isinstance(chosen, str):
        return _bad_k(request)
    return render(
        request,
        "audiences/personas.html",
        {"section": SECTION, "tab": "personas", "k": chosen, "choices": K_CHOICES},
    )


def _features(persona: Persona) -> list[Any]:
    return list(persona.distinctions[:SHOWN_FEATURES])


@router.get("/audiences/personas/clusters")
def clusters(
    request: Request, session: Reader, k: Annotated[str, Query(max_length=8)] = ""
) -> Response:
    """Every profile that has been seen, clustered and described (docs/personas.md)."""
    chosen = _k(k)
    if isinstance(chosen, str):
        return _bad_k(request)
    with transaction(request) as connection:
        table = behaviour_table(connection, utc_now())
    problem: str | None = None
    found: list[Persona] = []
    try:
        found = list(find_personas(table, k=chosen).personas)
    except FeatureError as error:
        problem = i18n.say(error, request.state.language)
    except ValueError:  # not the data's fault: the log says what, the page that it failed
        log.warning("personas: clustering failed", exc_info=True)
        problem = _translated(request, NO_PERSONAS)
    names = [p.name for p in found]
    sizes = charts.bar(
        names,
        {_translated(request, SHARE): [round(p.share * 100, 1) for p in found]},
        horizontal=True,
        percent=True,
    )
    return render(
        request,
        "audiences/clusters.html",
        {
            "section": SECTION,
            "profiles": table.num_rows,
            "personas": found,
            "problem": problem,
            "sizes": sizes,
            "features": {p.id: _features(p) for p in found},
            "distinct": NAMED_DIFFERENCE,
        },
    )
