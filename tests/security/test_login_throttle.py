"""Sign-in throttling: per-username and per-address failure windows, 429 with Retry-After, decided before
any password is verified and the same for unknown usernames."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from souverain.governance.throttle import LoginThrottle
from souverain.service import Souverain
from souverain.web.api import auth

from .conftest import PASSWORD, make


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttled(app_svc: tuple[Souverain, Any]) -> tuple[Souverain, Any, Clock]:
    svc, app = app_svc
    clock = Clock()
    svc.__dict__["_login_throttle"] = LoginThrottle(per_username=5, per_address=20, window_s=300, clock=clock)
    return svc, app, clock


def attempt(app: Any, username: str, password: str, address: str = "testclient") -> Any:
    client = TestClient(app, client=(address, 50000))
    return client.post("/auth/login", json={"username": username, "password": password})


def test_five_failures_per_username_then_429_with_retry_after(throttled: tuple[Souverain, Any, Clock],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    svc, app, clock = throttled
    for i in range(5):
        assert attempt(app, "admin", f"wrong-{i}", address=f"10.0.0.{i}").status_code == 401
    verified: list[str] = []
    real = svc.identity.verify_password
    monkeypatch.setattr(svc.identity, "verify_password", lambda u, p: verified.append(u) or real(u, p))
    r = attempt(app, "Admin", PASSWORD, address="10.0.0.99")  # right password, other address: still refused
    assert r.status_code == 429
    assert r.headers["retry-after"] == "300"
    assert "too many failed sign-in attempts" in r.json()["detail"] and "admin" not in r.json()["detail"]
    assert "set-cookie" not in r.headers
    assert verified == []  # refused before the password hash was looked at
    clock.now += 120
    assert attempt(app, "admin", PASSWORD).headers["retry-after"] == "180"
    clock.now += 180  # the failures age out of the window
    assert attempt(app, "admin", PASSWORD).status_code == 200


def test_unknown_usernames_throttle_the_same_way(throttled: tuple[Souverain, Any, Clock]) -> None:
    _, app, _ = throttled
    known = [attempt(app, "admin", "wrong", address="10.1.0.1") for _ in range(6)]
    unknown = [attempt(app, "nobody", "wrong", address="10.1.0.2") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * 5 + [429]
    assert known[-1].json() == unknown[-1].json()
    assert known[-1].headers["retry-after"] == unknown[-1].headers["retry-after"]


def test_success_resets_the_username_counter(throttled: tuple[Souverain, Any, Clock]) -> None:
    _, app, _ = throttled
    for _ in range(4):
        assert attempt(app, "admin", "wrong").status_code == 401
    assert attempt(app, "admin", PASSWORD).status_code == 200
    for _ in range(4):
        assert attempt(app, "admin", "wrong").status_code == 401
    assert attempt(app, "admin", PASSWORD).status_code == 200


def test_twenty_failures_per_address(throttled: tuple[Souverain, Any, Clock]) -> None:
    svc, app, clock = throttled
    svc.identity.create_user("bob", password=PASSWORD)
    for i in range(20):  # spread over usernames: no username reaches its limit
        assert attempt(app, f"user{i % 10}", "wrong", address="192.0.2.7").status_code == 401
    r = attempt(app, "bob", PASSWORD, address="192.0.2.7")
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 300
    assert attempt(app, "bob", PASSWORD, address="192.0.2.8").status_code == 200  # other addresses unaffected
    # a success does not reset the address (one valid account must not refill an attacker's budget)
    assert attempt(app, "bob", PASSWORD, address="192.0.2.7").status_code == 429
    clock.now += 300
    assert attempt(app, "bob", PASSWORD, address="192.0.2.7").status_code == 200


def test_setup_refusals_are_throttled_per_address(tmp_path: Any) -> None:
    svc, app = make(tmp_path / "d")
    svc.identity.create_user("root", role="admin", password=PASSWORD)
    c = TestClient(app)
    codes = [c.post("/auth/setup", json={"username": f"evil{i}", "password": PASSWORD}).status_code for i in range(21)]
    assert codes == [409] * 20 + [429]
    svc.close()


def test_default_limits_apply_to_the_app(app_svc: tuple[Souverain, Any]) -> None:
    svc, app = app_svc
    codes = [attempt(app, "admin", "wrong").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    assert auth.login_throttle(svc) is auth.login_throttle(svc)
    assert "429" in app.openapi()["paths"]["/auth/login"]["post"]["responses"]


def test_throttle_unit_sliding_window_and_bounds() -> None:
    clock = Clock()
    t = LoginThrottle(per_username=2, per_address=3, window_s=10, max_keys=4, clock=clock)
    assert t.check("a", "1.1.1.1") == 0
    t.failure("A ", "1.1.1.1")
    clock.now += 4
    t.failure("a", "1.1.1.1")
    assert t.check("a", None) == 6  # the first failure leaves the window in 6 s
    clock.now += 6
    assert t.check("a", None) == 0
    t.success("a")
    assert t.check("a", None) == 0
    for i in range(10):  # more keys than max_keys: memory stays bounded
        t.failure(f"user{i}", f"10.0.0.{i}")
    assert len(t._users.hits) <= 4 and len(t._addresses.hits) <= 4
    with pytest.raises(ValueError):
        LoginThrottle(per_username=0)


def test_throttle_is_thread_safe() -> None:
    t = LoginThrottle(per_username=1000, per_address=100_000, window_s=60)
    threads = [threading.Thread(target=lambda: [t.failure("x", "addr") for _ in range(500)]) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(t._addresses.hits["addr"]) == 4000 and t.check("x", None) > 0
