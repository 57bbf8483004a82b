"""Actions on a customer from the 360 page: undo a merge, record a consent, export or erase
their data. Each needs its own permission, is checked before anything is written, and is
recorded in the audit log in the same transaction as the change."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from omnicx.access import audit
from omnicx.access.sessions import ConsoleSession
from omnicx.console.rendering import SECURITY_HEADERS, render
from omnicx.console.security import engine_of, require
from omnicx.identity import service as identity
from omnicx.profiles import privacy, service
from omnicx.profiles.consent import CONSENT_CHANNELS, PURPOSES
from omnicx.profiles.service import ProfileError

router = APIRouter()

ProfileIdPath = Annotated[str, Path(max_length=64)]
CONFLICT_CODES = frozenset({"not_a_merge", "already_undone"})


def _actor(session: ConsoleSession) -> str:
    return f"console:{session.user.email}"


def _invalid(
    request: Request, errors: list[dict[str, Any]], back: str, status_code: int = 422
) -> Response:
    return render(
        request,
        "customers/invalid.html",
        {"section": "customers", "errors": errors, "back": back},
        status_code=status_code,
    )


def _resolve(connection: Connection, profile_id: str) -> str:
    try:
        return service.resolve(connection, profile_id)
    except ProfileError:
        raise HTTPException(status_code=404) from None


@router.post("/customers/{profile_id}/merges/{change_id}/undo")
def undo_merge(
    request: Request,
    session: Annotated[ConsoleSession, Depends(require("profiles.repair"))],
    profile_id: ProfileIdPath,
    change_id: Annotated[int, Path(ge=1)],
) -> Response:
    """Undoes one of the customer's merges; the page then shows the customer as they are
    now, with a link to the person split off."""
    back = f"/console/customers/{profile_id}"
    try:
        with engine_of(request).begin() as connection:
            current = _resolve(connection, profile_id)
            if change_id not in {c.id for c in service.merges(connection, current)}:
                raise HTTPException(status_code=404)
            result = service.unmerge(connection, change_id, actor=_actor(session))
            audit.record(
                connection,
                actor=_actor(session),
                action="profiles.unmerge",
                target=f"change:{change_id}",
                detail={
                    "profile_id": current,
                    "kept_profile_id": result.kept_profile_id,
                    "restored_profile_id": result.restored_profile_id,
                },
            )
    except ProfileError as error:
        status = 409 if error.code in CONFLICT_CODES else 422
        return _invalid(
            request, [{"field": "change", "code": error.code, "change": change_id}], back, status
        )
    kept = result.kept_profile_id or current
    target = f"/console/customers/{kept}?done=unmerged"
    if result.restored_profile_id:
        target += f"&restored={result.restored_profile_id}"
    return RedirectResponse(target + "#merges", status_code=303)


@router.post("/customers/{profile_id}/consents")
def change_consent(
    request: Request,
    session: Annotated[ConsoleSession, Depends(require("profiles.consent"))],
    profile_id: ProfileIdPath,
    channel: Annotated[str, Form(max_length=16)] = "",
    purpose: Annotated[str, Form(max_length=32)] = "",
    granted: Annotated[str, Form(max_length=8)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Records a consent the customer gave or withdrew through the reader (a call, a
    letter); it is in force until a later signal says otherwise."""
    errors: list[dict[str, Any]] = []
    if channel not in CONSENT_CHANNELS:
        errors.append({"field": "channel", "code": "unknown_channel"})
    if purpose not in PURPOSES:
        errors.append({"field": "purpose", "code": "unknown_purpose"})
    if granted not in ("yes", "no"):
        errors.append({"field": "granted", "code": "choose_granted"})
    back = f"/console/customers/{profile_id}"
    if errors:
        return _invalid(request, errors, back)
    with engine_of(request).begin() as connection:
        current = _resolve(connection, profile_id)
        service.set_consent(
            connection,
            current,
            channel=channel,
            purpose=purpose,
            granted=granted == "yes",
            actor=_actor(session),
            note=note.strip() or None,
            signal="console",
        )
        audit.record(
            connection,
            actor=_actor(session),
            action="profiles.consent",
            target=f"profile:{current}",
            detail={"channel": channel, "purpose": purpose, "granted": granted == "yes"},
        )
    return RedirectResponse(f"/console/customers/{current}?done=consent#consents", status_code=303)


@router.post("/customers/{profile_id}/export")
def export_customer(
    request: Request,
    session: Annotated[ConsoleSession, Depends(require("profiles.privacy"))],
    profile_id: ProfileIdPath,
) -> Response:
    """Everything held about the customer as one JSON file (an access request)."""
    with engine_of(request).begin() as connection:
        current = _resolve(connection, profile_id)
        document = privacy.export_person(connection, current)
        audit.record(
            connection,
            actor=_actor(session),
            action="profiles.export",
            target=f"profile:{current}",
            detail={"events": len(document["events"])},
        )
    return Response(
        orjson.dumps(document, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="customer-{current}.json"',
        },
    )


@router.post("/customers/{profile_id}/erase")
def erase_customer(
    request: Request,
    session: Annotated[ConsoleSession, Depends(require("profiles.privacy"))],
    profile_id: ProfileIdPath,
    confirm: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Erases the customer for good, once the reader has typed their profile id or e-mail
    address to confirm."""
    typed = confirm.strip()
    with engine_of(request).begin() as connection:
        current = _resolve(connection, profile_id)
        emails = {
            i.value.lower()
            for i in identity.identities_of(connection, current)
            if i.type == "email"
        }
        confirmed = bool(typed) and (typed in (current, profile_id) or typed.lower() in emails)
        if confirmed:
            erased = privacy.erase_person(connection, current, actor=_actor(session))
            audit.record(
                connection,
                actor=_actor(session),
                action="profiles.erase",
                target=f"profile:{current}",
                detail={"deleted": erased.deleted},
            )
    if not confirmed:
        code = "confirm_missing" if not typed else "confirm_mismatch"
        return _invalid(
            request, [{"field": "confirm", "code": code}], f"/console/customers/{current}"
        )
    return render(
        request,
        "customers/erased.html",
        {"section": "customers", "profile_id": current, "deleted": erased.deleted},
    )
