"""Background embedding: chunks become lexically searchable at once and get vectors as they come.

The worker takes pending chunks shortest-first (so a batch has similar lengths and little padding),
serves what it can from the embedding cache (keyed by model + text hash: unchanged text is never
embedded twice), embeds the rest in one call, and stores them in one transaction. ``drain`` is
used by the CLI (with a progress bar); ``start`` runs the same loop in a daemon thread inside the
server, woken after every ingestion.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..embeddings.base import Embedder
from ..index.sqlite_store import SQLiteStore

log = logging.getLogger(__name__)


class EmbeddingWorker:
    def __init__(self, store: SQLiteStore, embedder: Embedder, batch_size: int = 16) -> None:
        self.store = store
        self.embedder = embedder
        self.batch_size = batch_size
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error = ""
        self.embedded_total = 0
        self.cache_hits_total = 0

    def pending(self) -> int:
        return self.store.count_pending_embeddings(self.embedder.name)

    def run_once(self) -> int:
        """Embed one batch; returns how many chunks got vectors (0 when nothing is pending)."""
        batch = self.store.pending_embeddings(self.embedder.name, self.batch_size)
        if not batch:
            return 0
        cached = self.store.cached_vectors(self.embedder.name, [p.sha256 for p in batch])
        todo = [p for p in batch if p.sha256 not in cached]
        items = [(p.chunk_id, p.sha256, cached[p.sha256]) for p in batch if p.sha256 in cached]
        self.cache_hits_total += len(items)
        if todo:
            vectors = self.embedder.embed_passages([p.embed_text for p in todo])
            items.extend((p.chunk_id, p.sha256, v) for p, v in zip(todo, vectors, strict=True))
            self.embedded_total += len(todo)
        self.store.add_vectors(self.embedder.name, items)
        return len(batch)

    def drain(self, progress: Callable[[int, int], None] | None = None) -> int:
        total = self.pending()
        done = 0
        while not self._stop.is_set():
            n = self.run_once()
            if n == 0:
                break
            done += n
            if progress:
                progress(done, max(total, done))
        return done

    # background thread ----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="souverain-embedder", daemon=True)
        self._thread.start()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=5.0)
            self._wake.clear()
            try:
                self.drain()
                self.last_error = ""
            except Exception as exc:  # keep the server alive; status shows the error
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("embedding failed: %s", self.last_error)
                self._stop.wait(10.0)
