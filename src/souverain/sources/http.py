"""HTTP for connectors: one ``httpx.Client`` with timeouts and polite retries.

Transient failures are retried with backoff: ``429`` and ``503`` (waiting what ``Retry-After``
says, in seconds or as an HTTP date, capped by ``max_wait_s``), ``500``/``502``/``504``, timeouts
and dropped connections (exponential backoff with jitter). Anything else comes back to the caller,
which decides whether it concerns one item (``ItemError``) or the whole source (``SourceError``).
After ``attempts`` tries the last response is returned (or the last exception raised), so a source
that stays throttled fails that sync with a clear reason instead of hanging.

Every request and retry is counted in ``stats`` (the tests and the sync report read them).
Authorization headers are never logged: only method, host and path are.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class ResponseTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes or more, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


@dataclass
class RetryPolicy:
    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_wait_s: float = 120.0  # longest Retry-After honoured; longer ones are capped
    timeout_s: float = 60.0


@dataclass
class HttpStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429/503 answers
    waited_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpClient:
    def __init__(self, policy: RetryPolicy | None = None, *, sleep: Callable[[float], None] = time.sleep,
                 verify: bool | str = True, transport: httpx.BaseTransport | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> None:
        self.policy = policy or RetryPolicy()
        self.stats = HttpStats()
        self._sleep = sleep
        self.cancelled = cancelled
        self.client = httpx.Client(timeout=httpx.Timeout(self.policy.timeout_s, connect=10.0), verify=verify,
                                   transport=transport, follow_redirects=False,
                                   headers={"User-Agent": "Souverain-connector/0.1"})

    def close(self) -> None:
        self.client.close()

    def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        with self.stats.lock:
            self.stats.waited_s += seconds
        while not self.cancelled():
            left = end - time.monotonic()
            if left <= 0:
                return
            self._sleep(min(left, 0.5))

    def _send(self, method: str, url: str, follow_redirects: bool, limit: int | None, **kwargs: Any) -> httpx.Response:
        if limit is None:
            return self.client.request(method, url, follow_redirects=follow_redirects, **kwargs)
        with self.client.stream(method, url, follow_redirects=follow_redirects, **kwargs) as resp:
            if resp.status_code != 200:
                resp.read()
                return resp
            length = resp.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > limit:
                raise ResponseTooLarge(int(length), limit)
            buf = bytearray()
            for chunk in resp.iter_bytes():
                buf += chunk
                if len(buf) > limit:
                    raise ResponseTooLarge(len(buf), limit)
            return httpx.Response(resp.status_code, headers=resp.headers, content=bytes(buf), request=resp.request)

    def request(self, method: str, url: str, *, follow_redirects: bool = True, limit: int | None = None,
                **kwargs: Any) -> httpx.Response:
        """Send with retries; returns the final response (any status) or raises the last transport error.

        With ``limit``, a 200 body is streamed and refused past ``limit`` bytes (``ResponseTooLarge``),
        announced by Content-Length or not, so a download never holds more than the limit in memory.
        """
        p = self.policy
        for attempt in range(1, p.attempts + 1):
            with self.stats.lock:
                self.stats.requests += 1
            try:
                resp = self._send(method, url, follow_redirects, limit, **kwargs)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if attempt == p.attempts or self.cancelled():
                    raise
                delay = min(p.max_delay_s, p.base_delay_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
                log.info("%s %s: %s; retry %d in %.1fs", method, httpx.URL(url).path, type(exc).__name__, attempt, delay)
                with self.stats.lock:
                    self.stats.retries += 1
                self._wait(delay)
                continue
            if resp.status_code not in RETRY_STATUS or attempt == p.attempts or self.cancelled():
                return resp
            wait = retry_after_seconds(resp.headers.get("Retry-After"))
            if resp.status_code in (429, 503):
                with self.stats.lock:
                    self.stats.throttled += 1
            if wait is None:
                wait = min(p.max_delay_s, p.base_delay_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            wait = min(wait, p.max_wait_s)
            log.info("%s %s: HTTP %d; retry %d in %.1fs", method, httpx.URL(url).path, resp.status_code, attempt, wait)
            resp.close()
            with self.stats.lock:
                self.stats.retries += 1
            self._wait(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)
