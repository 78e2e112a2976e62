"""Per-key limits, the reservation ledger and usage records of the model gateway (docs/metering.md).

Every ``/v1`` request goes through two calls:

1. ``admit()`` *before* the model runs: in one ``BEGIN IMMEDIATE`` transaction it checks the allowed
   models and the key's (and its user's) limits, then reserves ``prompt_tokens + max_tokens``. SQLite
   lets one writer in at a time, so the check and the reservation are atomic: fifty concurrent
   requests against a key with room for ten admit exactly ten, whatever the threads or processes.
2. ``settle()`` *after* it: in one transaction the reservation is deleted and the usage record (real
   token counts, latency, status, energy) is written. Settling twice returns the same record.

Windows, per key and per user (a user's limits count all its keys and its web sessions):

- ``rpm``: requests admitted in the last 60 s (settled or still open) + this one <= rpm;
- ``tpm``: tokens of the requests admitted in the last 60 s (real counts once settled, reservations
  while open) + this reservation <= tpm;
- ``tokens_per_month``: tokens admitted this calendar month (UTC) + every open reservation + this one
  <= the budget.

A refusal raises ``QuotaExceeded`` with ``retry_after``: the seconds until enough of the counted
requests leave the 60 s window, or until the 1st of next month (UTC) for the monthly budget. A request
that could never fit (its reservation alone is over the tpm or the monthly budget) says so in the message.

A reservation whose request never settles (a crashed worker) expires after ``reservation_ttl``
(10 minutes): it stops counting and becomes an ``expired`` record with zero tokens, so every admitted
request leaves exactly one ledger row. A late ``settle()`` fills that row in.

Service accounts: a "service" is a user account created for it (role member); its keys carry the
limits, and ``team_id`` attributes their usage to a group.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..index.sqlite_identity import ts
from ..index.sqlite_schema import Connections
from ..index.sqlite_store import transaction
from ..index.sqlite_usage import Limits, Scope, UsageTables, WindowEntry

if TYPE_CHECKING:
    from .energy import EnergyEstimate

__all__ = ["Accounting", "Limits", "ModelNotAllowed", "QuotaExceeded", "Reservation"]

WINDOW = dt.timedelta(seconds=60)
RESERVATION_TTL = dt.timedelta(minutes=10)
MAX_MODELS = 200
MAX_MODEL_NAME = 200


class QuotaExceeded(Exception):
    """A limit refuses the request: HTTP 429 with ``Retry-After: ceil(retry_after)``.

    ``kind`` is ``"requests"`` (rpm), ``"tokens"`` (tpm) or ``"monthly_tokens"``; ``scope`` says whose
    limit it is (``"key"`` or ``"user"``)."""

    def __init__(self, message: str, *, retry_after: float, kind: str, scope: str = "key", limit: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(0.0, retry_after)
        self.kind = kind
        self.scope = scope
        self.limit = limit


class ModelNotAllowed(Exception):
    """The key (or user) may not use this model: HTTP 403, code ``model_not_allowed``."""

    def __init__(self, message: str, *, model: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.model = model


@dataclass
class Reservation:
    """What ``admit()`` returns, and ``settle()`` takes back."""

    id: int
    key_id: int | None
    user_id: int | None
    team_id: int | None
    model: str
    reserved_tokens: int
    key_public_id: str | None = None
    kind: str = "chat"
    created_at: dt.datetime | None = None


def clean_limits(rpm: int | None = None, tpm: int | None = None, tokens_per_month: int | None = None,
                 models: Iterable[str] | None = None, team_id: int | None = None) -> Limits:
    """Validated limits: positive integers or None; model names stripped and de-duplicated."""
    for name, value in (("rpm", rpm), ("tpm", tpm), ("tokens_per_month", tokens_per_month)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**62):
            raise ValueError(f"{name} must be a positive integer (or null for no limit), not {value!r}")
    names: tuple[str, ...] | None = None
    if models is not None:
        if isinstance(models, str):
            raise ValueError("models must be a list of model names")
        names = tuple(dict.fromkeys(m.strip() for m in models))
        if any(not m or len(m) > MAX_MODEL_NAME for m in names) or len(names) > MAX_MODELS:
            raise ValueError(f"models: at most {MAX_MODELS} non-empty names of at most {MAX_MODEL_NAME} characters")
    if team_id is not None and (isinstance(team_id, bool) or not isinstance(team_id, int) or team_id < 1):
        raise ValueError(f"invalid team id {team_id!r}")
    return Limits(rpm, tpm, tokens_per_month, names, team_id)


def month_start(at: dt.datetime) -> dt.datetime:
    at = at.astimezone(dt.UTC)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(at: dt.datetime) -> dt.datetime:
    start = month_start(at)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def _seconds_until(entry_at: str, now: dt.datetime) -> float:
    return (dt.datetime.fromisoformat(entry_at) + WINDOW - now).total_seconds()


class Accounting:
    def __init__(self, conns: Connections, clock: Callable[[], dt.datetime] | None = None,
                 reservation_ttl: dt.timedelta = RESERVATION_TTL) -> None:
        self.tables = UsageTables(conns)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.reservation_ttl = reservation_ttl

    # limits --------------------------------------------------------------------------------
    def key_limits(self, key_id: int) -> Limits | None:
        return self.tables.limits("key", key_id)

    def user_limits(self, user_id: int) -> Limits | None:
        return self.tables.limits("user", user_id)

    def set_key_limits(self, key_id: int, limits: Limits) -> Limits | None:
        return self._set_limits("key", key_id, limits)

    def set_user_limits(self, user_id: int, limits: Limits) -> Limits | None:
        return self._set_limits("user", user_id, limits)

    def _set_limits(self, scope: Scope, owner_id: int, limits: Limits) -> Limits | None:
        """Replace the limits (all None: remove them). ``LookupError`` for an unknown key/user or team."""
        limits = clean_limits(limits.rpm, limits.tpm, limits.tokens_per_month, limits.models, limits.team_id)
        try:
            self.tables.set_limits(scope, owner_id, limits, self.clock())
        except sqlite3.IntegrityError:
            what = "API key" if scope == "key" else "user"
            raise LookupError(f"unknown {what} {owner_id} or team {limits.team_id}") from None
        return self.tables.limits(scope, owner_id)

    def key_by_public_id(self, public_id: str) -> tuple[int, int] | None:
        """(key id, user id) for a key's public id."""
        return self.tables.key_by_public_id(public_id)

    def current_usage(self, scope: Scope, owner_id: int) -> dict[str, Any]:
        """What counts against the limits right now: the 60 s window and this month."""
        now = self.clock()
        conn = self.tables.conn
        with transaction(conn):
            self.tables.expire_reservations(conn, now)
            entries = self.tables.window(conn, scope, owner_id, now - WINDOW)
            month = self.tables.tokens_since(conn, scope, owner_id, month_start(now))
        return {"requests_last_minute": len(entries), "tokens_last_minute": sum(e.tokens for e in entries),
                "tokens_this_month": month, "open_reservations": self.tables.open_reservations(scope, owner_id),
                "month_resets_at": next_month_start(now).isoformat()}

    # admission ------------------------------------------------------------------------------
    def admit(self, *, key_id: int | None, user_id: int | None, model: str, prompt_tokens: int, max_tokens: int,
              kind: str = "chat") -> Reservation:
        """Check the model and the limits of the key and of its user, and reserve ``prompt_tokens + max_tokens``,
        atomically. Raises ``ModelNotAllowed`` or ``QuotaExceeded``."""
        tokens = max(0, int(prompt_tokens)) + max(0, int(max_tokens))
        now = self.clock().astimezone(dt.UTC)
        conn = self.tables.conn
        with transaction(conn):
            self.tables.expire_reservations(conn, now)
            checks: list[tuple[Scope, int, Limits]] = []
            if key_id is not None and (lim := self.tables.limits("key", key_id, conn)) is not None:
                checks.append(("key", key_id, lim))
            if user_id is not None and (lim := self.tables.limits("user", user_id, conn)) is not None:
                checks.append(("user", user_id, lim))
            for scope, owner, lim in checks:
                self._check(conn, scope, owner, lim, model, tokens, now)
            team_id = next((lim.team_id for _, _, lim in checks if lim.team_id is not None), None)
            public_id = self.tables.key_public_id(conn, key_id) if key_id is not None else None
            res_id = self.tables.insert_reservation(
                conn, key_id=key_id, key_public_id=public_id, user_id=user_id, team_id=team_id, model=model, kind=kind,
                tokens=tokens, at=now, expires=now + self.reservation_ttl)
        return Reservation(res_id, key_id, user_id, team_id, model, tokens, public_id, kind, now)

    def _check(self, conn: sqlite3.Connection, scope: Scope, owner: int, lim: Limits, model: str, tokens: int,
               now: dt.datetime) -> None:
        whose = "this API key" if scope == "key" else "your account"
        if lim.models is not None and model not in lim.models:
            allowed = ", ".join(lim.models) or "none"
            raise ModelNotAllowed(f"{whose} may not use the model {model!r} (allowed: {allowed})", model=model)
        entries: list[WindowEntry] | None = None
        if lim.rpm is not None or lim.tpm is not None:
            entries = self.tables.window(conn, scope, owner, now - WINDOW)
        if lim.rpm is not None and entries is not None and len(entries) + 1 > lim.rpm:
            # the (n - rpm)-th oldest request must leave the window before one more fits
            wait = _seconds_until(entries[len(entries) - lim.rpm].at, now)
            raise QuotaExceeded(f"rate limit of {whose} reached: {lim.rpm} requests per minute; retry in {math.ceil(wait)} s",
                                retry_after=wait, kind="requests", scope=scope, limit=lim.rpm)
        if lim.tpm is not None and entries is not None:
            used = sum(e.tokens for e in entries)
            if tokens > lim.tpm:
                raise QuotaExceeded(
                    f"this request reserves {tokens} tokens (prompt + max_tokens), more than the {lim.tpm} tokens per "
                    f"minute allowed to {whose}: it can never fit; lower max_tokens or shorten the prompt",
                    retry_after=WINDOW.total_seconds(), kind="tokens", scope=scope, limit=lim.tpm)
            if used + tokens > lim.tpm:
                freed, wait = 0, WINDOW.total_seconds()
                for e in entries:
                    freed += e.tokens
                    if used - freed + tokens <= lim.tpm:
                        wait = _seconds_until(e.at, now)
                        break
                raise QuotaExceeded(
                    f"token rate limit of {whose} reached: {used} of {lim.tpm} tokens per minute in use, this request "
                    f"reserves {tokens}; retry in {math.ceil(wait)} s", retry_after=wait, kind="tokens", scope=scope,
                    limit=lim.tpm)
        if lim.tokens_per_month is not None:
            used = self.tables.tokens_since(conn, scope, owner, month_start(now))
            if used + tokens > lim.tokens_per_month:
                reset = next_month_start(now)
                never = " (this request alone is over the budget: lower max_tokens)" if tokens > lim.tokens_per_month else ""
                raise QuotaExceeded(
                    f"monthly token budget of {whose} exhausted: {used} of {lim.tokens_per_month} tokens used or reserved "
                    f"this month, this request reserves {tokens}{never}; the budget resets on {reset:%Y-%m-%d} 00:00 UTC",
                    retry_after=(reset - now).total_seconds(), kind="monthly_tokens", scope=scope,
                    limit=lim.tokens_per_month)

    # settlement -----------------------------------------------------------------------------
    def settle(self, res: Reservation, *, prompt_tokens: int, completion_tokens: int, status: str, latency_ms: float,
               ttft_ms: float | None, endpoint: str, usage_exact: bool, energy: EnergyEstimate | None) -> int:
        """Release the reservation and write the usage record with the real counts; its id (the same id when the
        reservation was settled already)."""
        now = self.clock().astimezone(dt.UTC)
        p, c = max(0, int(prompt_tokens)), max(0, int(completion_tokens))
        values: dict[str, Any] = {
            "reservation_id": res.id, "finished_at": ts(now), "key_id": res.key_id, "key_public_id": res.key_public_id,
            "user_id": res.user_id, "team_id": res.team_id, "model": res.model, "endpoint": endpoint, "kind": res.kind,
            "reserved_tokens": res.reserved_tokens, "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
            "usage_exact": int(bool(usage_exact)), "latency_ms": _finite(latency_ms), "ttft_ms": _finite(ttft_ms),
            "status": str(status)[:64] or "unknown",
        }
        if energy is not None:
            values.update({
                "energy_kwh": energy.kwh, "energy_kwh_min": energy.kwh_min, "energy_kwh_max": energy.kwh_max,
                "gco2e": energy.gco2e, "grid_factor": energy.grid_factor_g_per_kwh,
                "grid_source": energy.grid_factor_source or None, "pue": energy.pue, "method": energy.method,
                "energy_note": energy.note or None, "measured_kwh": energy.measured_kwh})
        conn = self.tables.conn
        with transaction(conn):
            taken = self.tables.take_reservation(conn, res.id)
            if taken is not None:
                created_at, public_id, reserved, kind = taken
                values.update({"at": created_at, "key_public_id": public_id, "reserved_tokens": reserved, "kind": kind})
                return self.tables.insert_record(conn, values)
            existing = self.tables.record_for_reservation(conn, res.id)
            if existing is not None:
                record_id, state = existing
                if state == "expired":  # it outlived its reservation: fill in the row the expiry wrote
                    self.tables.update_record(conn, record_id, values)
                return record_id
            values["at"] = ts(res.created_at or now)  # not admitted by this ledger (should not happen): record anyway
            return self.tables.insert_record(conn, values)

    # reads ----------------------------------------------------------------------------------
    def record(self, record_id: int) -> dict[str, Any] | None:
        return self.tables.record(record_id)

    def records(self, where: str = "1", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.tables.records(where, params)

    def open_reservations(self) -> list[dict[str, Any]]:
        return self.tables.reservations()


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
