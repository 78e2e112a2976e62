"""The issue's test: 50 concurrent requests at a key with room for exactly 10 -> exactly 10 pass, 40 are refused,
and the ledger balances. In threads (one SQLite connection each), in processes, and over HTTP against a real
uvicorn server running the /v1 API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from souverain.gateway.accounting import Accounting, Limits, ModelNotAllowed, QuotaExceeded, Reservation
from souverain.governance.identity import IdentityService
from souverain.index.sqlite_store import SQLiteStore
from souverain.llm.fake import FakeLLM
from souverain.service import Souverain
from souverain.settings import Settings
from souverain.web.app import create_app

from .conftest import Ledger

N, ROOM = 50, 10


def hammer(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` in ``n`` threads released together; each result or exception, by index."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = call(i)
        except Exception as exc:  # collected, asserted on below
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return out


def assert_balanced(acc: Accounting, admitted: list[Reservation], key_id: int) -> None:
    """Every admitted request has exactly one record, no reservation is left, and no more was used than reserved."""
    records = acc.records("key_id = ?", (key_id,))
    assert acc.open_reservations() == []
    assert len(records) == len(admitted) == ROOM
    assert sorted(r["reservation_id"] for r in records) == sorted(r.id for r in admitted)
    assert sum(r["total_tokens"] for r in records) <= sum(r.reserved_tokens for r in admitted)


@pytest.mark.parametrize("limits", [Limits(rpm=ROOM), Limits(tokens_per_month=ROOM * 100), Limits(tpm=ROOM * 100)],
                         ids=["rpm", "tokens_per_month", "tpm"])
def test_50_threads_at_a_key_with_room_for_10(ledger: Ledger, limits: Limits) -> None:
    key_id, user_id, _ = ledger.key()
    ledger.acc.set_key_limits(key_id, limits)
    acc = Accounting(ledger.store.conns)  # the real clock: the 50 land inside one window

    results = hammer(N, lambda i: acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=40, max_tokens=60))
    admitted = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(admitted) == ROOM and len(refused) == N - ROOM, Counter(type(r).__name__ for r in results)
    assert all(r.retry_after > 0 for r in refused)
    assert len({r.id for r in admitted}) == ROOM

    ids = hammer(ROOM, lambda i: acc.settle(admitted[i], prompt_tokens=40, completion_tokens=i, status="ok",
                                            latency_ms=5.0, ttft_ms=1.0, endpoint="/v1/chat/completions",
                                            usage_exact=True, energy=None))
    assert len(set(ids)) == ROOM and all(isinstance(i, int) for i in ids)
    assert_balanced(acc, admitted, key_id)


def test_refusals_and_admissions_interleave_under_contention(ledger: Ledger) -> None:
    """Allowed models and budget checks stay exact when settling and admitting race each other."""
    key_id, user_id, _ = ledger.key()
    ledger.acc.set_key_limits(key_id, Limits(tokens_per_month=ROOM * 100, models=("m",)))
    acc = Accounting(ledger.store.conns)

    def call(i: int) -> Any:
        res = acc.admit(key_id=key_id, user_id=user_id, model="m" if i % 5 else "other", prompt_tokens=50, max_tokens=50)
        acc.settle(res, prompt_tokens=50, completion_tokens=50, status="ok", latency_ms=1, ttft_ms=None,
                   endpoint="/v1/chat/completions", usage_exact=True, energy=None)
        return res

    results = hammer(N, call)
    kinds = Counter(type(r).__name__ for r in results)
    assert kinds["ModelNotAllowed"] == N // 5 and kinds["Reservation"] == ROOM, kinds
    assert all(isinstance(r, (Reservation, QuotaExceeded, ModelNotAllowed)) for r in results)
    assert_balanced(acc, [r for r in results if isinstance(r, Reservation)], key_id)
    assert acc.current_usage("key", key_id)["tokens_this_month"] == ROOM * 100


WORKER = """
import sys, threading
from pathlib import Path
from souverain.gateway.accounting import Accounting, QuotaExceeded
from souverain.index.sqlite_store import SQLiteStore
store = SQLiteStore(Path(sys.argv[1]))
key_id, user_id, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
acc = Accounting(store.conns)
barrier = threading.Barrier(threads)
out = []
def run():
    barrier.wait()
    try:
        acc.admit(key_id=key_id, user_id=user_id, model="m", prompt_tokens=1, max_tokens=1)
        out.append("ok")
    except QuotaExceeded:
        out.append("429")
