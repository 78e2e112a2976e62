"""The LLM extension point.

A chat model takes a list of ``ChatMessage`` and returns one ``Completion`` (``complete``) or a
stream of text deltas (``stream``). Implementations live in sibling modules: ``llamacpp`` (the
bundled GGUF models, in-process), ``openai_compat`` (vLLM, Ollama, llama.cpp server, any
``/v1/chat/completions``) and ``fake`` (queued replies for tests).

Invariants:

- ``"".join(stream(m, p))`` equals ``complete(m, p).text`` for a deterministic model
  (temperature 0, same seed); the llama.cpp and fake backends are tested for it.
- ``count_tokens`` is exact for llama.cpp (the model's own tokenizer) and an *estimate* for remote
  servers, which expose no tokenizer through the OpenAI API. ``Completion.usage_exact`` says which
  kind of numbers a completion carries, so metering never passes an estimate off as a count.
- Every backend failure surfaces as ``LLMError`` with a message fit to show an operator; it never
  contains an API key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "error"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must not be negative")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    seconds: float
    usage_exact: bool = True
    """False when the token numbers are estimates (a server that reported no usage)."""

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


class LLMError(RuntimeError):
    """A model backend failed: model file missing, server unreachable, bad response, context overflow."""


@runtime_checkable
class LLM(Protocol):
    name: str
    context_window: int

    def complete(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Completion:
        """Generate one reply to ``messages``."""
        ...

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Iterator[str]:
        """Yield the reply as text deltas; consume or close the iterator (it may hold the model)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` (exact for local models, an estimate for remote servers)."""
        ...


def estimate_tokens(text: str) -> int:
    """Tokenizer-free estimate: about 4 UTF-8 bytes per token, never fewer than the word count.

    BPE vocabularies average ~4 bytes a token on European text; CJK characters take 3 bytes and
    roughly one token each, so counting bytes rather than characters keeps the estimate honest there.
    It leans high rather than low, which is the safe side for fitting a context window.
    """
    if not text:
        return 0
    return max(-(-len(text.encode("utf-8")) // 4), len(text.split()))
