"""What every analytics API route shares: the lake of the running server, the scope query
parameters (date range, filters), the roles that may read reports, the error answers."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from omnicx.analytics.lake import LakeSnapshot, open_lake_of
from omnicx.analytics.scope import Scope, ScopeError, parse_filters
from omnicx.api.auth import Caller, require_permission
from omnicx.api.errors import ApiError, ErrorBody

READERS = require_permission("analytics.read")
"""Who may read journey analytics (admins may do everything)."""

ANALYTICS_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "A parameter that cannot be used (`invalid_query`)."}
}


def lake_of(request: Request) -> LakeSnapshot:
    """A snapshot of the server's lake (`OMNICX_LAKE_DIR`, or beside the SQLite file)."""
    return open_lake_of(request.app.state.runtime.settings.database_url)


def scope_of(
    _reader: Annotated[Caller, Depends(READERS)],
    start: Annotated[
        date | None, Query(description="First day (UTC, YYYY-MM-DD), inclusive.")
    ] = None,
    end: Annotated[date | None, Query(description="Last day (UTC, YYYY-MM-DD), inclusive.")] = None,
    where: Annotated[
        list[str] | None,
        Query(
            description="Event filters, FIELD OPERATOR VALUE: channel=web, "
            "properties.country=NL, properties.total>100 (operators = != > >= < <= ~)."
        ),
    ] = None,
) -> Scope:
    """The scope of a report from its query parameters."""
    try:
        return Scope(start=start, end=end, filters=parse_filters(where or []))
    except ScopeError as exc:
        raise invalid(str(exc)) from None


def invalid(message: str) -> ApiError:
    """The error for a report parameter that cannot be used."""
    return ApiError(422, "invalid_query", message)


def _readers_lake(request: Request, _reader: Annotated[Caller, Depends(READERS)]) -> LakeSnapshot:
    """The lake, for callers who may read analytics: whatever order a route lists its
    parameters in, an unauthenticated request never gets the lake opened."""
    return lake_of(request)


LakeDep = Annotated[LakeSnapshot, Depends(_readers_lake)]
ScopeDep = Annotated[Scope, Depends(scope_of)]
