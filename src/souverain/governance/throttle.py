"""Sign-in throttling: failure counters per username and per client address, in memory.

A sliding window: a key is blocked while it has ``limit`` failures younger than ``window_s``; it is free
again when the oldest of them ages out (that moment is the ``Retry-After``). The check comes before any
password is verified, and unknown usernames are counted exactly like existing ones, so a 429 says
nothing about whether an account exists. A successful sign-in clears its username's failures, not its
address's (one valid account must not reset an attacker's address budget).

In-process only: several server processes each keep their own counters (the limits then multiply), and
a restart forgets them. Thread-safe; memory is bounded by ``max_keys`` (the stalest keys go first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginThrottle"]


class _Window:
    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self.hits: dict[str, deque[float]] = {}

    def _fresh(self, key: str, now: float) -> deque[float] | None:
        hits = self.hits.get(key)
        if hits is None:
            return None
        while hits and now - hits[0] >= self.window_s:
            hits.popleft()
        if not hits:
            del self.hits[key]
            return None
        return hits

    def retry_after(self, key: str, now: float) -> float:
        hits = self._fresh(key, now)
        if hits is None or len(hits) < self.limit:
            return 0.0
        return hits[-self.limit] + self.window_s - now

    def add(self, key: str, now: float) -> None:
        hits = self._fresh(key, now)
        if hits is None:
            if len(self.hits) >= self.max_keys:
                self._evict(now)
            hits = self.hits[key] = deque()
        hits.append(now)
        while len(hits) > self.limit:  # older failures do not matter once `limit` newer ones exist
            hits.popleft()

    def clear(self, key: str) -> None:
        self.hits.pop(key, None)

    def _evict(self, now: float) -> None:
        for key in list(self.hits):
            self._fresh(key, now)
        while len(self.hits) >= self.max_keys:  # still full: drop the keys whose last failure is oldest
            del self.hits[min(self.hits, key=lambda k: self.hits[k][-1])]


class LoginThrottle:
    """``check`` before verifying a password, ``failure`` after a wrong one, ``success`` after a right one."""

    def __init__(self, *, per_username: int = 5, per_address: int = 20, window_s: float = 300.0,
                 max_keys: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        if per_username < 1 or per_address < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("throttle limits and window must be positive")
        self._lock = threading.Lock()
        self._clock = clock
        self._users = _Window(per_username, window_s, max_keys)
        self._addresses = _Window(per_address, window_s, max_keys)

    @staticmethod
    def _user_key(username: str | None) -> str | None:
        return username.strip().lower() if username and username.strip() else None

    def check(self, username: str | None, address: str | None) -> int:
        """Seconds to wait before the next attempt (0: go ahead)."""
        user = self._user_key(username)
        with self._lock:
            now = self._clock()
            wait = max(self._users.retry_after(user, now) if user else 0.0,
                       self._addresses.retry_after(address, now) if address else 0.0)
        return max(math.ceil(wait), 1) if wait > 0 else 0

    def failure(self, username: str | None, address: str | None) -> None:
        user = self._user_key(username)
        with self._lock:
            now = self._clock()
            if user:
                self._users.add(user, now)
            if address:
                self._addresses.add(address, now)

    def success(self, username: str | None) -> None:
        user = self._user_key(username)
        if user:
            with self._lock:
                self._users.clear(user)
