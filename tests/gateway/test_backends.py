"""Backends against a real OpenAI-compatible server: retries, Retry-After, health, fallbacks, no switch
mid-stream; and the metering of the assistant's own model calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from souverain.gateway.backends import (
    AssistantModelRefused,
    BackendFailure,
    ChatParams,
    MeteredLLM,
    UpstreamBackend,
    current_scope,
    current_user_id,
)
from souverain.gateway.errors import GatewayError
from souverain.gateway.models import ModelEntry
from souverain.llm.base import ChatMessage, GenerationParams
from souverain.llm.fake import FakeLLM
from souverain.service import Souverain
from souverain.settings import Settings

from .conftest import UPSTREAM_KEY, Upstream, free_port

HELLO = [{"role": "user", "content": "2+2?"}]


def _entry(upstream: Upstream, alias: str, model: str, **kw: Any) -> ModelEntry:
    return ModelEntry(alias=alias, backend="openai", model=model, base_url=kw.pop("base_url", upstream.url),
                      country="FR", **kw)


def _backend(upstream: Upstream, model: str, sleeps: list[float] | None = None, **kw: Any) -> UpstreamBackend:
    record = sleeps if sleeps is not None else []
    return UpstreamBackend(_entry(upstream, model, model, **kw), UPSTREAM_KEY, max_wait_s=5, sleep=record.append)


def test_transient_503_is_retried_after_retry_after(upstream: Upstream) -> None:
    sleeps: list[float] = []
    b = _backend(upstream, "flaky-model", sleeps)
    before = len(upstream.bodies("flaky-model"))
    result = b.complete(ChatParams(messages=HELLO, max_tokens=5))
    assert result.content == "recovered" and result.usage_exact and (result.prompt_tokens, result.completion_tokens) == (11, 7)
    assert len(upstream.bodies("flaky-model")) - before in (1, 2)  # the first of a pair is the 503
    assert sleeps in ([], [0.0])
    b.close()


def test_a_long_retry_after_gives_up_at_once(upstream: Upstream) -> None:
    sleeps: list[float] = []
    b = _backend(upstream, "busy-model", sleeps)
    before = len(upstream.bodies("busy-model"))
    with pytest.raises(BackendFailure, match="retry after 120 s"):
        b.complete(ChatParams(messages=HELLO, max_tokens=5))
    assert sleeps == [] and len(upstream.bodies("busy-model")) == before + 1
    b.close()


def test_a_client_error_is_a_400_and_not_retried(upstream: Upstream) -> None:
    b = _backend(upstream, "bad-request-model")
    before = len(upstream.bodies("bad-request-model"))
    with pytest.raises(GatewayError) as info:
        b.complete(ChatParams(messages=HELLO, max_tokens=5))
    assert info.value.status == 400 and "not a valid JSON schema" in info.value.message
    assert len(upstream.bodies("bad-request-model")) == before + 1
    b.close()


def test_5xx_fails_after_the_retries(upstream: Upstream) -> None:
    b = _backend(upstream, "broken-model", max_retries=0)
    with pytest.raises(BackendFailure, match="HTTP 500.*illegal memory access"):
        b.complete(ChatParams(messages=HELLO, max_tokens=5))
    b.close()


def test_the_body_is_forwarded_untouched(upstream: Upstream) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}}}}]
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    b = _backend(upstream, "tool-model")
    params = ChatParams(messages=HELLO, max_tokens=9, max_tokens_key="max_completion_tokens", stop=["END"], seed=3,
                        tools=tools, tool_choice="auto", response_format=rf, extra={"frequency_penalty": 0.5})
    result = b.complete(params)
    assert result.tool_calls and result.tool_calls[0]["function"]["name"] == "weather"
    assert result.finish_reason == "tool_calls" and result.content is None
    sent = upstream.bodies("tool-model")[-1]
    assert sent["tools"] == tools and sent["tool_choice"] == "auto" and sent["response_format"] == rf
    assert sent["max_completion_tokens"] == 9 and "max_tokens" not in sent and sent["stop"] == ["END"]
    assert sent["frequency_penalty"] == 0.5 and sent["seed"] == 3 and sent["messages"] == HELLO
    b.close()


def test_health_checks_are_cached(upstream: Upstream) -> None:
    dead = UpstreamBackend(ModelEntry(alias="dead", backend="openai", model="m", country="FR",
                                      base_url=f"http://127.0.0.1:{free_port()}/v1"), None, health_ttl_s=60)
    assert dead.healthy() is False and dead.healthy() is False
    alive = _backend(upstream, "think-model")
    assert alive.healthy() is True
    wrong_key = UpstreamBackend(_entry(upstream, "k", "think-model"), "not-the-key")
    assert wrong_key.healthy() is False  # a 401 is a misconfigured backend, not a working one
    for b in (dead, alive, wrong_key):
        b.close()


def test_stream_usage_and_reasoning_pass_through(upstream: Upstream) -> None:
    b = _backend(upstream, "reasoner-model")
    stream = b.stream(ChatParams(messages=HELLO, max_tokens=5))
    deltas = list(stream)
    assert "".join(d.reasoning for d in deltas) == "2 + 2 = 4" and "".join(d.content for d in deltas) == "Four."
    assert stream.usage == (11, 7, True) and stream.finish_reason == "stop"
    b.close()


# fallbacks, through the service's gateway -------------------------------------------------------------

@pytest.fixture
def gateway_svc(tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> Iterator[Souverain]:
    monkeypatch.setenv("SV_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    common = {"backend": "openai", "base_url": upstream.url, "api_key": "env:SV_TEST_UPSTREAM_KEY", "country": "FR"}
    models = [
        {"alias": "think-up", "model": "think-model", **common},
        {"alias": "reasoner-up", "model": "reasoner-model", **common},
        {**common, "alias": "dead-primary", "model": "x", "base_url": f"http://127.0.0.1:{free_port()}/v1",
         "fallbacks": ["think-up"]},
        {"alias": "broken-primary", "model": "broken-model", "max_retries": 0, "fallbacks": ["reasoner-up"], **common},
        {"alias": "cut-up", "model": "cut-model", "fallbacks": ["think-up"], **common},
        {"alias": "tools-first", "model": "tool-model", "fallbacks": ["smollm2-135m-instruct", "think-up"], **common},
    ]
    (tmp_path / "models.json").write_text(json.dumps({"models": models}), encoding="utf-8")
    svc = Souverain(Settings(data_dir=tmp_path / "data", gateway_models_file=str(tmp_path / "models.json")))
    yield svc
    svc.close()


def test_a_dead_primary_is_skipped_for_its_fallback(gateway_svc: Souverain) -> None:
    served, result = gateway_svc.gateway.pool.complete("dead-primary", ChatParams(messages=HELLO, max_tokens=5))
    assert served.alias == "think-up" and result.content is not None and "The answer is 4." in result.content


def test_a_failing_primary_falls_back_before_the_first_token(gateway_svc: Souverain) -> None:
    gw = gateway_svc.gateway
    served, _ = gw.pool.complete("broken-primary", ChatParams(messages=HELLO, max_tokens=5))
    assert served.alias == "reasoner-up"
    opened = gw.pool.open_stream("broken-primary", ChatParams(messages=HELLO, max_tokens=5), 0.0)
    assert opened.entry.alias == "reasoner-up"
    opened.stream.close()


def test_a_stream_never_switches_model_midway(gateway_svc: Souverain) -> None:
    opened = gateway_svc.gateway.pool.open_stream("cut-up", ChatParams(messages=HELLO, max_tokens=5), 0.0)
    assert opened.entry.alias == "cut-up" and opened.first is not None and opened.first.content == "Partial"
    with pytest.raises(BackendFailure, match="GPU fell over"):
        list(opened.stream)


def test_fallbacks_that_cannot_serve_the_request_are_skipped(gateway_svc: Souverain) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    cands = gateway_svc.gateway.pool.candidates("tools-first", ChatParams(messages=HELLO, max_tokens=5, tools=tools))
    assert [e.alias for e, _ in cands] == ["tools-first", "think-up"]  # the in-process model has no tools
    gateway_svc.gateway.suspensions.suspend("think-up", "admin", "test")
    cands = gateway_svc.gateway.pool.candidates("tools-first", ChatParams(messages=HELLO, max_tokens=5, tools=tools))
    assert [e.alias for e, _ in cands] == ["tools-first"]  # suspended fallbacks are skipped too


# the assistant's own calls -----------------------------------------------------------------------------

def test_the_assistant_model_calls_are_metered(gateway_svc: Souverain) -> None:
    svc = gateway_svc
    user = svc.identity.create_user("carol", role="member")
    llm = MeteredLLM(FakeLLM(["one two three", "four five"], name="smollm2-135m-instruct"), svc.gateway,
                     user_id=lambda: user.id)
    msgs = [ChatMessage("user", "hello there")]
    assert llm.complete(msgs, GenerationParams(max_tokens=10)).text == "one two three"
    stream = llm.stream(msgs, GenerationParams(max_tokens=10))
    assert "".join(stream) == "four five"
    records = svc.gateway_accounting.records()
    assert [(r["endpoint"], r["key_id"], r["user_id"], r["status"], r["model"]) for r in records] == [
        ("assistant", None, user.id, "ok", "smollm2-135m-instruct")] * 2
    assert records[0]["completion_tokens"] == 3 and records[0]["energy_kwh"] > 0
    assert svc.gateway_accounting.open_reservations() == []


def test_an_abandoned_assistant_stream_is_settled_as_cancelled(gateway_svc: Souverain) -> None:
    llm = MeteredLLM(FakeLLM(["a b c d"]), gateway_svc.gateway, user_id=lambda: None)
    stream = llm.stream([ChatMessage("user", "x")])
    assert next(stream) == "a "
    stream.close()  # type: ignore[attr-defined]
    record = gateway_svc.gateway_accounting.records()[-1]
    assert record["status"] == "cancelled" and record["model"] == "fake-llm" and record["energy_kwh"] is None


def test_a_suspended_assistant_model_is_refused_with_a_message(gateway_svc: Souverain) -> None:
    gateway_svc.gateway.suspensions.suspend("smollm2-135m-instruct", "admin", "under review")
    llm = MeteredLLM(FakeLLM(["x"], name="smollm2-135m-instruct"), gateway_svc.gateway, user_id=lambda: None)
    with pytest.raises(AssistantModelRefused, match="suspended by an administrator: under review"):
        llm.complete([ChatMessage("user", "x")])


def test_the_service_wraps_the_generative_assistant(gateway_svc: Souverain) -> None:
    gateway_svc._llm = FakeLLM(name="fake")
    assistant = gateway_svc.assistant("generative")
    assert isinstance(assistant.llm, MeteredLLM) and assistant.llm.name == "fake"
    assert gateway_svc.assistant("extractive").llm is None


def test_the_current_user_comes_from_the_request_scope() -> None:
    assert current_user_id() is None
    token = current_scope.set({"state": {"principal": SimpleNamespace(user=SimpleNamespace(id=42))}})
    try:
        assert current_user_id() == 42
    finally:
        current_scope.reset(token)


def test_web_assistant_answers_are_metered_with_the_signed_in_user(tmp_path: Path) -> None:
    """Through the real app: the ask route's model call lands in the ledger with the caller's user id."""
    from fastapi.testclient import TestClient

    from souverain.web.app import create_app

    from ..conftest import EXAMPLES

    settings = Settings(data_dir=tmp_path / "data")
    svc = Souverain(settings, llm=FakeLLM(["Version 2.4 is the latest release [1]."] * 3))
    svc.ingest([EXAMPLES / "release-notes.md"])
    svc.worker.drain()
    app = create_app(settings, svc)
    user = svc.identity.create_user("dora", role="member")
    key = svc.identity.create_api_key(user.id, ("read", "ask")).key
    with TestClient(app) as client:
        r = client.post("/api/v1/ask", headers={"Authorization": f"Bearer {key}"},
                        json={"question": "What is the latest release?", "mode": "generative"})
        assert r.status_code == 200, r.text
        with client.stream("POST", "/api/v1/ask", headers={"Authorization": f"Bearer {key}"},
                           json={"question": "What is the latest release?", "mode": "generative", "stream": True}) as s:
            assert "event: answer" in "".join(s.iter_text())
    records = [(r["endpoint"], r["key_id"], r["user_id"], r["status"]) for r in svc.gateway_accounting.records()]
    assert records == [("assistant", None, user.id, "ok")] * 2


def test_a_generative_answer_shows_exactly_its_own_energy(tmp_path: Path) -> None:
    """The bundled model through the real app: each answer's energy is that of its own usage record."""
    from fastapi.testclient import TestClient

    from souverain.web.app import create_app

    from ..conftest import EXAMPLES

    settings = Settings(data_dir=tmp_path / "data", grid_country="FR", llm_max_answer_tokens=16)
    svc = Souverain(settings)
    svc.ingest([EXAMPLES / "release-notes.md"])
    svc.worker.drain()
    user = svc.identity.create_user("erin", role="member")
    key = svc.identity.create_api_key(user.id, ("read", "ask")).key
    answers = []
    with TestClient(create_app(settings, svc)) as client:
        for question in ("What is the latest release?", "What changed in the latest release?"):
            r = client.post("/api/v1/ask", headers={"Authorization": f"Bearer {key}"},
                            json={"question": question, "mode": "generative"})
            assert r.status_code == 200, r.text
            answers.append(r.json())
    records = svc.gateway_accounting.records()
    assert len(records) == 2 and all(rec["endpoint"] == "assistant" and rec["user_id"] == user.id for rec in records)
    for answer, rec in zip(answers, records, strict=True):
        assert answer["energy"]["wh"] == pytest.approx(rec["energy_kwh"] * 1000)
        assert answer["energy"]["gco2e"] == pytest.approx(rec["gco2e"]) and rec["gco2e"] > 0
    svc.close()
