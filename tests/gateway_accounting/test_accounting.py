"""Limits, windows, reservations and settlement of the gateway ledger, on a real SQLite index and a fake clock."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from souverain.gateway.accounting import Limits, ModelNotAllowed, QuotaExceeded, Reservation, clean_limits
from souverain.gateway.energy import GridFactor, estimate, grid_factor
from souverain.governance.identity import IdentityService
from souverain.index.sqlite_store import SQLiteStore
from souverain.settings import Settings

from .conftest import Ledger

CHAT = "/v1/chat/completions"


def settle(ledger: Ledger, res: Reservation, prompt: int = 5, completion: int = 5, status: str = "ok", **kw: object) -> int:
    args: dict[str, object] = {"latency_ms": 120.0, "ttft_ms": 30.0, "endpoint": CHAT, "usage_exact": True, "energy": None}
    args.update(kw)
    return ledger.acc.settle(res, prompt_tokens=prompt, completion_tokens=completion, status=status, **args)  # type: ignore[arg-type]


def test_without_limits_everything_is_admitted_and_recorded(ledger: Ledger) -> None:
    key_id, user_id, public_id = ledger.key()
    res = ledger.acc.admit(key_id=key_id, user_id=user_id, model="any", prompt_tokens=12, max_tokens=100)
    assert (res.key_id, res.user_id, res.model, res.reserved_tokens) == (key_id, user_id, "any", 112)
    assert res.key_public_id == public_id
    assert [r["tokens"] for r in ledger.acc.open_reservations()] == [112]
    rec_id = settle(ledger, res, 12, 30)
    rec = ledger.acc.record(rec_id)
    assert rec is not None and ledger.acc.open_reservations() == []
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["total_tokens"], rec["reserved_tokens"]) == (12, 30, 42, 112)
    assert rec["key_public_id"] == public_id and rec["status"] == "ok" and rec["usage_exact"] == 1
    assert rec["at"] == "2025-03-14T12:00:00.000000+00:00" and rec["endpoint"] == CHAT and rec["energy_kwh"] is None


def test_allowed_models(ledger: Ledger) -> None:
    key_id, user_id, _ = ledger.key()
    ledger.acc.set_key_limits(key_id, Limits(models=("mistral-small", "smollm2")))
    ledger.acc.admit(key_id=key_id, user_id=user_id, model="smollm2", prompt_tokens=1, max_tokens=1)
    with pytest.raises(ModelNotAllowed) as err:
        ledger.acc.admit(key_id=key_id, user_id=user_id, model="gpt-4o", prompt_tokens=1, max_tokens=1)
    assert "'gpt-4o'" in err.value.message and "mistral-small, smollm2" in err.value.message
    ledger.acc.set_key_limits(key_id, Limits(models=()))  # an empty list allows nothing
    with pytest.raises(ModelNotAllowed):
        ledger.acc.admit(key_id=key_id, user_id=user_id, model="smollm2", prompt_tokens=1, max_tokens=1)
    assert len(ledger.acc.open_reservations()) == 1  # refusals reserve nothing


def test_requests_per_minute_window_and_retry_after(ledger: Ledger) -> None:
    key_id, user_id, _ = ledger.key()
    ledger.acc.set_key_limits(key_id, Limits(rpm=3))
    admitted = []
    for _ in range(3):
        admitted.append(ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1))
        ledger.clock.advance(10)
    settle(ledger, admitted[0])  # settled requests still count in the window
    with pytest.raises(QuotaExceeded) as err:  # t = 30 s: the first request (t = 0) leaves at t = 60
        ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1)
    assert err.value.kind == "requests" and err.value.scope == "key" and err.value.limit == 3
    assert err.value.retry_after == pytest.approx(30) and "3 requests per minute" in err.value.message
    ledger.clock.advance(29.9)
    with pytest.raises(QuotaExceeded):
        ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1)
    ledger.clock.advance(0.2)
    ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1)
    with pytest.raises(QuotaExceeded) as err:  # full again: now the t = 10 s request must leave (t = 70)
        ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1)
    assert err.value.retry_after == pytest.approx(70 - 60.1)


def test_tokens_per_minute_counts_reservations_then_real_usage(ledger: Ledger) -> None:
    key_id, user_id, _ = ledger.key()
    ledger.acc.set_key_limits(key_id, Limits(tpm=100))
    first = ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=10, max_tokens=50)  # reserves 60
    ledger.clock.advance(15)
    with pytest.raises(QuotaExceeded) as err:  # 60 + 50 > 100 while the first is open
        ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=10, max_tokens=40)
    assert err.value.kind == "tokens" and err.value.retry_after == pytest.approx(45)
    assert "60 of 100 tokens per minute" in err.value.message
    settle(ledger, first, 10, 10)  # it really used 20: 20 + 50 fits
    second = ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=10, max_tokens=40)
    assert second.reserved_tokens == 50
    with pytest.raises(QuotaExceeded) as err:
        ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1, max_tokens=200)
    assert "can never fit" in err.value.message and err.value.kind == "tokens"


def test_monthly_budget_counts_open_reservations_and_resets_on_the_first(ledger: Ledger) -> None:
    key_id, user_id, _ = ledger.key()
    ledger.clock.now = dt.datetime(2025, 12, 31, 23, 55, tzinfo=dt.UTC)
    ledger.acc.set_key_limits(key_id, Limits(tokens_per_month=1000))
    done = ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=100, max_tokens=500)
    settle(ledger, done, 100, 300)  # 400 used
    ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=100, max_tokens=400)  # 500 open: 900
    with pytest.raises(QuotaExceeded) as err:
        ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=50, max_tokens=60)
    assert err.value.kind == "monthly_tokens" and err.value.retry_after == pytest.approx(300)
    assert "900 of 1000" in err.value.message and "2026-01-01 00:00 UTC" in err.value.message
    ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=50, max_tokens=50)  # exactly 1000
    ledger.clock.advance(300)  # January: last month's settled tokens no longer count (open reservations still do)
    ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=200, max_tokens=200)
    usage = ledger.acc.current_usage("key", key_id)
    assert usage["tokens_this_month"] == 500 + 100 + 400 and usage["month_resets_at"] == "2026-02-01T00:00:00+00:00"
    with pytest.raises(QuotaExceeded) as err:
        ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1, max_tokens=2000)
    assert "alone is over the budget" in err.value.message


def test_stale_reservations_expire_into_the_ledger_and_a_late_settle_fills_them(ledger: Ledger) -> None:
    key_id, user_id, _ = ledger.key()
    ledger.acc.set_key_limits(key_id, Limits(rpm=1, tokens_per_month=100))
    crashed = ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=10, max_tokens=80)
    ledger.clock.advance(61)
    with pytest.raises(QuotaExceeded) as err:  # 90 reserved still count for the month until they expire
        ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=10, max_tokens=10)
    assert err.value.kind == "monthly_tokens"
    ledger.clock.advance(10 * 60)  # past the 10 minute reservation TTL
    ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=10, max_tokens=10)
    expired = ledger.acc.records("status = 'expired'")
    assert len(expired) == 1 and expired[0]["reservation_id"] == crashed.id and expired[0]["total_tokens"] == 0
    assert expired[0]["reserved_tokens"] == 90 and [r["tokens"] for r in ledger.acc.open_reservations()] == [20]
    late = settle(ledger, crashed, 10, 15)  # the crashed worker was only slow after all
    assert late == expired[0]["id"]
    rec = ledger.acc.record(late)
    assert rec is not None and rec["status"] == "ok" and rec["total_tokens"] == 25 and rec["at"] == expired[0]["at"]
    assert len(ledger.acc.records()) == 1


def test_settle_is_idempotent(ledger: Ledger) -> None:
    key_id, user_id, _ = ledger.key()
    res = ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=3, max_tokens=3)
    first = settle(ledger, res)
    assert settle(ledger, res, 100, 100) == first
    assert len(ledger.acc.records()) == 1 and ledger.acc.record(first)["total_tokens"] == 10  # type: ignore[index]


def test_user_limits_cover_web_sessions_and_every_key_of_the_user(ledger: Ledger) -> None:
    key_a, user_id, _ = ledger.key("alice")
    key_b, _, _ = ledger.key("alice")
    group = ledger.ident.create_group("research")
    ledger.acc.set_user_limits(user_id, Limits(rpm=2, team_id=group.id))
    web = ledger.acc.admit(key_id=None, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1)
    assert web.key_id is None and web.key_public_id is None and web.team_id == group.id
    ledger.acc.admit(key_id=key_a, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1)
    with pytest.raises(QuotaExceeded) as err:
        ledger.acc.admit(key_id=key_b, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1)
    assert err.value.scope == "user" and "your account" in err.value.message
    other_key, other_user, _ = ledger.key("bob")
    ledger.acc.admit(key_id=other_key, user_id=other_user, model="m", prompt_tokens=1, max_tokens=1)  # not alice's


def test_key_team_wins_over_user_team_and_is_kept_in_the_record(ledger: Ledger) -> None:
    key_id, user_id, _ = ledger.key()
    eng, ops = ledger.ident.create_group("eng"), ledger.ident.create_group("ops")
    ledger.acc.set_key_limits(key_id, Limits(team_id=eng.id))
    ledger.acc.set_user_limits(user_id, Limits(team_id=ops.id))
    res = ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1)
    assert res.team_id == eng.id
    ledger.acc.set_key_limits(key_id, Limits(team_id=ops.id))  # a later change does not rewrite history
    assert ledger.acc.record(settle(ledger, res))["team_id"] == eng.id  # type: ignore[index]


def test_energy_is_stored_with_its_source_or_a_note(ledger: Ledger) -> None:
    key_id, user_id, _ = ledger.key()
    fr = estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=None, pue=1.2, grid=grid_factor("FR"))
    nowhere = estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=None, pue=1.2,
                       grid=GridFactor.unavailable())
    a = ledger.acc.record(settle(ledger, ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1,
                                                          max_tokens=400), 1, 400, energy=fr))
    b = ledger.acc.record(settle(ledger, ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1,
                                                          max_tokens=400), 1, 400, energy=nowhere, usage_exact=False))
    assert a is not None and b is not None
    assert a["energy_kwh"] == pytest.approx(4.34267e-5, rel=1e-4) and a["gco2e"] == pytest.approx(a["energy_kwh"] * 44.18)
    assert a["grid_factor"] == 44.18 and "Our World in Data" in a["grid_source"] and a["pue"] == 1.2
    assert "EcoLogits 0.9" in a["method"] and a["energy_note"] is None and a["measured_kwh"] is None
    assert b["energy_kwh"] == a["energy_kwh"] and b["gco2e"] is None and b["grid_factor"] is None
    assert b["energy_note"] == "grid country not configured" and b["usage_exact"] == 0


def test_limits_are_validated_replaced_and_removed(ledger: Ledger) -> None:
    key_id, user_id, public_id = ledger.key()
    for bad in ({"rpm": 0}, {"tpm": -1}, {"tokens_per_month": True}, {"models": "m"}, {"models": [""]}, {"team_id": 0}):
        with pytest.raises(ValueError):
            clean_limits(**bad)
    assert clean_limits(models=[" a ", "b", "a"]).models == ("a", "b")
    with pytest.raises(LookupError):
        ledger.acc.set_key_limits(key_id, Limits(team_id=999))
    with pytest.raises(LookupError):
        ledger.acc.set_key_limits(424242, Limits(rpm=1))
    assert ledger.acc.set_key_limits(key_id, Limits(rpm=5, tpm=10)) == Limits(rpm=5, tpm=10)
    assert ledger.acc.set_key_limits(key_id, Limits(tokens_per_month=7)) == Limits(tokens_per_month=7)  # replaced
    assert ledger.acc.set_key_limits(key_id, Limits()) is None and ledger.acc.key_limits(key_id) is None
    assert ledger.acc.key_by_public_id(public_id) == (key_id, user_id) and ledger.acc.key_by_public_id("nope") is None


def test_limits_follow_their_key_and_team(ledger: Ledger) -> None:
    key_id, user_id, _ = ledger.key()
    group = ledger.ident.create_group("temp")
    ledger.acc.set_key_limits(key_id, Limits(rpm=5, team_id=group.id))
    conn = ledger.store.conn
    conn.execute("DELETE FROM access_groups WHERE id=?", (group.id,))
    assert ledger.acc.key_limits(key_id) == Limits(rpm=5)  # the team is gone, the limit stays
    res = ledger.acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1)
    settle(ledger, res)
    conn.execute("DELETE FROM api_keys WHERE id=?", (key_id,))
    assert ledger.acc.key_limits(key_id) is None  # ON DELETE CASCADE
    assert len(ledger.acc.records()) == 1  # the ledger outlives the key


def test_cli_keys_limits(tmp_path: Path) -> None:
    """``souverain keys limits``: show, change only what is given, remove one limit, clear."""
    from typer.testing import CliRunner

    from souverain.cli import app

    data = tmp_path / "data"
    store = SQLiteStore(Settings(data_dir=data).db_path)
    ident = IdentityService(store, b"s" * 32)
    user = ident.create_user("batch")
    ident.create_group("eng")
    public_id = ident.create_api_key(user.id, ["models"]).record.public_id
    store.close()

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["--data-dir", str(data), "keys", "limits", public_id, *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "no limits" in run()
    shown = json.loads(run("--rpm", "10", "--tokens-month", "5000", "--models", "a, b", "--team", "eng", "--json"))
    assert (shown["rpm"], shown["tokens_per_month"], shown["models"], shown["team_id"]) == (10, 5000, ["a", "b"], 1)
    shown = json.loads(run("--rpm", "0", "--models", "*", "--json"))  # only these change
    assert (shown["rpm"], shown["tokens_per_month"], shown["models"], shown["team_id"]) == (None, 5000, None, 1)
    assert "tokens/month 5000" in run() and "no limits" in run("--clear")
    bad = CliRunner().invoke(app, ["--data-dir", str(data), "keys", "limits", public_id, "--team", "nope"])
    assert bad.exit_code != 0 and "no group named 'nope'" in bad.output
    unknown = CliRunner().invoke(app, ["--data-dir", str(data), "keys", "limits", "zzzzzzzz"])
    assert unknown.exit_code != 0 and "no key" in unknown.output
