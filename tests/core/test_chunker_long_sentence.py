"""Regression: a sentence between ~286 and 400 plain words used to recurse forever in the chunker.

Per-word token estimates are floored (``int(1.4) == 1``), so their sum stayed under the hard limit
while the estimate of the whole span was over it, and ``_split_long`` recursed on the same span
(89 of the 510 CUAD contracts hit a RecursionError, which stopped the whole ingestion batch).
"""

from __future__ import annotations

from souverain.documents import Page, ParsedDocument, Section
from souverain.ingest.chunker import chunk_document
from souverain.text.analysis import estimate_tokens


def test_long_sentence_of_short_words_is_split_within_the_limit() -> None:
    text = " ".join(f"word{i % 50}" for i in range(320)) + "."
    assert estimate_tokens(text) > 400  # over the hard limit as a whole
    doc = ParsedDocument("mem://long.txt", "long", [Page(1, text, [Section((), 0, len(text))])], "text")
    chunks = chunk_document(doc, target_tokens=180, overlap_tokens=30, max_tokens=400)
    assert chunks
    for c in chunks:
        assert text[c.char_start : c.char_end] == c.text
        assert estimate_tokens(c.text) <= 400
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(text)
