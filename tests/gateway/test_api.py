"""The /v1 API on a real uvicorn, through the official ``openai`` client, with a real ``sv_`` key.

Models: the bundled SmolLM2 135M (in-process, really generating), the bundled multilingual-e5-small,
and upstream entries served by the OpenAI-compatible test server of conftest.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from souverain.gateway.accounting import clean_limits
from souverain.service import Souverain
from souverain.settings import Settings
from souverain.web.app import create_app

from . import fake_pynvml
from .conftest import UPSTREAM_KEY, Upstream, free_port, serve

SMOL = "smollm2-135m-instruct"
COLOURS = [{"role": "user", "content": "Name three colours."}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


@dataclass
class Gw:
    url: str
    svc: Souverain
    key: str
    admin_key: str
    read_key: str
    upstream: Upstream

    def client(self, key: str | None = None) -> OpenAI:
        return OpenAI(base_url=f"{self.url}/v1", api_key=key or self.key, max_retries=0, timeout=60)

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}/api/v1/admin{path}", timeout=30,
                             headers={"Authorization": f"Bearer {self.admin_key}"}, **kw)

    def records(self) -> list[dict[str, Any]]:
        return self.svc.gateway_accounting.records()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Gw]:
    tmp = tmp_path_factory.mktemp("gateway")
    mp = pytest.MonkeyPatch()
    mp.setenv("SV_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    common = {"backend": "openai", "base_url": upstream.url, "api_key": "env:SV_TEST_UPSTREAM_KEY", "country": "FR",
              "region": "Paris", "total_params_b": 24, "licence": "Apache-2.0", "intended_use": "tests",
              "limitations": "a test server"}
    registry = {"models": [
        {"alias": "think-up", "model": "think-model", **common},
        {"alias": "reasoner-up", "model": "reasoner-model", **common, "country": "DE"},
        {"alias": "tools-up", "model": "tool-model", **common},
        {"alias": "flaky-up", "model": "flaky-model", **common},
        {"alias": "busy-up", "model": "busy-model", **common},
        {**common, "alias": "dead-primary", "model": "x", "base_url": f"http://127.0.0.1:{free_port()}/v1",
         "fallbacks": ["think-up"]},
        {"alias": "cut-up", "model": "cut-model", "fallbacks": ["think-up"], **common},
        {"alias": "embed-up", "model": "embed-model", **common, "embeddings": True},
    ]}
    (tmp / "models.json").write_text(json.dumps(registry), encoding="utf-8")
    settings = Settings(data_dir=tmp / "data", gateway_models_file=str(tmp / "models.json"), grid_country="FR")
    app = create_app(settings)
    svc: Souverain = app.state.souverain
    ident = svc.identity
    admin = ident.create_user("admin", role="admin", password="correct horse battery staple")
    alice = ident.create_user("alice", role="member")
    keys = (ident.create_api_key(alice.id, ("models",)).key, ident.create_api_key(admin.id, ("admin",)).key,
            ident.create_api_key(alice.id, ("read", "ask")).key)
    with serve(app) as url:
        yield Gw(url, svc, *keys, upstream)
    mp.undo()


# models, auth, errors ----------------------------------------------------------------------------------

def test_list_models(gw: Gw) -> None:
    models = {m.id: m for m in gw.client().models.list()}
    assert {SMOL, "multilingual-e5-small", "think-up", "embed-up"} <= set(models)
    smol = models[SMOL]
    assert smol.object == "model" and smol.owned_by == "HuggingFaceTB" and smol.created > 0
    card = smol.souverain  # type: ignore[attr-defined]
    assert card["backend"] == "in-process" and card["licence"] == "Apache-2.0" and card["status"] == "active"
    assert card["limitations"] and card["intended_use"] and card["total_params_b"] == 0.135
    up = models["think-up"].souverain  # type: ignore[attr-defined]
    assert up["country"] == "FR" and up["region"] == "Paris" and "base_url" not in up and "api_key" not in up
    assert gw.client().models.retrieve("reasoner-up").souverain["country"] == "DE"  # type: ignore[attr-defined]


def test_bad_key_is_a_401_in_openai_shape(gw: Gw) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        gw.client("sv_not_a_key").models.list()
    assert info.value.status_code == 401 and info.value.code == "invalid_api_key"
    r = httpx.get(f"{gw.url}/v1/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = httpx.get(f"{gw.url}/v1/models?api_key={gw.key}")
    assert r.status_code == 400 and "never accepted in a URL" in r.json()["error"]["message"]


def test_missing_scope_is_a_403(gw: Gw) -> None:
    for key in (gw.read_key, gw.admin_key):
        with pytest.raises(openai.PermissionDeniedError) as info:
            gw.client(key).chat.completions.create(model=SMOL, messages=COLOURS, max_tokens=2)
        assert info.value.code == "insufficient_scope" and "'models' scope" in info.value.message


def test_unknown_model_is_a_404(gw: Gw) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        gw.client().chat.completions.create(model="gpt-9", messages=COLOURS)
    assert info.value.code == "model_not_found" and info.value.param == "model"


def test_invalid_requests_are_400s(gw: Gw) -> None:
    c = gw.client()
    with pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model=SMOL, messages=[], max_tokens=2)
    assert info.value.param == "messages" and info.value.type == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model=SMOL, messages=COLOURS, tools=TOOLS)  # type: ignore[arg-type]
    assert info.value.code == "tools_not_supported"
    with pytest.raises(openai.BadRequestError, match="/v1/embeddings"):
        c.chat.completions.create(model="multilingual-e5-small", messages=COLOURS)
    r = httpx.get(f"{gw.url}/v1/nothing-here", headers={"Authorization": f"Bearer {gw.key}"})
    assert r.status_code == 404 and "error" in r.json()


def _wait_record(gw: Gw, model: str, status: str | None = None, after: int = 0) -> dict[str, Any]:
    """The last usage record of ``model`` (a stream is settled by the server just after the client stops reading)."""
    deadline = time.time() + 30
    while True:
        recs = [r for r in gw.records()[after:] if r["model"] == model and status in (None, r["status"])]
        if recs or time.time() > deadline:
            assert recs, f"no usage record for {model}"
            return recs[-1]
        time.sleep(0.05)


# the bundled SmolLM2, really generating ------------------------------------------------------------------

def test_chat_stream_equals_non_stream_with_usage(gw: Gw) -> None:
    c = gw.client()
    raw = c.chat.completions.with_raw_response.create(model=SMOL, messages=COLOURS, max_tokens=12, temperature=0,
                                                      seed=7)
    full = raw.parse()
    text = full.choices[0].message.content
    assert text and full.model == SMOL and full.object == "chat.completion"
    assert full.usage is not None and full.usage.completion_tokens == 12 and full.usage.prompt_tokens > 5
    assert full.choices[0].finish_reason == "length"
    energy = full.usage.energy  # type: ignore[attr-defined]
    assert energy["kwh"] > 0 and energy["gco2e"] > 0 and energy["grid_factor_g_per_kwh"] == 44.18
    assert float(raw.headers["X-Souverain-Energy-Wh"]) == pytest.approx(energy["wh"], rel=1e-5)
    assert float(raw.headers["X-Souverain-CO2e-g"]) == pytest.approx(energy["gco2e"], rel=1e-5)

    chunks = list(c.chat.completions.create(model=SMOL, messages=COLOURS, max_tokens=12, temperature=0, seed=7,
                                            stream=True, stream_options={"include_usage": True}))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "length"
    usage = chunks[-1].usage
    assert not chunks[-1].choices and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (full.usage.prompt_tokens, 12)
    assert usage.energy["kwh"] > 0  # type: ignore[attr-defined]

    recs = [r for r in gw.records() if r["model"] == SMOL and r["endpoint"] == "/v1/chat/completions"][-2:]
    assert [r["status"] for r in recs] == ["ok", "ok"] and all(r["usage_exact"] for r in recs)
    assert recs[0]["reserved_tokens"] == full.usage.prompt_tokens + 12  # the exact count was admitted
    assert recs[0]["ttft_ms"] is None and recs[1]["ttft_ms"] is not None and recs[1]["gco2e"] > 0


def test_in_process_answers_carry_the_gpu_energy_measured_through_nvml(gw: Gw, monkeypatch: pytest.MonkeyPatch) -> None:
    """pynvml is the test double of fake_pynvml.py (no GPU here); the model, the API and the ledger are real."""
    gpus = fake_pynvml.FakePynvmlModule()
    fake_pynvml.install(monkeypatch, gpus)
    c = gw.client()
    full = c.chat.completions.create(model=SMOL, messages=COLOURS, max_tokens=2, temperature=0)
    assert full.usage is not None
    assert full.usage.energy["measured_kwh"] == pytest.approx(gpus.kwh_per_request)  # type: ignore[attr-defined]
    chunks = list(c.chat.completions.create(model=SMOL, messages=COLOURS, max_tokens=2, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert usage is not None and usage.energy["measured_kwh"] == pytest.approx(gpus.kwh_per_request)  # type: ignore[attr-defined]
    recs = [r for r in gw.records() if r["model"] == SMOL][-2:]
    assert [r["measured_kwh"] for r in recs] == [pytest.approx(gpus.kwh_per_request)] * 2
    up = c.chat.completions.create(model="think-up", messages=COLOURS, max_tokens=5)
    assert up.usage is not None and up.usage.energy["measured_kwh"] is None  # type: ignore[attr-defined]
    assert gw.records()[-1]["measured_kwh"] is None

def test_stop_sequences(gw: Gw) -> None:
    c = gw.client()
    free = c.chat.completions.create(model=SMOL, messages=COLOURS, max_tokens=12, temperature=0, seed=7)
    text = free.choices[0].message.content or ""
    word = next(w.strip(".,:!") for w in text.split()[1:] if len(w.strip(".,:!")) > 2)
    stopped = c.chat.completions.create(model=SMOL, messages=COLOURS, max_tokens=12, temperature=0, seed=7, stop=[word])
    out = stopped.choices[0].message.content or ""
    assert word not in out and text.startswith(out) and stopped.choices[0].finish_reason == "stop"


def test_json_mode_returns_json(gw: Gw) -> None:
    c = gw.client()
    messages = [{"role": "system", "content": "You reply only with JSON."},
                {"role": "user", "content": 'What colour is the sky? Answer as {"colour": ...}'}]
    r = c.chat.completions.create(model=SMOL, messages=messages, max_tokens=40, temperature=0,  # type: ignore[arg-type]
                                  response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)
    schema = {"type": "object", "properties": {"colour": {"type": "string", "enum": ["blue", "red", "green"]}},
              "required": ["colour"]}
    r = c.chat.completions.create(model=SMOL, messages=messages, max_tokens=40, temperature=0,  # type: ignore[arg-type]
                                  response_format={"type": "json_schema",
                                                   "json_schema": {"name": "sky", "schema": schema}})
    assert json.loads(r.choices[0].message.content or "")["colour"] in ("blue", "red", "green")


def test_a_client_that_goes_away_is_settled_as_cancelled_and_frees_the_model(gw: Gw) -> None:
    c = gw.client()
    before = len(gw.records())
    with c.chat.completions.create(model=SMOL, messages=COLOURS, max_tokens=400, temperature=0, stream=True) as s:
        next(iter(s))
        next(iter(s))
    rec = _wait_record(gw, SMOL, "cancelled", before)
    assert rec["completion_tokens"] < 400
    assert gw.svc.gateway_accounting.open_reservations() == []
    r = c.chat.completions.create(model=SMOL, messages=COLOURS, max_tokens=3, temperature=0)  # the lock was released
    assert r.usage is not None and r.usage.completion_tokens == 3


# upstream servers ----------------------------------------------------------------------------------------

def test_think_blocks_are_split_out(gw: Gw) -> None:
    c = gw.client()
    r = c.chat.completions.create(model="think-up", messages=COLOURS)
    msg = r.choices[0].message
    assert msg.content == "The answer is 4." and msg.reasoning_content == "The user asks 2+2. That is 4."  # type: ignore[attr-defined]
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (11, 7)
    chunks = list(c.chat.completions.create(model="think-up", messages=COLOURS, stream=True))
    content = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    reasoning = "".join(getattr(ch.choices[0].delta, "reasoning_content", None) or "" for ch in chunks if ch.choices)
    assert (content, reasoning) == ("The answer is 4.", "The user asks 2+2. That is 4.")
    assert all("<think>" not in (ch.choices[0].delta.content or "") for ch in chunks if ch.choices)


def test_upstream_reasoning_content_passes_through(gw: Gw) -> None:
    c = gw.client()
    msg = c.chat.completions.create(model="reasoner-up", messages=COLOURS).choices[0].message
    assert (msg.content, msg.reasoning_content) == ("Four.", "2 + 2 = 4")  # type: ignore[attr-defined]
    chunks = list(c.chat.completions.create(model="reasoner-up", messages=COLOURS, stream=True))
    assert "".join(getattr(ch.choices[0].delta, "reasoning_content", None) or "" for ch in chunks) == "2 + 2 = 4"


def test_tools_pass_through_untouched(gw: Gw) -> None:
    c = gw.client()
    r = c.chat.completions.create(model="tools-up", messages=COLOURS, tools=TOOLS, tool_choice="auto",  # type: ignore[arg-type]
                                  parallel_tool_calls=False)
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    sent = gw.upstream.bodies("tool-model")[-1]
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "auto" and sent["parallel_tool_calls"] is False
    assert sent["model"] == "tool-model"
    chunks = list(c.chat.completions.create(model="tools-up", messages=COLOURS, tools=TOOLS, stream=True))  # type: ignore[arg-type]
    args = "".join(ch.choices[0].delta.tool_calls[0].function.arguments or ""  # type: ignore[index,union-attr]
                   for ch in chunks if ch.choices and ch.choices[0].delta.tool_calls)
    assert json.loads(args) == {"city": "Paris"}
    followup = [*COLOURS, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    assert c.chat.completions.create(model="tools-up", messages=followup).choices[0].message.content == "ok"  # type: ignore[arg-type]


def test_transient_upstream_errors_are_retried(gw: Gw) -> None:
    c = gw.client()
    for _ in range(2):  # whichever parity the server is at, one 503 is retried
        assert c.chat.completions.create(model="flaky-up", messages=COLOURS).choices[0].message.content == "recovered"


def test_dead_primary_uses_its_fallback(gw: Gw) -> None:
    r = gw.client().chat.completions.with_raw_response.create(model="dead-primary", messages=COLOURS)
    assert r.headers["X-Souverain-Model"] == "think-up" and r.parse().model == "think-up"
    assert r.parse().choices[0].message.content == "The answer is 4."


def test_unavailable_model_is_a_503_and_settled_as_error(gw: Gw) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        gw.client().chat.completions.create(model="busy-up", messages=COLOURS, max_tokens=5)
    assert info.value.status_code == 503 and info.value.code == "model_unavailable"
    rec = [r for r in gw.records() if r["model"] == "busy-up"][-1]
    assert rec["status"] == "error" and gw.svc.gateway_accounting.open_reservations() == []


def test_failure_mid_stream_ends_with_an_error_event_without_switching(gw: Gw) -> None:
    with pytest.raises(openai.APIError, match="failed while streaming"):
        for _ in gw.client().chat.completions.create(model="cut-up", messages=COLOURS, stream=True):
            pass
    assert _wait_record(gw, "cut-up")["status"] == "error"


# suspension, limits ----------------------------------------------------------------------------------------

def test_suspension_then_resume(gw: Gw) -> None:
    c = gw.client()
    r = gw.admin("POST", "/models/think-up/suspend", json={"reason": "cites sources that do not exist"})
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert gw.admin("POST", "/models/think-up/suspend", json={}).status_code == 409
    with pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model="think-up", messages=COLOURS)
    assert info.value.status_code == 503 and info.value.code == "model_suspended"
    assert "cites sources that do not exist" in info.value.message
    with pytest.raises(openai.InternalServerError):  # the dead primary's only fallback is suspended
        c.chat.completions.create(model="dead-primary", messages=COLOURS)
    listed = {m["alias"]: m for m in gw.admin("GET", "/models").json()["models"]}
    assert listed["think-up"]["status"] == "suspended" and listed["think-up"]["suspension"]["suspended_by"] == "admin"
    assert listed["dead-primary"]["health"] == "down" and listed[SMOL]["health"] == "in-process"
    assert c.models.retrieve("think-up").souverain["status"] == "suspended"  # type: ignore[attr-defined]
    r = gw.admin("POST", "/models/think-up/resume")
    assert r.status_code == 200 and r.json()["suspension"]["resumed_by"] == "admin"
    assert c.chat.completions.create(model="think-up", messages=COLOURS).choices[0].message.content == "The answer is 4."
    assert gw.admin("POST", "/models/nope/suspend", json={}).status_code == 404
    history = gw.admin("GET", "/models").json()["history"]
    assert history[0]["alias"] == "think-up" and history[0]["resumed_at"] is not None
    member = httpx.get(f"{gw.url}/api/v1/admin/models", headers={"Authorization": f"Bearer {gw.key}"})
    assert member.status_code == 403


def test_a_key_limit_is_a_429_with_retry_after(gw: Gw) -> None:
    ident = gw.svc.identity
    user = ident.find_user("alice")
    assert user is not None
    new = ident.create_api_key(user.id, ("models",))
    gw.svc.gateway_accounting.set_key_limits(new.record.id, clean_limits(rpm=1))
    c = gw.client(new.key)
    c.chat.completions.create(model="think-up", messages=COLOURS)
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="think-up", messages=COLOURS)
    assert info.value.code == "rate_limit_exceeded" and int(info.value.response.headers["Retry-After"]) >= 1
    gw.svc.gateway_accounting.set_key_limits(new.record.id, clean_limits(models=["reasoner-up"]))
    with pytest.raises(openai.PermissionDeniedError) as denied:
        gw.client(new.key).chat.completions.create(model="flaky-up", messages=COLOURS)
    assert denied.value.code == "model_not_allowed"


# embeddings --------------------------------------------------------------------------------------------------

def test_embeddings_in_process(gw: Gw) -> None:
    r = gw.client().embeddings.create(model="multilingual-e5-small", input=["the sky is blue", "le ciel est bleu"])
    assert [d.index for d in r.data] == [0, 1] and len(r.data[0].embedding) == 384
    a, b = r.data[0].embedding, r.data[1].embedding
    assert sum(x * y for x, y in zip(a, b, strict=True)) > 0.8  # a translation lands nearby
    assert r.usage.prompt_tokens > 4 and r.model == "multilingual-e5-small"
    one = gw.client().embeddings.create(model="multilingual-e5-small", input="the sky is blue")  # base64 by default
    assert one.data[0].embedding == pytest.approx(a, abs=1e-6)
    with pytest.raises(openai.BadRequestError):
        gw.client().embeddings.create(model=SMOL, input="x")


def test_embeddings_upstream(gw: Gw) -> None:
    r = gw.client().embeddings.create(model="embed-up", input=["a b", "abc"], encoding_format="float")
    assert [d.embedding for d in r.data] == [[3.0, 1.0, 0.0], [3.0, 1.0, 0.0]] and r.usage.prompt_tokens == 3
    sent = gw.upstream.bodies("embed-model")[-1]
    assert sent["input"] == ["a b", "abc"] and sent["encoding_format"] == "float"
    rec = [x for x in gw.records() if x["model"] == "embed-up"][-1]
    assert rec["kind"] == "embeddings" and rec["prompt_tokens"] == 3 and rec["status"] == "ok"
