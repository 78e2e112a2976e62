"""A fake chat model with queued replies, for tests of code that uses an ``LLM``.

Each ``complete`` or ``stream`` call takes the next reply from the queue and records the messages
and parameters it was given (``calls``), so a test can assert on the prompt that was built. An empty
queue raises ``LLMError`` — the same error type a real backend raises — so error paths can be tested
too. Tokens are whitespace-separated words; ``max_tokens`` truncates a reply to that many words with
``finish_reason="length"`` and ``params.stop`` cuts it at the first stop string, as a server would.
``stream`` yields word by word and the deltas join to exactly the text ``complete`` would return.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .base import ChatMessage, Completion, GenerationParams, LLMError

_WORDS = re.compile(r"^\s+|\S+\s*")


@dataclass(frozen=True, slots=True)
class FakeCall:
    messages: tuple[ChatMessage, ...]
    params: GenerationParams
    streamed: bool


class FakeLLM:
    def __init__(self, replies: Iterable[str] = (), *, name: str = "fake-llm", context_window: int = 4096) -> None:
        self.name = name
        self.context_window = context_window
        self.replies: deque[str] = deque(replies)
        self.calls: list[FakeCall] = []

    def queue(self, *replies: str) -> None:
        self.replies.extend(replies)

    @property
    def last_messages(self) -> tuple[ChatMessage, ...]:
        if not self.calls:
            raise AssertionError("FakeLLM was never called")
        return self.calls[-1].messages

    def _take(self, messages: Sequence[ChatMessage], params: GenerationParams, streamed: bool) -> tuple[str, str]:
        self.calls.append(FakeCall(tuple(messages), params, streamed))
        if not self.replies:
            raise LLMError(f"{self.name}: no queued reply left")
        text = self.replies.popleft()
        finish = "stop"
        for stop in params.stop:
            if stop and stop in text:
                text = text[: text.index(stop)]
        words = _WORDS.findall(text)
        if sum(1 for w in words if w.strip()) > params.max_tokens:
            kept: list[str] = []
            for word in words:
                if word.strip() and sum(1 for w in kept if w.strip()) == params.max_tokens:
                    break
                kept.append(word)
            text, finish = "".join(kept), "length"
        return text, finish

    def complete(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Completion:
        params = params or GenerationParams()
        text, finish = self._take(messages, params, streamed=False)
        return Completion(
            text=text,
            model=self.name,
            prompt_tokens=sum(self.count_tokens(m.content) for m in messages),
            completion_tokens=self.count_tokens(text),
            finish_reason=finish,
            seconds=0.0,
        )

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Iterator[str]:
        params = params or GenerationParams()
        text, _ = self._take(messages, params, streamed=True)
        return iter(_WORDS.findall(text))

    def count_tokens(self, text: str) -> int:
        return len(text.split())
