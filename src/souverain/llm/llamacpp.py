"""In-process GGUF models through llama.cpp (``llama-cpp-python``).

Design facts:

- ``llama_cpp`` is imported when a model is constructed, not when this module is imported, so the
  rest of Souverain imports without it; a missing install is an ``LLMError`` naming the package.
- The path is checked before llama.cpp sees it (exists, is a file, starts with the ``GGUF`` magic)
  because llama.cpp's own failure for a bad file is an unhelpful ``ValueError``.
- One ``threading.Lock`` guards every call into the context: a llama.cpp context (KV cache, sampler)
  is not thread-safe. ``stream`` takes the lock on its first ``next()`` and releases it when the
  generator finishes or is closed, so a caller that abandons a stream must ``close()`` it (a
  ``for`` loop that breaks out of a generator does not close it until garbage collection).
- Prompts are built with the model's own chat template from the GGUF metadata. A GGUF without one
  (the Gemma 3 base file) gets its template from the model card (``chat_template``); llama.cpp's
  silent fallback would otherwise be the Llama-2 format, which such models do not understand.
- ``count_tokens`` is exact: it runs the model's tokenizer (read-only, no lock needed) without BOS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .base import ChatMessage, Completion, GenerationParams, LLMError

_GGUF_MAGIC = b"GGUF"
_INSTALL_HINT = "pip install llama-cpp-python"


def check_gguf(model_path: str | Path) -> Path:
    """Return ``model_path`` as a Path if it is a readable GGUF file, else raise ``LLMError``."""
    path = Path(model_path).expanduser()
    if not path.exists():
        raise LLMError(f"GGUF model file not found: {path}")
    if not path.is_file():
        raise LLMError(f"GGUF model path is not a file: {path}")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise LLMError(f"cannot read GGUF model file {path}: {exc}") from exc
    if magic != _GGUF_MAGIC:
        raise LLMError(f"not a GGUF model file (bad magic bytes {magic!r}): {path}")
    return path


class LlamaCppLLM:
    """A GGUF chat model loaded in this process."""

    def __init__(
        self,
        model_path: str | Path,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        chat_format: str | None = None,
        *,
        name: str | None = None,
        chat_template: str | None = None,
    ) -> None:
        path = check_gguf(model_path)
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise LLMError(f"the llama.cpp backend needs llama-cpp-python: {_INSTALL_HINT}") from exc
        try:
            self._llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                chat_format=chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise LLMError(f"llama.cpp could not load {path}: {exc}") from exc
        if chat_template is not None and chat_format is None:
            self._llama.chat_handler = Jinja2ChatFormatter(
                template=chat_template,
                eos_token=self._token_text(self._llama.token_eos()),
                bos_token=self._token_text(self._llama.token_bos()),
                stop_token_ids=[self._llama.token_eos()],
            ).to_chat_handler()
        self.model_path = path
        self.name = name or path.stem
        self.context_window = int(self._llama.n_ctx())
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LlamaCppLLM(name={self.name!r}, model_path={str(self.model_path)!r}, n_ctx={self.context_window})"

    def _token_text(self, token_id: int) -> str:
        return self._llama._model.token_get_text(token_id) if token_id != -1 else ""

    def _kwargs(self, messages: Sequence[ChatMessage], params: GenerationParams) -> dict[str, Any]:
        if not messages:
            raise LLMError("no messages to complete")
        return {
            "messages": [m.as_dict() for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stop": list(params.stop) or None,
            "seed": params.seed,
            "model": self.name,
        }

    def complete(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Completion:
        params = params or GenerationParams()
        kwargs = self._kwargs(messages, params)
        started = time.perf_counter()
        with self._lock:
            try:
                result: Any = self._llama.create_chat_completion(**kwargs)
            except ValueError as exc:  # llama.cpp reports context overflow this way
                raise LLMError(f"{self.name}: {exc}") from exc
        seconds = time.perf_counter() - started
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            model=self.name,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason") or "stop",
            seconds=seconds,
        )

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Iterator[str]:
        params = params or GenerationParams()
        kwargs = self._kwargs(messages, params)  # validate before the caller starts iterating
        return self._stream(kwargs)

    def _stream(self, kwargs: dict[str, Any]) -> Iterator[str]:
        with self._lock:
            try:
                chunks: Any = self._llama.create_chat_completion(stream=True, **kwargs)
                for chunk in chunks:
                    delta = chunk["choices"][0].get("delta") or {}
                    content = delta.get("content")
                    if content:
                        yield content
            except ValueError as exc:
                raise LLMError(f"{self.name}: {exc}") from exc

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))
