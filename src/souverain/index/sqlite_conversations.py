"""SQL for conversations and their messages (the model is in assistant/conversations.py).

Every query takes the owner, so one caller never reads, renames or deletes another's conversation
(an unknown id and somebody else's id look the same: None). Messages are append-only; an assistant
message keeps the full answer object as JSON so a conversation can be shown and exported later
exactly as it was answered.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .sqlite_jobs import now
from .sqlite_schema import Connections

_CONV = "c.id, c.title, c.created_at, c.updated_at, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)"


def _conv(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(("id", "title", "created_at", "updated_at", "messages"), row, strict=True))


class ConversationTable:
    def __init__(self, conns: Connections) -> None:
        self.conns = conns

    @property
    def conn(self) -> sqlite3.Connection:
        return self.conns.get()

    def create(self, owner: str, title: str, auto_title: bool) -> dict[str, Any]:
        at = now()
        cur = self.conn.execute(
            "INSERT INTO conversations(owner, title, title_auto, created_at, updated_at) VALUES (?,?,?,?,?)",
            (owner, title, int(auto_title), at, at))
        conv = self.get(owner, int(cur.lastrowid or 0))
        assert conv is not None
        return conv

    def get(self, owner: str, conv_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT {_CONV} FROM conversations c WHERE c.id=? AND c.owner=?",
                                (conv_id, owner)).fetchone()
        return _conv(row) if row else None

    def title_is_auto(self, owner: str, conv_id: int) -> bool:
        row = self.conn.execute("SELECT title_auto FROM conversations WHERE id=? AND owner=?", (conv_id, owner)).fetchone()
        return bool(row and row[0])

    def for_owner(self, owner: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            f"SELECT {_CONV} FROM conversations c WHERE c.owner=? ORDER BY c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?",
            (owner, limit, offset))
        return [_conv(r) for r in rows.fetchall()]

    def rename(self, owner: str, conv_id: int, title: str, auto: bool = False) -> bool:
        cur = self.conn.execute("UPDATE conversations SET title=?, title_auto=?, updated_at=? WHERE id=? AND owner=?",
                                (title, int(auto), now(), conv_id, owner))
        return bool(cur.rowcount)

    def delete(self, owner: str, conv_id: int) -> bool:
        cur = self.conn.execute("DELETE FROM conversations WHERE id=? AND owner=?", (conv_id, owner))
        return bool(cur.rowcount)

    def messages(self, owner: str, conv_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT m.id, m.role, m.content, m.answer, m.created_at FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id WHERE c.id=? AND c.owner=? ORDER BY m.id",
            (conv_id, owner)).fetchall()
        return [{"id": i, "role": r, "content": c, "answer": json.loads(a) if a else None, "created_at": at}
                for i, r, c, a, at in rows]

    def add_turn(self, owner: str, conv_id: int, question: str, answer: dict[str, Any]) -> None:
        """Store a question and its answer together (one transaction) and touch the conversation."""
        at = now()
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not conn.execute("SELECT 1 FROM conversations WHERE id=? AND owner=?", (conv_id, owner)).fetchone():
                raise LookupError("conversation not found")
            conn.execute("INSERT INTO messages(conversation_id, role, content, answer, created_at) VALUES (?,?,?,?,?)",
                         (conv_id, "user", question, None, at))
            conn.execute("INSERT INTO messages(conversation_id, role, content, answer, created_at) VALUES (?,?,?,?,?)",
                         (conv_id, "assistant", str(answer.get("answer", "")), json.dumps(answer, default=str), at))
            conn.execute("UPDATE conversations SET updated_at=? WHERE id=?", (at, conv_id))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
