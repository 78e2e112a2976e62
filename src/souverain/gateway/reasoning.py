"""Reasoning split: ``<think>…</think>`` blocks leave ``content`` and become ``reasoning_content``.

Reasoning models (DeepSeek-R1, Qwen3, Magistral…) write their chain of thought between ``<think>`` and
``</think>``. Clients want the answer in ``message.content`` and the reasoning apart, in
``message.reasoning_content`` (``delta.reasoning_content`` when streaming), the field vLLM's reasoning
parsers and DeepSeek's API use. ``ReasoningSplitter`` does that on text that arrives in pieces:

- a tag split across chunks (``"<thi"`` + ``"nk>"``) is recognised: the splitter holds back the end of a
  chunk that could be the start of a tag, and nothing else, so deltas are not delayed by more than a
  tag's length;
- several blocks in one answer are all moved; an unclosed block at the end stays reasoning;
- whitespace right after ``</think>`` (models put a blank line there) is dropped from the content;
- the non-streaming path runs the same splitter over the whole text, so the joined stream deltas equal
  the non-streamed ``content`` and ``reasoning_content`` exactly.

Not handled: a template that opens ``<think>`` in the prompt, so the output starts *inside* the block
with only a closing ``</think>``. Serve such models with the server's reasoning parser (vLLM
``--reasoning-parser``), whose ``reasoning_content`` the gateway passes through.
"""

from __future__ import annotations

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a proper prefix of ``tag``."""
    for n in range(min(len(text), len(tag) - 1), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ReasoningSplitter:
    def __init__(self, open_tag: str = OPEN_TAG, close_tag: str = CLOSE_TAG) -> None:
        self.open_tag = open_tag
        self.close_tag = close_tag
        self.inside = False
        self._buf = ""
        self._strip_content = False  # just after a closing tag: drop leading whitespace of the answer

    def _emit(self, piece: str, content: list[str], reasoning: list[str]) -> None:
        if not piece:
            return
        if self.inside:
            reasoning.append(piece)
            return
        if self._strip_content:
            piece = piece.lstrip()
            if not piece:
                return
            self._strip_content = False
        content.append(piece)

    def feed(self, text: str) -> tuple[str, str]:
        """(content, reasoning) that can be released now; the end of a possible tag is held back."""
        self._buf += text
        content: list[str] = []
        reasoning: list[str] = []
        while True:
            tag = self.close_tag if self.inside else self.open_tag
            i = self._buf.find(tag)
            if i >= 0:
                self._emit(self._buf[:i], content, reasoning)
                self._buf = self._buf[i + len(tag):]
                self.inside = not self.inside
                self._strip_content = not self.inside
                continue
            keep = _partial_tag_suffix(self._buf, tag)
            cut = len(self._buf) - keep
            self._emit(self._buf[:cut], content, reasoning)
            self._buf = self._buf[cut:]
            return "".join(content), "".join(reasoning)

    def flush(self) -> tuple[str, str]:
        """Whatever is held back, at the end of the text."""
        content: list[str] = []
        reasoning: list[str] = []
        self._emit(self._buf, content, reasoning)
        self._buf = ""
        return "".join(content), "".join(reasoning)


def split_reasoning(text: str) -> tuple[str, str]:
    """(content, reasoning) of a whole answer."""
    splitter = ReasoningSplitter()
    c1, r1 = splitter.feed(text)
    c2, r2 = splitter.flush()
    return c1 + c2, r1 + r2
