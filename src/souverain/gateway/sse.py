"""Server-Sent Events for streamed chat completions (``stream: true``).

Design facts:

- The backend's stream is blocking; ``sse_events`` is a generator of OpenAI ``chat.completion.chunk``
  events (a first role chunk, content and ``reasoning_content`` deltas with ``<think>`` blocks split out
  streaming-safe, a finish chunk, the usage chunk when ``stream_options.include_usage``, ``[DONE]``).
  ``SSEResponse`` runs it in a thread of its own per stream (``_threaded``), which hands each event to
  the event loop as soon as it is made: the model keeps generating while the loop sends, and the loop
  never blocks on a model. (Pulling one event at a time through the thread pool stalled generation for
  two thread hops per token: 0.3-0.7 ms a token on the 2-core test machine, about 1 % of tokens/s for
  the bundled SmolLM2 on CPU and ~6 % for a 200 tokens/s model.) See ``_threaded``.
- The first delta was already pulled by ``BackendPool.open_stream`` (fallbacks happen before it only);
  a failure after it ends the stream with an OpenAI error event, never a switch of model.
- Settling happens exactly once, whatever happens: ``ok`` after the finish chunk, ``error`` on a
  failure, ``cancelled`` when the client went away (the stream's thread stops after its current event
  and closes the generator in that thread) or the body was never iterated (``SSEResponse``'s
  ``on_close`` always runs, in the thread pool). The backend's usage when it finished, else the tokens
  of what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from . import errors
from .backends import OpenedStream
from .metered import Metered, usage_json
from .protocol import ChatParams, count_prompt_or_estimate, prompt_estimate
from .reasoning import ReasoningSplitter

log = logging.getLogger(__name__)


def event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def settle_stream(opened: OpenedStream, metered: Metered, params: ChatParams, emitted: list[str], status: str) -> None:
    """Settle a streamed request once: the backend's usage when it finished, else counts of what was sent."""
    if metered.settled:
        return
    usage = opened.stream.usage
    if usage is None:
        backend = opened.backend
        text = "".join(emitted)
        try:
            completion = backend.count_tokens(text) if text else 0
        except Exception:
            completion = prompt_estimate([{"content": text}]) if text else 0
        usage = (count_prompt_or_estimate(backend, params.messages)[0], completion, False)
    metered.settle(status, prompt_tokens=usage[0], completion_tokens=usage[1], usage_exact=usage[2],
                   entry=opened.entry, ttft_s=opened.ttft_s if opened.first is not None else None)


def close_stream(opened: OpenedStream, metered: Metered, params: ChatParams, emitted: list[str]) -> None:
    try:
        opened.stream.close()
    finally:
        settle_stream(opened, metered, params, emitted, "cancelled")


def sse_events(opened: OpenedStream, metered: Metered, params: ChatParams, include_usage: bool,
         emitted: list[str]) -> Iterator[str]:
    cid = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    alias = opened.entry.alias
    splitter = ReasoningSplitter()

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        d: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": alias,
                             "system_fingerprint": None,
                             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            d["usage"] = None
        return event(d)

    def settle(status: str) -> None:
        settle_stream(opened, metered, params, emitted, status)

    status = "error"
    try:
        yield chunk({"role": "assistant", "content": ""})
        finish = None
        deltas = itertools.chain([opened.first] if opened.first is not None else [], opened.stream)
        for d in deltas:
            out: dict[str, Any] = {}
            if d.content:
                emitted.append(d.content)
                content, think = splitter.feed(d.content)
                if content:
                    out["content"] = content
                if think:
                    out["reasoning_content"] = think
            if d.reasoning:
                emitted.append(d.reasoning)
                out["reasoning_content"] = out.get("reasoning_content", "") + d.reasoning
            if d.tool_calls:
                out["tool_calls"] = d.tool_calls
            if out:
                yield chunk(out)
            if d.finish_reason:
                finish = d.finish_reason
        content, think = splitter.flush()
        if content or think:
            yield chunk({k: v for k, v in (("content", content), ("reasoning_content", think)) if v})
        yield chunk({}, finish or "stop")
        status = "ok"
        settle("ok")
        if include_usage:
            usage = opened.stream.usage or (0, 0, False)
            yield event({"id": cid, "object": "chat.completion.chunk", "created": created, "model": alias,
                          "system_fingerprint": None, "choices": [],
                          "usage": usage_json(usage[0], usage[1], metered, usage[2])})
        yield "data: [DONE]\n\n"
    except GeneratorExit:
        status = "cancelled"
        raise
    except Exception as exc:
        err = exc if isinstance(exc, errors.GatewayError) else None
        log.error("model %s failed mid-stream: %s: %s", alias, type(exc).__name__, exc)
        err = err or errors.model_unavailable(f"the model {alias!r} failed while streaming; the answer is incomplete")
        yield event(err.body())
    finally:
        try:
            opened.stream.close()
        finally:
            settle(status)


