"""Conversations: stored turns, follow-up questions, titles and the Markdown export.

Follow-ups: a question that depends on the previous turn ("And for part-time staff?", "What about
it?", "…and in Germany") cannot be answered from its own words, so the retrieval query becomes the
previous user question followed by the new one. A question counts as dependent when it is short,
starts with a connective ("and", "what about", "et", "und"...), contains a pronoun that points
back, or starts/ends with an ellipsis. Only retrieval uses the rewritten query: the answer (and
the extractive sentence ranking) keeps the user's own question, so "Can they be carried over?"
quotes the carry-over rule rather than the previous answer again. Generative mode also gets the
last turns as chat history (answers without their passages, to keep the prompt small).

A conversation is titled after its first question (80 characters at most) unless the user named it.
Owners: every call takes the owner; see index/sqlite_conversations.py.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from ..index.sqlite_conversations import ConversationTable
from ..llm.base import ChatMessage

TITLE_MAX = 80
DEFAULT_TITLE = "New conversation"
HISTORY_TURNS = 3

_LEADS = ("and ", "and?", "what about", "how about", "what if", "same for", "also ", "or ", "but ",
          "et ", "et pour", "und ", "und für", "y ", "e ", "aber ", "mais ", "quid ", "ebenso", "pareil")
_BACK_REFERENCES = frozenset((
    "it", "its", "they", "them", "their", "theirs", "this", "these", "those", "he", "she", "him", "his", "her",
    "il", "elle", "ils", "elles", "cela", "ça", "celui", "celle", "ceux", "celles",
    "dies", "diese", "dieser", "dieses", "dort", "dafür", "davon", "darauf",
    "él", "ella", "ellos", "ellas", "eso", "esto",
))
_WORDS = re.compile(r"\w+", re.UNICODE)


def title_from(question: str) -> str:
    q = " ".join(question.split())
    return q if len(q) <= TITLE_MAX else q[: TITLE_MAX - 1].rstrip() + "…"


def is_follow_up(question: str, previous: str | None) -> bool:
    if not previous:
        return False
    q = " ".join(question.lower().split())
    if q.startswith(("...", "…")) or q.endswith(("...", "…")):
        return True
    if q.startswith(_LEADS):
        return True
    words = _WORDS.findall(q)
    if len(words) <= 3 and len(q) <= 25:
        return True
    return any(w in _BACK_REFERENCES for w in words)


def retrieval_query(messages: Sequence[dict[str, Any]], question: str) -> str:
    previous = next((m["content"] for m in reversed(messages) if m["role"] == "user"), None)
    return f"{previous} {question.strip()}" if previous and is_follow_up(question, previous) else question.strip()


def chat_history(messages: Sequence[dict[str, Any]], turns: int = HISTORY_TURNS) -> list[ChatMessage]:
    recent = list(messages)[-2 * turns:]
    return [ChatMessage("user" if m["role"] == "user" else "assistant", m["content"]) for m in recent]


def _quote_block(text: str) -> str:
    return "\n".join("   > " + line for line in (" ".join(text.split()) or "").splitlines() or [""])


def export_markdown(conversation: dict[str, Any], messages: Sequence[dict[str, Any]]) -> str:
    lines = [f"# {conversation['title']}", "",
             "> **AI-generated.** These answers were written by Souverain from the documents listed under "
             "each answer. Check them against the quoted sources before relying on them.", "",
             f"Exported {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.", ""]
    n = 0
    for m in messages:
        if m["role"] == "user":
            n += 1
            lines += [f"## {n}. {' '.join(m['content'].split())}", ""]
            continue
        answer = m.get("answer") or {}
        lines += [m["content"], ""]
        citations = answer.get("citations") or []
        if citations:
            lines += ["**Sources**", ""]
            for c in citations:
                where = f", p. {c['page']}" if c.get("page") else ""
                lines.append(f"{c['n']}. {c.get('title') or c.get('document')}{where} (`{c.get('document')}`)")
                lines.append(_quote_block(str(c.get("quote", ""))))
            lines.append("")
        else:
            lines += ["_No sources._", ""]
        meta = [x for x in (answer.get("mode"), answer.get("model")) if x]
        if meta:
            lines += [f"_Answer mode: {', '.join(meta)}_", ""]
    return "\n".join(lines).rstrip() + "\n"


class Conversations:
    def __init__(self, table: ConversationTable) -> None:
        self.table = table

    def create(self, owner: str, title: str | None = None) -> dict[str, Any]:
        clean = " ".join((title or "").split())[:TITLE_MAX]
        return self.table.create(owner, clean or DEFAULT_TITLE, auto_title=not clean)

    def for_owner(self, owner: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        return self.table.for_owner(owner, limit, offset)

    def get(self, owner: str, conv_id: int) -> dict[str, Any] | None:
        conv = self.table.get(owner, conv_id)
        if conv is None:
            return None
        return {**conv, "messages": self.table.messages(owner, conv_id)}

    def rename(self, owner: str, conv_id: int, title: str) -> dict[str, Any] | None:
        clean = " ".join(title.split())[:TITLE_MAX]
        if not clean:
            raise ValueError("the title is empty")
        return self.table.get(owner, conv_id) if self.table.rename(owner, conv_id, clean) else None

    def delete(self, owner: str, conv_id: int) -> bool:
        return self.table.delete(owner, conv_id)

    def export(self, owner: str, conv_id: int) -> str | None:
        conv = self.table.get(owner, conv_id)
        return export_markdown(conv, self.table.messages(owner, conv_id)) if conv else None

    def add_turn(self, owner: str, conv_id: int, question: str, answer: dict[str, Any]) -> None:
        first = self.table.get(owner, conv_id)
        self.table.add_turn(owner, conv_id, question, answer)
        if first and first["messages"] == 0 and self.table.title_is_auto(owner, conv_id):
            self.table.rename(owner, conv_id, title_from(question), auto=True)
