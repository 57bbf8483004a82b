"""Admin API routes of the access domain: who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from omnicx.api.auth import Caller, require_role

router = APIRouter(tags=["access"])


class WhoAmI(BaseModel):
    """The token a request was made with."""

    role: str
    name: str


@router.get(
    "/whoami",
    summary="The role and name of the token the request carries",
    operation_id="access_whoami",
)
def whoami(caller: Annotated[Caller, Depends(require_role())]) -> WhoAmI:
    """Answers with the calling token's role and name; a quick check that a token works."""
    return WhoAmI(role=caller.role, name=caller.name)
