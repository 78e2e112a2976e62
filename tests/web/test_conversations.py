"""Conversations: CRUD, follow-up questions, chat history for generative mode, SSE, Markdown export."""

from __future__ import annotations

import json

from souverain.assistant.conversations import is_follow_up, retrieval_query, title_from

from ..conftest import sse_events
from .conftest import API, Web

FIRST = "How many days of paid annual leave do full-time employees get?"


def test_follow_up_detection() -> None:
    assert is_follow_up("And for part-time staff?", FIRST)
    assert is_follow_up("What about it in Germany?", FIRST)
    assert is_follow_up("Et pour les stagiaires ?", FIRST)
    assert is_follow_up("…and contractors", FIRST)
    assert not is_follow_up("What warranty comes with the R2 robot arm?", FIRST)
    assert not is_follow_up("And for part-time staff?", None)
    history = [{"role": "user", "content": FIRST}, {"role": "assistant", "content": "25 days [1]"}]
    assert retrieval_query(history, "And for part-time staff?") == f"{FIRST} And for part-time staff?"
    assert retrieval_query(history, "What warranty comes with the R2?") == "What warranty comes with the R2?"
    assert len(title_from("x" * 200)) == 80


def test_crud_and_titles(web: Web) -> None:
    c = web.client
    r = c.post(f"{API}/conversations", json={})
    assert r.status_code == 201
    conv = r.json()
    assert conv["messages"] == 0 and conv["title"] and conv["created_at"]
    named = c.post(f"{API}/conversations", json={"title": "  Leave  questions "}).json()
    assert named["title"] == "Leave questions"
    renamed = c.patch(f"{API}/conversations/{conv['id']}", json={"title": "Renamed"}).json()
    assert renamed["title"] == "Renamed" and renamed["id"] == conv["id"]
    listed = {x["id"]: x for x in c.get(f"{API}/conversations").json()["conversations"]}
    assert {conv["id"], named["id"]} <= set(listed)
    assert c.delete(f"{API}/conversations/{conv['id']}").status_code == 204
    for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/export")):
        assert c.request(method, f"{API}/conversations/{conv['id']}{path}").status_code == 404
    assert c.patch(f"{API}/conversations/{conv['id']}", json={"title": "x"}).status_code == 404
    assert c.post(f"{API}/conversations/{conv['id']}/messages", json={"question": "hi"}).status_code == 404


def test_follow_up_retrieves_from_the_handbook_and_export_has_sources(web: Web) -> None:
    c = web.client
    conv = c.post(f"{API}/conversations").json()
    a1 = c.post(f"{API}/conversations/{conv['id']}/messages", json={"question": FIRST}).json()
    assert not a1["abstained"] and "25 days" in a1["answer"]
    a2 = c.post(f"{API}/conversations/{conv['id']}/messages", json={"question": "And for part-time staff?"}).json()
    assert a2["question"] == "And for part-time staff?" and not a2["abstained"]
    assert a2["citations"] and all(x["document"] == "upload:employee-handbook.pdf" for x in a2["citations"])
    assert "part-time" in a2["answer"]
    a3 = c.post(f"{API}/conversations/{conv['id']}/messages", json={"question": "Can they be carried over?"}).json()
    assert "carried over" in a3["answer"] and a3["citations"][0]["document"] == "upload:employee-handbook.pdf"
    full = c.get(f"{API}/conversations/{conv['id']}").json()
    assert full["title"] == FIRST
    assert [m["role"] for m in full["messages"]] == ["user", "assistant"] * 3
    assert full["messages"][0]["answer"] is None and full["messages"][1]["answer"]["citations"] == a1["citations"]
    assert full["messages"][3]["content"] == a2["answer"]
    r = c.get(f"{API}/conversations/{conv['id']}/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    md = r.text
    assert md.startswith(f"# {FIRST}") and "AI-generated" in md and "And for part-time staff?" in md
    cite = a1["citations"][0]
    assert f"1. {cite['title']}, p. {cite['page']}" in md and " ".join(cite["quote"].split()) in md


def test_streamed_message_is_stored_and_generative_mode_gets_the_history(web: Web) -> None:
    c = web.client
    conv = c.post(f"{API}/conversations").json()
    web.llm.queue("Full-time employees receive 25 days of paid annual leave per calendar year [1].",
                  "Part-time staff get annual leave pro rata [1].")
    a1 = c.post(f"{API}/conversations/{conv['id']}/messages", json={"question": FIRST, "mode": "generative"}).json()
    assert a1["mode"] == "generative"
    with c.stream("POST", f"{API}/conversations/{conv['id']}/messages",
                  json={"question": "And for part-time staff?", "mode": "generative", "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.iter_lines())
    assert events[0][0] == "delta" and events[-1][0] == "answer"
    final = json.loads(events[-1][1])
    messages = web.llm.last_messages
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1].content == FIRST and messages[2].content == a1["answer"]
    assert "part-time" in messages[3].content.lower()
    stored = c.get(f"{API}/conversations/{conv['id']}").json()["messages"]
    assert len(stored) == 4 and stored[3]["answer"]["answer"] == final["answer"]


def test_a_failed_answer_stores_nothing(web: Web) -> None:
    c = web.client
    conv = c.post(f"{API}/conversations").json()
    assert c.post(f"{API}/conversations/{conv['id']}/messages", json={"question": "   "}).status_code == 400
    assert c.get(f"{API}/conversations/{conv['id']}").json()["messages"] == []
