"""Schemathesis over the app's own OpenAPI schema: no 5xx, and every response (status code and body)
is one the schema declares.

The app runs in-process on a throwaway data dir holding two small ingested documents, so search, ask,
pages and files have something real to return. Its lifespan (embedding and job workers) is run by a
Starlette ``TestClient`` that the fixture closes at the end; schemathesis reaches the same app
through its ASGI transport, via a wrapper that declines the lifespan scope so the workers are not
started a second time. Every operation is covered, DELETE included (the index is disposable). Requests carry an
administrator's bearer key (every API route needs authentication); the admin routes run too, so
the generated users, groups and keys land in the throwaway database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from souverain.llm.fake import FakeLLM
from souverain.service import Souverain
from souverain.settings import Settings
from souverain.web.app import create_app

from ..conftest import EXAMPLES
from .conftest import API, Web, admin_key, wait_embedded, wait_job

CORPUS = ("release-notes.md", "product-faq.html")


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("openapi-data"))
    svc = Souverain(settings_, llm=FakeLLM(["Version 2.4 is the latest release [1]."] * 2000))  # generative mode never runs dry
    app = create_app(settings_, svc)

    async def without_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # declined before reading a message: "no lifespan support" in ASGI terms
            raise RuntimeError("the lifespan is run by the fixture's TestClient")
        await app(scope, receive, send)

    with TestClient(app) as client:  # starts the workers; leaving the block stops them and closes the service
        auth = {"Authorization": f"Bearer {admin_key(svc)}"}
        client.headers.update(auth)
        files = [("files", (name, (EXAMPLES / name).read_bytes())) for name in CORPUS]
        r = client.post(f"{API}/documents", files=files)
        assert r.status_code == 202, r.text
        job = wait_job(client, r.json()["job"]["id"])
        assert [rep["status"] for rep in job["reports"]] == ["indexed", "indexed"], job
        wait_embedded(client)
        yield schemathesis.openapi.from_asgi("/openapi.json", without_lifespan), auth


CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def test_every_operation_conforms_to_the_openapi_schema(api_schema: tuple[Any, dict[str, str]],
                                                        subtests: pytest.Subtests) -> None:
    """Valid and invalid requests for each operation: never a 5xx, only declared status codes and bodies."""
    schema, auth = api_schema
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()  # raises on an operation schemathesis cannot read: the schema itself is broken
        labels.append(operation.label)
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

        @given(case=strategy)
        @settings(max_examples=20, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def conforms(case: Any) -> None:
            case.call_and_validate(headers=dict(auth), checks=CHECKS)

        with subtests.test(msg=operation.label):
            conforms()
    assert f"POST {API}/ask" in labels and f"DELETE {API}/documents/{{doc_id}}" in labels, labels


def test_ids_beyond_sqlite_integers_are_a_422_not_a_500(web: Web) -> None:
    """Found by schemathesis: ids/offsets above 2**63-1 raised OverflowError in sqlite3 (a 500)."""
    big = 2**63
    for method, url in [("GET", f"{API}/documents/{big}"), ("DELETE", f"{API}/conversations/{big}"),
                        ("GET", f"{API}/documents/1/pages/{big}"), ("POST", f"{API}/jobs/{big}/cancel"),
                        ("GET", f"{API}/jobs?offset={big}"), ("GET", f"{API}/documents/0")]:
        r = web.client.request(method, url)
        assert r.status_code == 422, (method, url, r.status_code, r.text)
