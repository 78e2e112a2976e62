"""FastAPI dependencies: the service object and the caller's access filter.

Until identity arrives, every HTTP caller acts as an anonymous principal that sees ``public``
documents only. All routes take ``AccessDep`` so that later change is made in one place.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from ..documents import AccessFilter
from ..service import Souverain


def get_service(request: Request) -> Souverain:
    return request.app.state.souverain


def get_access() -> AccessFilter:
    return AccessFilter.public()


def get_owner(access: Annotated[AccessFilter, Depends(get_access)]) -> str:
    """Who owns conversations: the caller's ``user:`` principal, or ``anonymous`` until identity arrives."""
    return next((p for p in sorted(access.principals) if p.startswith("user:")), "anonymous")


ServiceDep = Annotated[Souverain, Depends(get_service)]
AccessDep = Annotated[AccessFilter, Depends(get_access)]
OwnerDep = Annotated[str, Depends(get_owner)]

# Ids and offsets end up as SQLite INTEGERs (64-bit): anything outside that range is a 422, not an OverflowError.
SQLITE_INT_MAX = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=SQLITE_INT_MAX)]
PagePath = Annotated[int, Path(ge=1, le=SQLITE_INT_MAX, description="page number, from 1")]
OffsetQuery = Annotated[int, Query(ge=0, le=SQLITE_INT_MAX)]
