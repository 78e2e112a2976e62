"""/api/v1/usage, /usage/energy, /me/usage and the admin limit routes, over real ledger records."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from souverain.gateway.accounting import Accounting, Limits
from souverain.gateway.energy import GridFactor, estimate, grid_factor
from souverain.governance.identity import User
from souverain.llm.fake import FakeLLM
from souverain.service import Souverain
from souverain.settings import Settings
from souverain.web.app import create_app

API = "/api/v1"
PASSWORD = "correct horse battery staple"
FR, NOWHERE = grid_factor("FR"), GridFactor.unavailable()


@dataclass
class Site:
    svc: Souverain
    app: Any
    admin: TestClient
    alice: User
    bob: User
    team_id: int
    kwh: float

    def client(self, user: User | None = None, headers: dict[str, str] | None = None) -> TestClient:
        c = TestClient(self.app)
        if user is not None:
            r = c.post("/auth/login", json={"username": user.username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        c.headers.update(headers or {})
        return c


def record(acc: Accounting, clock: list[dt.datetime], at: dt.datetime, *, key_id: int | None, user_id: int, model: str,
           prompt: int, completion: int, grid: GridFactor = FR) -> None:
    clock[0] = at
    res = acc.admit(key_id=key_id, user_id=user_id, model=model, prompt_tokens=prompt, max_tokens=completion)
    e = estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=None, pue=1.2, grid=grid)
    acc.settle(res, prompt_tokens=prompt, completion_tokens=completion, status="ok", latency_ms=100.0, ttft_ms=10.0,
               endpoint="/v1/chat/completions", usage_exact=True, energy=e)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("usage-data"))
    svc = Souverain(settings, llm=FakeLLM())
    app = create_app(settings, svc)  # no lifespan: no workers needed to read reports
    ident = svc.identity
    admin = ident.create_user("admin", role="admin", password=PASSWORD)
    alice = ident.create_user("alice", password=PASSWORD)
    bob = ident.create_user("bob", password=PASSWORD)
    eng = ident.create_group("eng")
    alice_key = ident.create_api_key(alice.id, ["models"], name="alice-bot").record
    bob_key = ident.create_api_key(bob.id, ["models"]).record
    svc.gateway_accounting.set_key_limits(alice_key.id, Limits(team_id=eng.id, rpm=100))
    clock = [dt.datetime(2025, 3, 1, tzinfo=dt.UTC)]
    acc = Accounting(svc.store.conns, clock=lambda: clock[0])
    d = dt.datetime
    record(acc, clock, d(2025, 3, 1, 9, tzinfo=dt.UTC), key_id=alice_key.id, user_id=alice.id, model="small", prompt=10,
           completion=20)
    record(acc, clock, d(2025, 3, 1, 23, 59, 59, tzinfo=dt.UTC), key_id=alice_key.id, user_id=alice.id, model="large",
           prompt=100, completion=200)
    record(acc, clock, d(2025, 3, 2, 8, tzinfo=dt.UTC), key_id=None, user_id=alice.id, model="small", prompt=1, completion=2)
    record(acc, clock, d(2025, 3, 2, 9, tzinfo=dt.UTC), key_id=bob_key.id, user_id=bob.id, model="small", prompt=1000,
           completion=2000, grid=NOWHERE)
    record(acc, clock, d(2025, 4, 1, 0, 0, 1, tzinfo=dt.UTC), key_id=bob_key.id, user_id=bob.id, model="=cmd()",
           prompt=5, completion=5)
    # and one "now", for /me/usage
    res = svc.gateway_accounting.admit(key_id=alice_key.id, user_id=alice.id, model="small", prompt_tokens=7, max_tokens=7)
    svc.gateway_accounting.settle(res, prompt_tokens=7, completion_tokens=3, status="ok", latency_ms=1, ttft_ms=None,
                                  endpoint="/v1/chat/completions", usage_exact=False, energy=None)
    admin_client = TestClient(app)
    admin_client.headers["Authorization"] = "Bearer " + ident.create_api_key(
        admin.id, ["read", "admin", "models"]).key
    kwh = estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=None, pue=1.2, grid=FR).kwh
    yield Site(svc, app, admin_client, alice, bob, eng.id, kwh)
    svc.close()


MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


def test_admin_groups_by_user_and_model(site: Site) -> None:
    r = site.admin.get(f"{API}/usage", params={"group_by": "user,model", **MARCH})
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {(x["username"], x["model"]): x for x in body["rows"]}
    assert set(rows) == {("alice", "large"), ("alice", "small"), ("bob", "small")}
    assert rows[("alice", "small")]["requests"] == 2 and rows[("alice", "small")]["total_tokens"] == 33
    assert rows[("alice", "large")]["prompt_tokens"] == 100 and rows[("alice", "large")]["completion_tokens"] == 200
    assert rows[("bob", "small")]["total_tokens"] == 3000 and rows[("bob", "small")]["requests_without_gco2e"] == 1
    assert rows[("bob", "small")]["gco2e"] is None and rows[("alice", "small")]["gco2e"] == pytest.approx(2 * site.kwh * 44.18)
    assert body["totals"]["requests"] == 4 and body["totals"]["total_tokens"] == 33 + 300 + 3000
    assert body["totals"]["energy_kwh"] == pytest.approx(4 * site.kwh)
    assert body["from"] == "2025-03-01T00:00:00+00:00" and body["to"] == "2025-04-01T00:00:00+00:00"
    assert body["columns"][:4] == ["user_id", "username", "model", "requests"]


def test_group_by_day_team_and_repeated_parameters(site: Site) -> None:
    days = site.admin.get(f"{API}/usage", params=[("group_by", "day"), *MARCH.items()]).json()["rows"]
    assert [(x["day"], x["requests"]) for x in days] == [("2025-03-01", 2), ("2025-03-02", 2)]
    combo = site.admin.get(f"{API}/usage", params=[("group_by", "team"), ("group_by", "day"), *MARCH.items()]).json()
    teams = {(x["team"], x["day"]): x["requests"] for x in combo["rows"]}
    assert teams == {("eng", "2025-03-01"): 2, (None, "2025-03-02"): 2}  # the web session and bob: no team
    assert combo["rows"][0]["team_id"] in (site.team_id, None)
    month = site.admin.get(f"{API}/usage", params={"group_by": "month"}).json()["rows"]
    assert [(x["month"], x["requests"]) for x in month][:2] == [("2025-03", 4), ("2025-04", 1)]
    one_day = site.admin.get(f"{API}/usage", params={"from": "2025-03-01", "to": "2025-03-01"}).json()
    assert one_day["rows"] == [one_day["totals"]] and one_day["totals"]["requests"] == 2  # no group_by: one totals row
    exact = site.admin.get(f"{API}/usage", params={"from": "2025-03-01T23:00:00", "to": "2025-03-02T08:00:00Z"}).json()
    assert exact["totals"]["requests"] == 1  # ISO datetimes: from included, to excluded
    by_key = site.admin.get(f"{API}/usage", params={"group_by": "key,status", **MARCH}).json()["rows"]
    assert sorted((x["key"] is None, x["status"], x["requests"]) for x in by_key) == [(False, "ok", 1), (False, "ok", 2),
                                                                                         (True, "ok", 1)]


def test_csv_has_a_header_row_and_the_same_numbers(site: Site) -> None:
    r = site.admin.get(f"{API}/usage", params={"group_by": "user,model", "format": "csv", **MARCH})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="usage.csv"' in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0][:5] == ["user_id", "username", "model", "requests", "prompt_tokens"]
    rows = {(x["username"], x["model"]): x for x in csv.DictReader(io.StringIO(r.text))}
    assert rows[("bob", "small")]["total_tokens"] == "3000" and len(table) == 4
    formula = site.admin.get(f"{API}/usage", params={"group_by": "model", "format": "csv", "from": "2025-04-01"}).text
    assert "'=cmd()" in formula and "\r\n=cmd()" not in formula  # spreadsheet formulas are defused
    totals = site.admin.get(f"{API}/usage", params={"format": "csv", **MARCH}).text.splitlines()
    assert totals[0].startswith("requests,") and totals[1].startswith("4,")


def test_members_see_only_their_own_usage(site: Site) -> None:
    alice = site.client(site.alice)
    rows = alice.get(f"{API}/usage", params={"group_by": "user", **MARCH}).json()["rows"]
    assert [(x["username"], x["requests"]) for x in rows] == [("alice", 3)]
    assert alice.get(f"{API}/usage", params={"user_id": site.bob.id}).status_code == 403
    assert alice.get(f"{API}/usage", params={"user_id": site.alice.id}).status_code == 200
    energy = alice.get(f"{API}/usage/energy", params={"month": "2025-03"}).json()
    assert [x["username"] for x in energy["by_user"]] == ["alice"] and energy["totals"]["requests"] == 3
    bob_only = site.admin.get(f"{API}/usage", params={"user_id": site.bob.id, "group_by": "model"}).json()["rows"]
    assert {x["model"] for x in bob_only} == {"small", "=cmd()"}


def test_energy_month_per_user_team_and_model(site: Site) -> None:
    r = site.admin.get(f"{API}/usage/energy", params={"month": "2025-03"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["month"] == "2025-03" and body["totals"]["requests"] == 4
    users = {x["username"]: x for x in body["by_user"]}
    assert users["alice"]["energy_kwh"] == pytest.approx(3 * site.kwh)
    assert users["alice"]["gco2e"] == pytest.approx(3 * site.kwh * 44.18)
    assert users["bob"]["gco2e"] is None and users["bob"]["requests_without_gco2e"] == 1
    assert {x["team"]: x["requests"] for x in body["by_team"]} == {None: 2, "eng": 2}
    assert {x["model"]: x["requests"] for x in body["by_model"]} == {"large": 1, "small": 3}
    assert len(body["methods"]) == 1 and "EcoLogits 0.9" in body["methods"][0]
    assert len(body["grid_sources"]) == 1 and "Our World in Data" in body["grid_sources"][0]
    assert site.admin.get(f"{API}/usage/energy", params={"month": "2025-04"}).json()["totals"]["requests"] == 1
    c = site.admin.get(f"{API}/usage/energy", params={"month": "2025-03", "format": "csv"})
    assert c.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(c.text)))
    assert [x["dimension"] for x in lines] == ["user", "user", "team", "team", "model", "model", "total"]
    assert float(lines[-1]["energy_kwh"]) == pytest.approx(4 * site.kwh)


def test_my_usage(site: Site) -> None:
    r = site.client(site.alice).get(f"{API}/me/usage")
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["username"] == "alice" and me["user_id"] == site.alice.id and me["limits"] is None
    assert me["this_month"]["requests"] == 1 and me["this_month"]["total_tokens"] == 10
    assert me["today"]["requests_with_estimated_usage"] == 1 and me["all_time"]["requests"] == 4
    assert [x["model"] for x in me["this_month_by_model"]] == ["small"]
    (key,) = me["keys"]
    assert key["name"] == "alice-bot" and key["limits"]["rpm"] == 100 and key["usage"]["tokens_this_month"] == 10
    assert site.client(site.bob).get(f"{API}/me/usage").json()["this_month"]["requests"] == 0


def test_bad_parameters_and_missing_credentials(site: Site) -> None:
    for params in ({"group_by": "planet"}, {"from": "yesterday"}, {"to": "2025-02-30"}):
        r = site.admin.get(f"{API}/usage", params=params)
        assert r.status_code == 400 and r.json()["detail"], params
    assert site.admin.get(f"{API}/usage/energy", params={"month": "2025-13"}).status_code == 400
    assert site.admin.get(f"{API}/usage/energy", params={"month": "March"}).status_code == 422
    assert site.admin.get(f"{API}/usage", params={"to": "9999-12-31"}).status_code == 200
    anonymous = site.client()
    for path in ("/usage", "/usage/energy?month=2025-03", "/me/usage"):
        assert anonymous.get(API + path).status_code == 401
    ask_only = site.svc.identity.create_api_key(site.alice.id, ["ask"]).key
    assert site.client(headers={"Authorization": f"Bearer {ask_only}"}).get(f"{API}/me/usage").status_code == 403
    models_only = site.svc.identity.create_api_key(site.alice.id, ["models"]).key
    assert site.client(headers={"Authorization": f"Bearer {models_only}"}).get(f"{API}/me/usage").status_code == 200


def test_admin_key_limit_routes(site: Site) -> None:
    member = site.client(site.alice)
    new = member.post(f"{API}/me/keys", json={"scopes": ["models"], "name": "mine"})
    assert new.status_code == 201 and new.json()["scopes"] == ["models"]  # members may hold the models scope
    public_id = new.json()["public_id"]
    url = f"{API}/admin/keys/{public_id}/limits"
    assert member.get(url).status_code == 403 and member.put(url, json={"rpm": 1}).status_code == 403
    r = site.admin.get(url)
    assert r.status_code == 200 and r.json()["limited"] is False and r.json()["rpm"] is None
    assert r.json()["usage"]["tokens_this_month"] == 0 and r.json()["user_id"] == site.alice.id
    body = {"rpm": 60, "tpm": 10000, "tokens_per_month": 1_000_000, "models": ["small", "large"], "team_id": site.team_id}
    r = site.admin.put(url, json=body)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in body} == body and r.json()["limited"] is True
    assert site.admin.put(url, json={"tpm": 5}).json()["rpm"] is None  # PUT replaces every field
    assert site.admin.put(url, json={"team_id": 999999}).status_code == 400
    assert site.admin.put(url, json={"rpm": 0}).status_code == 422
    assert site.admin.put(url, json={}).json()["limited"] is False  # all null: no limits
    assert site.admin.get(f"{API}/admin/keys/nope/limits").status_code == 404
    assert site.admin.put(f"{API}/admin/keys/nope/limits", json={"rpm": 1}).status_code == 404

    created = site.admin.post(f"{API}/admin/keys", json={"user_id": site.bob.id, "scopes": ["models"],
                                                         "limits": {"rpm": 5, "models": ["small"]}})
    assert created.status_code == 201, created.text
    assert created.json()["limits"]["rpm"] == 5 and created.json()["key"].startswith("sv_")
    got = site.admin.get(f"{API}/admin/keys/{created.json()['public_id']}/limits").json()
    assert got["rpm"] == 5 and got["models"] == ["small"]
    refused = site.admin.post(f"{API}/admin/keys", json={"user_id": site.bob.id, "scopes": ["models"],
                                                         "limits": {"team_id": 999999}})
    assert refused.status_code == 400
    assert len(site.svc.identity.api_keys.list(site.bob.id)) == 2  # the refused one was not created

    user_url = f"{API}/admin/users/{site.bob.id}/limits"
    assert site.admin.put(user_url, json={"tokens_per_month": 100}).json()["tokens_per_month"] == 100
    assert site.svc.gateway_accounting.user_limits(site.bob.id) == Limits(tokens_per_month=100)
    assert site.admin.get(f"{API}/admin/users/424242/limits").status_code == 404
    assert site.admin.put(user_url, json={}).json()["limited"] is False


def test_the_schema_lists_the_new_routes(site: Site, tmp_path: Path) -> None:
    paths = site.admin.get("/openapi.json").json()["paths"]
    for p in ("/api/v1/usage", "/api/v1/usage/energy", "/api/v1/me/usage", "/api/v1/admin/keys/{public_id}/limits",
              "/api/v1/admin/users/{user_id}/limits"):
        assert p in paths, p
    assert "text/csv" in paths["/api/v1/usage"]["get"]["responses"]["200"]["content"]
