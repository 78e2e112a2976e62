"""The generative prompt and the context budget.

Passages go into the prompt in retrieval order, numbered from 1, until the model's window minus
the answer budget is used up. Passages that do not fit are cut whole (never mid-passage) and the
cut is reported in the answer's flags, so the user knows the model saw less than was retrieved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..documents import SearchHit

NOT_FOUND = "NOT_FOUND"

SYSTEM = (
    "You answer questions using only the numbered passages from the user's documents. "
    "Cite every sentence with the passage number in square brackets, like [1] or [2]. "
    "Do not use outside knowledge. Answer in the language of the question, briefly. "
    f"If the passages do not contain the answer, reply exactly {NOT_FOUND}."
)


@dataclass
class PromptContext:
    passages: list[SearchHit]
    dropped: int
    tokens: int


def passage_block(n: int, hit: SearchHit) -> str:
    where = f"{hit.title}, page {hit.page}" if hit.page else hit.title
    return f"[{n}] ({where})\n{hit.text.strip()}"


def fit_passages(
    question: str, hits: list[SearchHit], count_tokens: Callable[[str], int], budget: int
) -> PromptContext:
    used = count_tokens(SYSTEM) + count_tokens(question) + 32
    chosen: list[SearchHit] = []
    for hit in hits:
        cost = count_tokens(passage_block(len(chosen) + 1, hit)) + 4
        if used + cost > budget:
            break
        chosen.append(hit)
        used += cost
    return PromptContext(chosen, len(hits) - len(chosen), used)


def user_message(question: str, passages: list[SearchHit]) -> str:
    blocks = "\n\n".join(passage_block(i, h) for i, h in enumerate(passages, 1))
    return f"Passages:\n\n{blocks}\n\nQuestion: {question}\nAnswer with citations:"