ts = [threading.Thread(target=run) for _ in range(threads)]
[t.start() for t in ts]
[t.join() for t in ts]
print(" ".join(out))
"""


def test_50_requests_from_5_processes(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite3"
    store = SQLiteStore(db)
    ident = IdentityService(store, b"s" * 32)
    user = ident.create_user("svc")
    key = ident.create_api_key(user.id, ["models"]).record
    acc = Accounting(store.conns)
    acc.set_key_limits(key.id, Limits(rpm=ROOM))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(db), str(key.id), str(user.id), "10"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(5)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    words = Counter(w for out, _ in outs for w in out.split())
    assert words == {"ok": ROOM, "429": N - ROOM}
    assert len(acc.open_reservations()) == ROOM
    store.close()


# over HTTP: the /v1 API in a real uvicorn server, in front of a fake upstream OpenAI-compatible model ------------

class FakeUpstream(ThreadingHTTPServer):
    """An OpenAI-compatible server that answers every chat completion with one token ("ok")."""

    daemon_threads = True

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _UpstreamHandler(BaseHTTPRequestHandler):
    server: FakeUpstream

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._json({"object": "list", "data": [{"id": "upstream-24b", "object": "model", "owned_by": "test"}]})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            self.server.calls += 1
        self._json({"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": request.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "length"}],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Souverain, FakeUpstream]]:
    """(base URL of /v1, the service, the fake upstream): uvicorn serving the app on a free port."""
    pytest.importorskip("souverain.gateway.api", reason="the /v1 API (G1) is not there yet")
    upstream = FakeUpstream()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"include_defaults": False, "models": [{
        "alias": "fake-24b", "backend": "openai", "base_url": upstream.url, "model": "upstream-24b", "country": "FR",
        "total_params_b": 24, "active_params_b": 24, "max_retries": 0}, {
        "alias": "fake-7b", "backend": "openai", "base_url": upstream.url, "model": "upstream-7b", "country": "FR",
        "total_params_b": 7, "max_retries": 0}]}))
    settings = Settings(data_dir=tmp_path / "data", gateway_models_file=str(models), grid_country="FR")
    svc = Souverain(settings, llm=FakeLLM())
    app = create_app(settings, svc)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                                           limit_concurrency=200, backlog=256))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}/v1", svc, upstream
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        upstream.shutdown()
        upstream.server_close()
        svc.close()


def test_50_http_requests_at_a_key_with_room_for_10(served: tuple[str, Souverain, FakeUpstream]) -> None:
    openai = pytest.importorskip("openai")
    base_url, svc, upstream = served
    user = svc.identity.create_user("batch-service")  # a "service" is a user account with its own keys
    key = svc.identity.create_api_key(user.id, ["models"])
    acc = svc.gateway_accounting
    acc.set_key_limits(key.record.id, Limits(rpm=ROOM, models=("fake-24b",)))

    def call(i: int) -> Any:
        client = openai.OpenAI(base_url=base_url, api_key=key.key, max_retries=0, timeout=60)
        try:
            return client.chat.completions.create(model="fake-24b", max_tokens=1,
                                                  messages=[{"role": "user", "content": f"say ok #{i}"}])
        finally:
            client.close()

    results = hammer(N, call)
    ok = [r for r in results if not isinstance(r, Exception)]
    limited = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(ok) == ROOM and len(limited) == N - ROOM, Counter(type(r).__name__ for r in results)
    assert all(r.choices[0].message.content == "ok" and r.usage.total_tokens == 10 for r in ok)
    for err in limited:
        assert err.status_code == 429 and int(err.response.headers["Retry-After"]) >= 1
        assert err.code == "rate_limit_exceeded" and "10 requests per minute" in err.message
    assert upstream.calls == ROOM  # refused requests never reached the model

    records = acc.records("key_id = ?", (key.record.id,))
    assert acc.open_reservations() == [] and len(records) == ROOM
    assert {r["status"] for r in records} == {"ok"} and {r["model"] for r in records} == {"fake-24b"}
    assert sum(r["total_tokens"] for r in records) == ROOM * 10 and all(r["usage_exact"] for r in records)
    assert all(r["energy_kwh"] and r["gco2e"] == pytest.approx(r["energy_kwh"] * 44.18) for r in records)
    assert all(r["key_public_id"] == key.record.public_id and r["endpoint"] == "/v1/chat/completions" for r in records)

    client = openai.OpenAI(base_url=base_url, api_key=key.key, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as denied:  # a model of the gateway this key may not use
        client.chat.completions.create(model="fake-7b", max_tokens=1, messages=[{"role": "user", "content": "hi"}])
    assert denied.value.code == "model_not_allowed" and "fake-7b" in denied.value.message
    client.close()
    assert acc.open_reservations() == [] and upstream.calls == ROOM
