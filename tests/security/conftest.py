"""Security test fixtures: an app on a throwaway data dir, users signed in with sessions or API keys."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from souverain.llm.base import ChatMessage, GenerationParams
from souverain.llm.fake import FakeCall, FakeLLM
from souverain.service import Souverain
from souverain.settings import Settings
from souverain.web.app import create_app

PASSWORD = "correct horse battery staple"


class EchoLLM(FakeLLM):
    """Answers with its whole prompt: any context that reached the model surfaces in the answer."""

    def _take(self, messages: Sequence[ChatMessage], params: GenerationParams, streamed: bool) -> tuple[str, str]:
        self.calls.append(FakeCall(tuple(messages), params, streamed))
        return "\n".join(m.content for m in messages), "stop"


def login(app: object, username: str, password: str = PASSWORD, base_url: str = "http://testserver") -> TestClient:
    client = TestClient(app, base_url=base_url)  # type: ignore[arg-type]
    r = client.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


def make(data_dir: Path, llm: FakeLLM | None = None) -> tuple[Souverain, object]:
    settings = Settings(data_dir=data_dir)
    svc = Souverain(settings, llm=llm or FakeLLM())
    return svc, create_app(settings, svc)


@pytest.fixture
def app_svc(tmp_path: Path) -> Iterator[tuple[Souverain, object]]:
    """An app without its lifespan (no workers): for auth tests that need no embeddings."""
    svc, app = make(tmp_path / "data")
    svc.identity.create_user("admin", role="admin", password=PASSWORD)
    yield svc, app
    svc.close()
