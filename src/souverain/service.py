"""Wiring: one ``Souverain`` object per data directory, built from ``Settings``.

The CLI and the web app both go through this object, so they behave the same. Heavy parts (the
embedder, the language model) are created lazily on first use: ``souverain status`` does not load
a model, and ``ingest`` only loads the embedder when it gets to the embedding step.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .assistant.conversations import Conversations
from .assistant.engine import Answer, Assistant
from .documents import AccessFilter, SearchFilters
from .embeddings.base import Embedder
from .governance.identity import IdentityService
from .index.sqlite_conversations import ConversationTable
from .index.sqlite_search import SQLiteRetriever
from .index.sqlite_store import SQLiteStore
from .ingest.embedding_worker import EmbeddingWorker
from .ingest.files import FileStore
from .ingest.jobs import JobManager
from .ingest.pipeline import FileReport, IngestOptions, Ingestor
from .parsing import ParseLimits
from .retrieval.hybrid import HybridSearcher, SearchResult
from .settings import Settings

if TYPE_CHECKING:
    from .gateway.accounting import Accounting
    from .gateway.backends import Gateway
    from .sources.manager import SourceManager


class Souverain:
    def __init__(self, settings: Settings, embedder: Embedder | None = None, llm: Any | None = None) -> None:
        self.settings = settings
        self.store = SQLiteStore(settings.db_path)
        self.retriever = SQLiteRetriever(self.store)
        self._embedder = embedder
        self._llm = llm
        self._lock = threading.Lock()

    # lazily built parts -------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                from .embeddings.registry import load_embedder

                s = self.settings
                self._embedder = load_embedder(
                    s.embedder, model=s.embedder_model or None, base_url=s.embedder_base_url or None,
                    api_key=s.embedder_api_key.get_secret_value() if s.embedder_api_key else None,
                )
            return self._embedder

    @property
    def llm(self) -> Any:
        with self._lock:
            if self._llm is None:
                from .llm.registry import load_llm

                s = self.settings
                self._llm = load_llm(
                    s.llm_backend, model=s.llm_model or None, model_path=s.llm_model_path or None,
                    base_url=s.llm_base_url or None,
                    api_key=s.llm_api_key.get_secret_value() if s.llm_api_key else None,
                    n_ctx=s.llm_context_window,
                )
            return self._llm

    @functools.cached_property
    def worker(self) -> EmbeddingWorker:
        return EmbeddingWorker(self.store, self.embedder, self.settings.embed_batch_size)

    @functools.cached_property
    def files(self) -> FileStore:
        return FileStore(self.settings.data_dir / "files")

    @functools.cached_property
    def jobs(self) -> JobManager:
        return JobManager(self.store, self.files, lambda principals, source: self.ingestor(principals, source),
                          after_file=self.wake_worker)

    @functools.cached_property
    def sources(self) -> SourceManager:
        from .sources.manager import SourceManager

        return SourceManager(self.store, self.jobs, lambda name: self.ingestor((), name),
                             max_bytes=self.settings.max_file_bytes, after_item=self.wake_worker)

    @functools.cached_property
    def identity(self) -> IdentityService:
        return IdentityService.from_settings(self.settings, self.store)

    @functools.cached_property
    def gateway_accounting(self) -> Accounting:
        """Key limits, reservations and the usage ledger of the /v1 model gateway (gateway/accounting.py)."""
        from .gateway.accounting import Accounting

        return Accounting(self.store.conns)

    @functools.cached_property
    def gateway(self) -> Gateway:
        """The /v1 model gateway (gateway/): registry, suspensions, backends, metering. Building it checks the
        registry and its residency policy (``ResidencyError`` refuses the start) and loads no model."""
        from .gateway.backends import Gateway

        return Gateway.build(self.settings, self.store.conns, bundled_llm=self._shared_bundled_llm,
                             accounting=lambda: self.gateway_accounting)

    def _shared_bundled_llm(self, name: str) -> Any | None:
        """The assistant's llama.cpp model when the gateway asks for the same bundled model (one copy in memory)."""
        s = self.settings
        if s.llm_backend != "llamacpp" or s.llm_model_path or s.llm_model != name:
            return None
        if self._llm is not None and getattr(self._llm, "name", None) != name:
            return None
        from .llm.llamacpp import LlamaCppLLM

        llm = self.llm
        return llm if isinstance(llm, LlamaCppLLM) else None

    @functools.cached_property
    def conversations(self) -> Conversations:
        return Conversations(ConversationTable(self.store.conns))

    def wake_worker(self) -> None:
        """Tell the embedding worker new chunks wait (no-op when no worker was built, e.g. in the CLI)."""
        if "worker" in self.__dict__:
            self.worker.wake()

    @functools.cached_property
    def searcher(self) -> HybridSearcher:
        return HybridSearcher(self.retriever, self.embedder)

    def assistant(self, mode: str) -> Assistant:
        llm = None
        if mode == "generative":  # metered like /v1 calls: the ledger records the assistant's answers too
            from .gateway.backends import MeteredLLM

            llm = MeteredLLM(self.llm, self.gateway)
        return Assistant(self.searcher, self.embedder, llm, self.settings.llm_max_answer_tokens, self.settings.ask_top_k)

    # operations ---------------------------------------------------------------------------
    def ingestor(self, principals: tuple[str, ...] = ("public",), source: str = "local") -> Ingestor:
        s = self.settings
        limits = ParseLimits(max_bytes=s.max_file_bytes)
        return Ingestor(self.store, IngestOptions(limits, s.chunk_tokens, s.chunk_overlap_tokens, principals, source))

    def ingest(self, paths: list[Path | str], progress: Any = None) -> list[FileReport]:
        return self.ingestor().ingest_paths(paths, progress)

    def search(self, query: str, access: AccessFilter, filters: SearchFilters | None = None,
               k: int | None = None, mode: str = "hybrid") -> SearchResult:
        if not query.strip():
            raise ValueError("the query is empty")
        return self.searcher.search(query, access, filters, k or self.settings.search_top_k, mode)

    def resolve_mode(self, mode: str | None) -> str:
        return mode or self.settings.effective_answer_mode

    def ask(self, question: str, access: AccessFilter, filters: SearchFilters | None = None,
            mode: str | None = None) -> Answer:
        m = self.resolve_mode(mode)
        return self.assistant(m).ask(question, access, filters, m)  # type: ignore[arg-type]

    def status(self) -> dict[str, Any]:
        stats = self.store.stats()
        s = self.settings
        model = self.embedder.name
        stats["chunks_awaiting_embeddings"] = self.store.count_pending_embeddings(model)
        stats["data_dir"] = str(s.data_dir.resolve())
        stats["embedder"] = {"backend": s.embedder, "model": model}
        stats["answer_mode"] = s.effective_answer_mode
        stats["llm"] = {"backend": s.llm_backend, "model": s.llm_model_path or s.llm_model,
                        "base_url": s.llm_base_url or None}
        return stats

    def close(self) -> None:
        if "sources" in self.__dict__:
            self.sources.stop()
        if "jobs" in self.__dict__:
            self.jobs.stop()
        if "worker" in self.__dict__:
            self.worker.stop()
        if "gateway" in self.__dict__:
            self.gateway.close()
        self.store.close()