_ITEM, _END, _ERROR = 0, 1, 2
FIRST_EVENTS = 2  # the role chunk and the first delta: the time to first token
FIRST_EVENTS_WAIT_S = 10.0  # a guard only: the loop always says when they are sent, or that it is done
MAX_STREAMS = 256  # streams served at once by this process; more wait for a thread (and their client, for bytes)
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _streams() -> ThreadPoolExecutor:
    """The threads that run streamed answers (kept between streams: starting a thread blocks the loop ~0.1 ms)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(MAX_STREAMS, thread_name_prefix="souverain-sse")
        return _executor


async def _threaded(it: Iterator[str]) -> AsyncIterator[str]:
    """Iterate a blocking generator in a thread of its own, handing each item to the event loop as it comes.

    - The thread keeps the model generating while the loop sends the previous event. (Pulling one event at
      a time through the thread pool stalled generation for two thread hops per token.)
    - Except for the first ``FIRST_EVENTS``: the thread waits until the loop has sent them before it goes on,
      so the time to first token never waits for the GIL that generating the next token holds.
    - After each event the thread yields the GIL (``sleep(0)``: a bare syscall when nothing waits), so a
      burst of events (an upstream's buffered chunks) is sent as it is made, not at a 5 ms switch interval.
    - When this async iterator ends early (the client went away), the thread stops after its current item
      and closes the generator itself, in its own thread (its ``finally`` frees the model and settles the
      request); this waits for that, shielded from cancellation, so nothing touches the generator afterwards.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    stop = threading.Event()
    first_sent = threading.Event()
    finished = asyncio.Event()

    def hand(kind: int, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: the server is shutting down
            stop.set()

    def produce() -> None:
        try:
            for n, item in enumerate(it, 1):
                if stop.is_set():
                    break
                hand(_ITEM, item)
                if n == FIRST_EVENTS:
                    first_sent.wait(FIRST_EVENTS_WAIT_S)
                else:
                    time.sleep(0)
            else:
                hand(_END, None)
        except BaseException as exc:  # sse_events turns model failures into error events; this is anything else
            hand(_ERROR, exc)
        finally:
            try:
                close = getattr(it, "close", None)
                if close is not None:
                    close()  # after a break: GeneratorExit in sse_events, which settles as cancelled
            except Exception:
                log.exception("closing a streamed answer failed")
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(finished.set)

    _streams().submit(contextvars.copy_context().run, produce)
    sent = 0
    try:
        while True:
            kind, value = await queue.get()
            if kind == _END:
                break
            if kind == _ERROR:
                raise value
            yield value
            sent += 1
            if sent == FIRST_EVENTS:
                first_sent.set()
    finally:
        stop.set()
        first_sent.set()
        with anyio.CancelScope(shield=True):
            await finished.wait()


class SSEResponse(StreamingResponse):
    """Server-Sent Events from a blocking generator; ``on_close`` always runs, even when the client went away
    or the body was never iterated (it frees the model and settles the reservation)."""

    def __init__(self, events: Iterator[str], on_close: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(_threaded(events), media_type="text/event-stream", **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self.body_iterator, "aclose", None)
                try:
                    if aclose is not None:
                        await aclose()
                finally:
                    await run_in_threadpool(self._on_close)  # may settle: SQLite, not in the event loop
