"""Model gateway benchmark: what ``/v1`` adds on top of calling the model server (or llama.cpp) directly.

Run from the repository root (~1-2 min with the defaults on 2 shared cores):

    .venv/bin/python bench/gateway.py
    .venv/bin/python bench/gateway.py --requests 100 --stream-requests 50 --load-requests 300 --gen-reps 2
    .venv/bin/python bench/gateway.py --parts ab             # (a) and (b) only, no model
    .venv/bin/python bench/gateway.py --parts c --gen-reps 7 # generation only

Everything runs on 127.0.0.1, in three processes: a tiny OpenAI-compatible upstream server (this file,
``--serve-upstream``: asyncio, HTTP/1.1 keep-alive, instant fixed replies: a JSON completion with
``usage``, or an SSE stream of 16 content chunks, a finish chunk, the usage chunk and ``[DONE]``), the
real Souverain server (``souverain serve``: uvicorn, the app with its middleware, logging at ``info``
like production, a fresh data directory, a registry entry ``bench-up`` pointing at the upstream, an API
key with the ``models`` scope, no limits), and this process as the client (httpx, as the ``openai``
client uses). Timed:

a. Overhead: ``--requests`` non-streamed chat completions (one short user message, ``max_tokens`` 16),
   one at a time, alternating one straight to the upstream and one through the gateway (so drift in the
   machine's load hits both), each side on its own keep-alive connection. p50/p95 latency; overhead =
   gateway p50 - direct p50 (goal < 5 ms). Then ``--stream-requests`` streamed ones the same way: time to
   the first event with non-empty ``content`` (TTFT), overhead goal < 10 ms.
b. Throughput: ``--concurrency`` clients (asyncio, one connection each) sending ``--load-requests``
   non-streamed requests in all, directly then through the gateway: requests/s and the ratio. The client,
   the upstream and the gateway share the same 2 cores, so this is the gateway's CPU cost per request
   more than a capacity figure.
c. Generation: the bundled SmolLM2 135M (Q4_1 GGUF), temperature 0, ``--gen-tokens`` tokens, the same
   prompt, ``--gen-reps`` times each (after a warm-up each), alternating: ``llama_cpp.Llama`` in this
   process (same file, context, chat template and default threads as the gateway's) against ``/v1``
   (non-streamed, and streamed, each against llama.cpp called the same way). tokens/s = completion tokens /
   wall time at the client; goal gateway >= 0.95 x direct, as the median of the per-repetition ratios (each
   pair runs back to back, so the shared machine's drift cancels out; single runs move by +-5 % here).

CPU seconds are shown beside wall time: the client's (this process) and each server's (from
``/proc/PID/stat``), per request; the machine is shared, so wall times move with its load.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
UPSTREAM_ALIAS = "bench-up"
SMOL = "smollm2-135m-instruct"
SHORT = [{"role": "user", "content": "Say hello in one word."}]
STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]
ANSWER = "Hello! How can I help you today? I am a tiny fixed upstream model for the gateway benchmark."


# the upstream: a tiny OpenAI-compatible server ------------------------------------------------------

def _upstream_replies() -> tuple[bytes, bytes, bytes]:
    completion = json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "fixed",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 24, "total_tokens": 36}}).encode()
    models = json.dumps({"object": "list", "data": [{"id": "fixed", "object": "model", "created": 0,
                                                     "owned_by": "bench"}]}).encode()

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        event: dict[str, Any] = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
                                 "model": "fixed", "choices": [], **extra}
        if delta is not None:
            event["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
        data = f"data: {json.dumps(event)}\n\n".encode()
        return b"%x\r\n%s\r\n" % (len(data), data)

    words = ANSWER.split(" ")
    pieces = [" ".join(words[i:i + 1]) + " " for i in range(16)]
    stream = b"".join([chunk({"role": "assistant", "content": ""}), *(chunk({"content": p}) for p in pieces),
                       chunk({}, "stop"), chunk(None, usage={"prompt_tokens": 12, "completion_tokens": 16,
                                                               "total_tokens": 28})])
    done = b"data: [DONE]\n\n"
    stream += b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done)
    return completion, models, stream


def serve_upstream(port: int) -> None:
    completion, models, stream = _upstream_replies()

    def response(status: str, body: bytes, ctype: str = "application/json") -> bytes:
        return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    json_reply = response("200 OK", completion)
    models_reply = response("200 OK", models)
    not_found = response("404 Not Found", b'{"error": {"message": "no such route"}}')
    stream_reply = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + stream)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if method == "GET" and path.endswith("/models"):
                    writer.write(models_reply)
                elif method == "POST" and path.endswith("/chat/completions"):
                    writer.write(stream_reply if json.loads(body).get("stream") else json_reply)
                else:
                    writer.write(not_found)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# processes ------------------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start within {timeout:.0f} s")


def start_gateway(tmp: Path, upstream_url: str) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    registry = {"models": [{"alias": UPSTREAM_ALIAS, "backend": "openai", "base_url": upstream_url, "model": "fixed",
                            "country": "FR", "total_params_b": 24, "max_retries": 0}]}
    (tmp / "models.json").write_text(json.dumps(registry), encoding="utf-8")
    env = {**os.environ, "SOUVERAIN_DATA_DIR": str(tmp / "data"), "SOUVERAIN_GATEWAY_MODELS_FILE": str(tmp / "models.json"),
           "SOUVERAIN_GRID_COUNTRY": "FR"}
    from souverain.service import Souverain
    from souverain.settings import Settings

    svc = Souverain(Settings(data_dir=tmp / "data", gateway_models_file=str(tmp / "models.json")))
    user = svc.identity.create_user("bench", role="member")
    key = svc.identity.create_api_key(user.id, ("models",)).key
    svc.close()
    port = free_port()
    log = tmp / "gateway.log"
    proc = subprocess.Popen([str(Path(sys.executable).with_name("souverain")), "serve", "--port", str(port)], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", proc, "souverain serve")
    return proc, url, key, log


# measurements ----------------------------------------------------------------------------------------

def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def chat_body(model: str, stream: bool = False, messages: list[dict[str, str]] = SHORT, max_tokens: int = 16) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}
    if stream:
        body["stream"] = True
    return body


def timed_json(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    r = client.post(url, json=body)
    wall = time.perf_counter() - t0
    r.raise_for_status()
    return wall, r.json()


def timed_stream(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[float, float, str, int | None]:
    """(time to the first non-empty content, total, the text, the usage chunk's completion tokens)."""
    t0 = time.perf_counter()
    ttft = None
    text = []
    completion = None
    with client.stream("POST", url, json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            for choice in event.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    text.append(content)
            if event.get("usage"):
                completion = int(event["usage"]["completion_tokens"])
    total = time.perf_counter() - t0
    assert ttft is not None, "no content in the stream"
    return ttft, total, "".join(text), completion


class Side:
    """One way of calling the model: straight to the upstream, or through the gateway."""

    def __init__(self, name: str, base: str, key: str, model: str, pid: int) -> None:
        self.name, self.url, self.model, self.pid = name, f"{base}/v1/chat/completions", model, pid
        self.headers = {"Authorization": f"Bearer {key}"}
        self.client = httpx.Client(headers=self.headers, timeout=120)


def bench_overhead(direct: Side, gateway: Side, n: int, n_stream: int, upstream_pid: int,
                   gw_pid: int) -> tuple[list[str], dict[str, float]]:
    for side in (direct, gateway):  # warm up: connections, the gateway's first-request work
        for _ in range(5):
            timed_json(side.client, side.url, chat_body(side.model))
            timed_stream(side.client, side.url, chat_body(side.model, True))
    lat: dict[str, list[float]] = {"direct": [], "gateway": []}
    ttft: dict[str, list[float]] = {"direct": [], "gateway": []}
    cpu: dict[str, dict[str, float]] = {k: {"client": 0.0, "upstream": 0.0, "gateway": 0.0} for k in ("json", "stream")}

    def run(kind: str, count: int, call: Callable[[Side], float]) -> None:
        for i in range(count):
            for side in ((direct, gateway) if i % 2 == 0 else (gateway, direct)):
                c0, u0, g0 = time.process_time(), cpu_s(upstream_pid), cpu_s(gw_pid)
                (lat if kind == "json" else ttft)[side.name].append(call(side))
                if side is gateway:
                    cpu[kind]["client"] += time.process_time() - c0
                    cpu[kind]["upstream"] += cpu_s(upstream_pid) - u0
                    cpu[kind]["gateway"] += cpu_s(gw_pid) - g0

    run("json", n, lambda s: timed_json(s.client, s.url, chat_body(s.model))[0])
    run("stream", n_stream, lambda s: timed_stream(s.client, s.url, chat_body(s.model, True))[0])
    ms = 1000.0
    rows = ["| measure | requests | direct p50 | direct p95 | gateway p50 | gateway p95 | overhead p50 | overhead p95 | "
            "gateway CPU per request | goal | result |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    out = {}
    for label, data, count, goal, kind in (("latency, non-streamed (ms)", lat, n, 5.0, "json"),
                                           ("time to first token, streamed (ms)", ttft, n_stream, 10.0, "stream")):
        d50, d95 = pct(data["direct"], 50) * ms, pct(data["direct"], 95) * ms
        g50, g95 = pct(data["gateway"], 50) * ms, pct(data["gateway"], 95) * ms
        over = g50 - d50
        out[kind] = over
        gw_cpu = cpu[kind]["gateway"] / count * ms
        rows.append(f"| {label} | {count} | {d50:.2f} | {d95:.2f} | {g50:.2f} | {g95:.2f} | **{over:.2f}** | "
                    f"{g95 - d95:.2f} | {gw_cpu:.2f} ms | < {goal:g} ms | {'PASS' if over < goal else 'FAIL'} |")
    rows += ["", "Direct = straight to the upstream server; gateway = the same request through Souverain's /v1 "
             "(authentication, registry, admission and settlement in the SQLite ledger, energy estimate, the "
             "upstream call). Gateway CPU per request: the Souverain process's user+system CPU time / requests "
             f"(clock tick {1000 / os.sysconf('SC_CLK_TCK'):.0f} ms, so an average over all requests)."]
    return rows, out


async def _load(base_url: str, headers: dict[str, str], model: str, total: int, concurrency: int) -> tuple[float, list[float]]:
    lats: list[float] = []
    remaining = [total]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits) as client:
        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                t0 = time.perf_counter()
                r = await client.post(base_url, json=chat_body(model))
                r.raise_for_status()
                lats.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm: open every connection
        remaining[0] = total
        lats.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, lats


def bench_throughput(direct: Side, gateway: Side, total: int, concurrency: int, upstream_pid: int,
                     gw_pid: int) -> tuple[list[str], float]:
    rows = ["| target | clients | requests | wall s | requests/s | p50 ms | p95 ms | client CPU s | upstream CPU s | "
            "gateway CPU s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rps = {}
    for side in (direct, gateway):
        c0, u0, g0 = time.process_time(), cpu_s(upstream_pid), cpu_s(gw_pid)
        wall, lats = asyncio.run(_load(side.url, side.headers, side.model, total, concurrency))
        c, u, g = time.process_time() - c0, cpu_s(upstream_pid) - u0, cpu_s(gw_pid) - g0
        rps[side.name] = total / wall
        rows.append(f"| {side.name} | {concurrency} | {total} | {wall:.2f} | {rps[side.name]:.0f} | {pct(lats, 50) * 1000:.1f} | "
                    f"{pct(lats, 95) * 1000:.1f} | {c:.2f} | {u:.2f} | {g:.2f} |")
    ratio = rps["gateway"] / rps["direct"]
    rows += ["", f"Gateway / direct throughput: **{ratio:.2f}x**. Client, upstream and gateway share {os.cpu_count()} "
             "cores; the CPU columns cover the timed round (each side first opens its connections in an untimed round)."]
    return rows, ratio


def bench_generation(gateway: Side, gw_pid: int, tokens: int, reps: int) -> tuple[list[str], dict[str, float]]:
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from souverain.gateway.models import ModelRegistry
    from souverain.llm.registry import MODEL_CARDS, bundled_model_path
    from souverain.settings import Settings

    entry = ModelRegistry.from_settings(Settings(data_dir=Path(tempfile.gettempdir()))).get(SMOL)
    assert entry is not None
    card = MODEL_CARDS[entry.model]
    llama = llama_cpp.Llama(model_path=str(bundled_model_path(card.name)), n_ctx=min(entry.context_length, card.context_window),
                            verbose=False)
    if card.chat_template:
        llama.chat_handler = Jinja2ChatFormatter(
            template=card.chat_template, eos_token=llama._model.token_get_text(llama.token_eos()),
            bos_token=llama._model.token_get_text(llama.token_bos()), stop_token_ids=[llama.token_eos()]).to_chat_handler()

    def direct() -> tuple[float, float, int, str]:
        c0, t0 = time.process_time(), time.perf_counter()
        r: Any = llama.create_chat_completion(messages=STORY, max_tokens=tokens, temperature=0.0, top_p=1.0)
        wall = time.perf_counter() - t0
        return wall, time.process_time() - c0, int(r["usage"]["completion_tokens"]), r["choices"][0]["message"]["content"]

    def direct_stream() -> tuple[float, float, int, str]:
        c0, t0 = time.process_time(), time.perf_counter()
        parts = [chunk["choices"][0]["delta"].get("content") or "" for chunk in llama.create_chat_completion(
            messages=STORY, max_tokens=tokens, temperature=0.0, top_p=1.0, stream=True)]
        wall = time.perf_counter() - t0
        text = "".join(parts)
        return wall, time.process_time() - c0, len(llama.tokenize(text.encode(), add_bos=False, special=True)), text

    def via_json() -> tuple[float, float, int, str]:
        g0 = cpu_s(gw_pid)
        wall, r = timed_json(gateway.client, gateway.url, chat_body(SMOL, messages=STORY, max_tokens=tokens))
        return wall, cpu_s(gw_pid) - g0, int(r["usage"]["completion_tokens"]), r["choices"][0]["message"]["content"]

    def via_stream() -> tuple[float, float, int, str]:
        g0 = cpu_s(gw_pid)
        body = {**chat_body(SMOL, True, STORY, tokens), "stream_options": {"include_usage": True}}
        _, total, text, completion = timed_stream(gateway.client, gateway.url, body)
        assert completion is not None, "no usage chunk"
        return total, cpu_s(gw_pid) - g0, completion, text

    calls = {"llama.cpp direct, non-streamed": direct, "gateway, non-streamed": via_json,
             "llama.cpp direct, streamed": direct_stream, "gateway, streamed": via_stream}
    baseline = {"gateway, non-streamed": "llama.cpp direct, non-streamed", "gateway, streamed": "llama.cpp direct, streamed"}
    runs: dict[str, list[tuple[float, float, int, str]]] = {name: [] for name in calls}
    for call in calls.values():  # warm-up: loads the gateway's model
        call()
    for i in range(reps):
        for name in (list(calls) if i % 2 == 0 else list(reversed(calls))):
            runs[name].append(calls[name]())
    tps = {name: statistics.median(r[2] / r[0] for r in rs) for name, rs in runs.items()}
    tpc = {name: statistics.median(r[2] / r[1] for r in rs if r[1] > 0) if any(r[1] > 0 for r in rs) else 0.0
           for name, rs in runs.items()}
    rows = ["| target | reps | completion tokens | wall s (median) | tokens/s (median) | CPU s (median) | "
            "tokens per CPU-second | vs llama.cpp direct, paired (wall / CPU) | goal | result |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    out = {}
    for name, rs in runs.items():
        base = baseline.get(name, name)
        # the median of per-repetition ratios: each pair ran back to back, so drift in the load cancels out
        ratio = statistics.median((r[2] / r[0]) / (d[2] / d[0]) for r, d in zip(rs, runs[base], strict=True))
        cpu_ratio = statistics.median((r[2] / r[1]) / (d[2] / d[1]) for r, d in zip(rs, runs[base], strict=True)
                                      if r[1] > 0 and d[1] > 0) if any(r[1] > 0 for r in rs) else 0.0
        result = ("PASS" if ratio >= 0.95 else "FAIL") if name in baseline else ""
        if name in baseline:
            out[name] = ratio
        rows.append(f"| {name} | {len(rs)} | {rs[0][2]} | {statistics.median(r[0] for r in rs):.2f} | {tps[name]:.1f} | "
                    f"{statistics.median(r[1] for r in rs):.2f} | {tpc[name]:.1f} | {ratio:.3f}x / {cpu_ratio:.3f}x | "
                    f"{'>= 0.95x (wall)' if name in baseline else ''} | {result} |")
    same = len({r[3] for rs in runs.values() for r in rs}) == 1
    rows += ["", f"Prompt: {STORY[0]['content']!r}, temperature 0, max_tokens {tokens}; the same text every time: "
             f"{'yes' if same else 'NO (see the log)'}. Direct: ``llama_cpp.Llama`` in the client process (its CPU); gateway "
             "rows: the Souverain process's CPU. Streamed: tokens over the time to the last event (gateway: the usage "
             "chunk's count; direct: the text re-tokenized)."]
    if not same:
        print("texts differ:", {name: [r[3][:60] for r in rs] for name, rs in runs.items()})
    return rows, out


# main ----------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300, help="(a) non-streamed requests per side")
    ap.add_argument("--stream-requests", type=int, default=150, help="(a) streamed requests per side")
    ap.add_argument("--concurrency", type=int, default=20, help="(b) concurrent clients")
    ap.add_argument("--load-requests", type=int, default=1000, help="(b) requests per side")
    ap.add_argument("--gen-tokens", type=int, default=64, help="(c) tokens to generate")
    ap.add_argument("--gen-reps", type=int, default=7, help="(c) repetitions per target")
    ap.add_argument("--parts", default="abc", help="which measurements: any of a, b, c")
    ap.add_argument("--keep-log", action="store_true", help="print the gateway's log at the end")
    ap.add_argument("--out", type=Path, default=RESULTS / "gateway.md")
    ap.add_argument("--serve-upstream", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return

    started = time.perf_counter()
    argv = " ".join(sys.argv[1:])
    out: list[str] = [
        "# Model gateway benchmark", "",
        f"`python bench/gateway.py {argv}`".replace(" `", "`"),
        f"({dt.datetime.now().isoformat(timespec='minutes')}, {os.cpu_count()} CPUs, load average "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} at start; the machine is shared, so wall times move "
        "with its load)", "",
    ]

    def section(title: str, rows: list[str]) -> None:
        block = [f"## {title}", "", *rows, ""]
        print("\n".join(block), flush=True)
        out.extend(block)

    up_port = free_port()
    upstream = subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(up_port)])
    procs: list[subprocess.Popen[bytes]] = [upstream]
    try:
        with tempfile.TemporaryDirectory(prefix="souverain-bench-gw-") as tmp:
            up_url = f"http://127.0.0.1:{up_port}"
            wait_http(up_url + "/v1/models", upstream, "the upstream server")
            gw_proc, gw_url, key, log = start_gateway(Path(tmp), up_url + "/v1")
            procs.append(gw_proc)
            direct = Side("direct", up_url, "upstream-key", "fixed", upstream.pid)
            gateway = Side("gateway", gw_url, key, UPSTREAM_ALIAS, gw_proc.pid)
            over: dict[str, float] = {}
            ratio: float | None = None
            gen: dict[str, float] = {}
            if "a" in args.parts:
                rows, over = bench_overhead(direct, gateway, args.requests, args.stream_requests, upstream.pid, gw_proc.pid)
                section("a. Gateway overhead, one request at a time (goals: < 5 ms p50, streamed TTFT < 10 ms)", rows)
            if "b" in args.parts:
                rows, ratio = bench_throughput(direct, gateway, args.load_requests, args.concurrency, upstream.pid,
                                               gw_proc.pid)
                section(f"b. Throughput, {args.concurrency} concurrent clients", rows)
            if "c" in args.parts:
                smol = Side("gateway", gw_url, key, SMOL, gw_proc.pid)
                rows, gen = bench_generation(smol, gw_proc.pid, args.gen_tokens, args.gen_reps)
                section(f"c. Generation speed, bundled SmolLM2 135M, {args.gen_tokens} tokens "
                        "(goal: gateway >= 0.95x llama.cpp direct)", rows)
            goals = []
            if over:
                goals += [("non-streamed overhead p50 < 5 ms", over["json"] < 5, f"{over['json']:.2f} ms"),
                          ("streamed TTFT overhead p50 < 10 ms", over["stream"] < 10, f"{over['stream']:.2f} ms")]
            goals += [(f"{name} >= 0.95x llama.cpp direct tokens/s", r >= 0.95, f"{r:.3f}x") for name, r in gen.items()]
            note = ([] if ratio is None else
                    ["", f"(b) gateway / direct throughput with {args.concurrency} clients: {ratio:.2f}x (no goal set)."])
            section("Goals", ["| goal | measured | result |", "|---|---:|---|",
                              *(f"| {g} | {m} | {'PASS' if ok else 'FAIL'} |" for g, ok, m in goals), *note])
            if args.keep_log:
                print(log.read_text()[-5000:])
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    out.append(f"Total bench time {time.perf_counter() - started:.0f} s.")
    print(out[-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
