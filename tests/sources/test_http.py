"""The connectors' HTTP client against a real local server: throttling and failures are retried politely."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from souverain.sources.http import HttpClient, ResponseTooLarge, RetryPolicy, retry_after_seconds


class Script:
    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.seen: list[tuple[float, str]] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            script.seen.append((time.monotonic(), self.headers.get("Authorization", "")))
            status, headers = script.answers.pop(0) if script.answers else (200, {})
            body = b'{"ok": true}' if status == 200 else b'{"error": {"code": "TooManyRequests"}}'
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()
    httpd.server_close()


def test_429_with_retry_after_is_waited_out_then_succeeds(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(429, {"Retry-After": "1"}), (503, {"Retry-After": "1"})]
    client = HttpClient(RetryPolicy(base_delay_s=0.05))
    t0 = time.monotonic()
    resp = client.get(url + "/items")
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    assert len(script.seen) == 3
    assert script.seen[1][0] - script.seen[0][0] >= 0.95 and script.seen[2][0] - script.seen[1][0] >= 0.95
    assert time.monotonic() - t0 >= 1.9
    assert (client.stats.requests, client.stats.retries, client.stats.throttled) == (3, 2, 2)
    client.close()


def test_a_source_that_stays_throttled_gives_up_with_the_last_answer(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(429, {"Retry-After": "0"})] * 10
    client = HttpClient(RetryPolicy(attempts=3, base_delay_s=0.01))
    assert client.get(url).status_code == 429
    assert len(script.seen) == 3
    client.close()


def test_5xx_without_retry_after_backs_off_and_4xx_is_not_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(502, {}), (200, {})]
    client = HttpClient(RetryPolicy(base_delay_s=0.01))
    assert client.get(url).status_code == 200
    script.answers = [(404, {})]
    assert client.get(url).status_code == 404
    assert len(script.seen) == 3
    client.close()


def test_cancel_stops_a_long_retry_wait(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(429, {"Retry-After": "30"})]
    flag = threading.Event()
    client = HttpClient(RetryPolicy(), cancelled=flag.is_set)
    threading.Timer(0.3, flag.set).start()
    t0 = time.monotonic()
    assert client.get(url).status_code in (200, 429)
    assert time.monotonic() - t0 < 5
    client.close()


def test_connection_refused_is_retried_then_raised() -> None:
    client = HttpClient(RetryPolicy(attempts=2, base_delay_s=0.01, timeout_s=2))
    with pytest.raises(httpx.ConnectError):
        client.get("http://127.0.0.1:9/unreachable")
    assert client.stats.retries == 1
    client.close()


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_a_capped_download_refuses_a_body_over_the_limit(server: tuple[str, Script]) -> None:
    url, script = server
    client = HttpClient(RetryPolicy(base_delay_s=0.01))
    script.answers = [(503, {"Retry-After": "0"})]
    assert client.get(url, limit=1000).content == b'{"ok": true}'  # retried, then read within the cap
    with pytest.raises(ResponseTooLarge):
        client.get(url, limit=5)
    client.close()
