from __future__ import annotations

from collections.abc import Callable

import pytest

from souverain.documents import ParsedDocument, RawDocument
from souverain.parsing import parse_document

from ._helpers import EXAMPLES, check_invariants


@pytest.fixture(scope="session")
def example() -> Callable[[str], ParsedDocument]:
    cache: dict[str, ParsedDocument] = {}

    def load(name: str) -> ParsedDocument:
        if name not in cache:
            path = EXAMPLES / name
            cache[name] = parse_document(RawDocument(uri=str(path), data=path.read_bytes()))
            check_invariants(cache[name])
        return cache[name]

    return load
