"""``sse._threaded``: a blocking generator run in its own thread and handed to the event loop.

What the streamed answers rely on: events in order and complete; an early end (the client went away)
stops the generator after its current item and closes it in its own thread before the async side
returns, so its ``finally`` (free the model, settle the request) has run and nothing touches the
generator concurrently; an unexpected exception reaches the loop; reading a single event never hangs
on the first-events handshake.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from souverain.gateway import sse


def _events(n: int, log: dict[str, Any], delay_s: float = 0.0) -> Iterator[str]:
    log["thread"] = threading.current_thread().name
    try:
        for i in range(n):
            if delay_s:
                time.sleep(delay_s)
            log["made"] = i + 1
            yield f"event {i}"
        log["status"] = "ok"
    except GeneratorExit:
        log["status"] = "cancelled"
        raise
    finally:
        log["closed_in"] = threading.current_thread().name


async def _take(it: Iterator[str], count: int | None = None) -> list[str]:
    out: list[str] = []
    agen = sse._threaded(it)
    try:
        async for item in agen:
            out.append(item)
            if count is not None and len(out) == count:
                break
    finally:
        await agen.aclose()
    return out


def test_every_event_arrives_in_order_from_another_thread() -> None:
    log: dict[str, Any] = {}
    assert asyncio.run(_take(_events(50, log))) == [f"event {i}" for i in range(50)]
    assert log["status"] == "ok" and log["thread"] != threading.current_thread().name


@pytest.mark.parametrize("read", [1, 2, 3])
def test_an_early_end_stops_and_closes_the_generator_in_its_thread_before_returning(read: int) -> None:
    log: dict[str, Any] = {}
    assert asyncio.run(_take(_events(1000, log, delay_s=0.002), read)) == [f"event {i}" for i in range(read)]
    # closed already, in the generator's own thread, after at most a few more items
    assert log["status"] == "cancelled" and log["closed_in"] == log["thread"]
    assert log["made"] < read + 10


def test_a_cancelled_reader_still_waits_for_the_generator_to_close() -> None:
    log: dict[str, Any] = {}

    async def main() -> None:
        task = asyncio.create_task(_take(_events(1000, log, delay_s=0.005)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log["status"] == "cancelled"  # closed before the cancellation finished

    asyncio.run(main())


def test_an_unexpected_exception_reaches_the_event_loop() -> None:
    class Boom(BaseException):
        pass

    def failing() -> Iterator[str]:
        yield "first"
        raise Boom("the generator broke")

    with pytest.raises(Boom, match="the generator broke"):
        asyncio.run(_take(failing()))
