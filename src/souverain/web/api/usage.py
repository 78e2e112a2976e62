"""Usage and energy reports of the model gateway (docs/metering.md).

- ``GET /api/v1/usage?group_by=user,model&from=&to=&format=json|csv``: token, request and energy totals
  grouped by ``user``, ``team``, ``model``, ``day``, ``month``, ``key`` or ``status`` (combinations too);
- ``GET /api/v1/usage/energy?month=YYYY-MM``: a month's kWh and gCO2e per user, team and model;
- ``GET /api/v1/me/usage``: the caller's own totals (today, this month, all time), limits and keys.

Administrators see every record; everyone else only their own (asking for another user is a 403).
Needs the ``read`` or the ``models`` scope. ``format=csv`` answers ``text/csv`` with a header row.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from ...gateway.usage import GROUPS, UsageReports, parse_bound, parse_group_by, to_csv
from ..deps import SQLITE_INT_MAX, Principal, PrincipalDep, ServiceDep
from .errors import AUTH_ERRORS, errors

CSV_MEDIA = "text/csv; charset=utf-8"
REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **errors(400),
    200: {"description": "The report: JSON, or CSV with a header row when format=csv",
          "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}},
}


def _may_see_usage(principal: PrincipalDep) -> Principal:
    if not principal.scopes & {"read", "models"}:
        raise HTTPException(403, "this needs the 'read' or the 'models' permission")
    return principal


UsageReader = Annotated[Principal, Depends(_may_see_usage)]
router = APIRouter(prefix="/api/v1", tags=["usage"], responses=AUTH_ERRORS)

GroupByQuery = Annotated[list[str] | None, Query(description=f"comma-separated or repeated: {', '.join(GROUPS)}",
                                          max_length=len(GROUPS))]
FromQuery = Annotated[str | None, Query(alias="from", max_length=40, description="YYYY-MM-DD or ISO datetime (UTC)")]
ToQuery = Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD (that day included) or ISO datetime (excluded)")]
FormatQuery = Annotated[Literal["json", "csv"], Query()]
OptId = Annotated[int | None, Query(ge=1, le=SQLITE_INT_MAX)]


def _reports(svc: ServiceDep) -> UsageReports:
    return UsageReports(svc.store.conns)


def _scope_user(principal: Principal, user_id: int | None) -> int | None:
    """The user filter: anyone for an administrator, only themselves for everybody else."""
    if principal.is_admin:
        return user_id
    if user_id is not None and user_id != principal.user.id:
        raise HTTPException(403, "you can only see your own usage")
    return principal.user.id


def _csv(body: str, name: str) -> Response:
    return Response(body, media_type=CSV_MEDIA, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _bounds(start: str | None, end: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    try:
        return parse_bound(start), parse_bound(end, end=True)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


@router.get("/usage", responses=REPORT_RESPONSES)
def usage(principal: UsageReader, svc: ServiceDep, group_by: GroupByQuery = None,
          start: FromQuery = None, to: ToQuery = None, format: FormatQuery = "json",
          user_id: OptId = None, team_id: OptId = None,
          model: Annotated[str | None, Query(max_length=200)] = None,
          key_public_id: Annotated[str | None, Query(max_length=64)] = None) -> Any:
    """Totals over ``[from, to)`` grouped by the ``group_by`` dimensions (none: one totals row)."""
    try:
        dims = parse_group_by(group_by or [])
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    begin, end = _bounds(start, to)
    report = _reports(svc).report(dims, start=begin, end=end, user_id=_scope_user(principal, user_id), model=model,
                                  team_id=team_id, key_public_id=key_public_id)
    if format == "csv":
        return _csv(to_csv(report["rows"], report["columns"]), "usage.csv")
    return report


@router.get("/usage/energy", responses=REPORT_RESPONSES)
def usage_energy(principal: UsageReader, svc: ServiceDep,
                 month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (UTC)")],
                 format: FormatQuery = "json", user_id: OptId = None) -> Any:
    """A calendar month's energy (kWh, with the estimate's min/max) and gCO2e per user, team and model."""
    reports = _reports(svc)
    try:
        report = reports.energy_month(month, user_id=_scope_user(principal, user_id))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if format == "csv":
        rows, columns = reports.energy_csv_rows(report)
        return _csv(to_csv(rows, columns), f"energy-{report['month']}.csv")
    return report


@router.get("/me/usage", responses=errors(400))
def my_usage(principal: UsageReader, svc: ServiceDep) -> dict[str, Any]:
    """Your own usage (today, this month, all time, this month per model), your limits and your keys' state."""
    user_id = principal.user.id
    acc = svc.gateway_accounting
    out = _reports(svc).me(user_id, acc.clock())
    out["username"] = principal.user.username
    limits = acc.user_limits(user_id)
    out["limits"] = {**limits.as_json(), "usage": acc.current_usage("user", user_id)} if limits else None
    keys = []
    for k in svc.identity.api_keys.list(user_id):
        key_limits = acc.key_limits(k.id)
        keys.append({"public_id": k.public_id, "name": k.name, "scopes": sorted(k.scopes),
                     "revoked": k.revoked_at is not None, "expires_at": k.expires_at.isoformat(),
                     "limits": key_limits.as_json() if key_limits else None,
                     "usage": acc.current_usage("key", k.id) if key_limits else None})
    out["keys"] = keys
    return out
