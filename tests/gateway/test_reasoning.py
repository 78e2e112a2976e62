"""The <think> split: whole texts, and the same result however the text is cut into chunks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from souverain.gateway.reasoning import ReasoningSplitter, split_reasoning

CASES = [
    ("plain answer", ("plain answer", "")),
    ("<think>why</think>\n\nbecause", ("because", "why")),
    ("<think>a</think>b<think>c</think>d", ("bd", "ac")),
    ("<think>never closed", ("", "never closed")),
    ("x < y and <thin ice", ("x < y and <thin ice", "")),  # a look-alike is text, released at the end
    ("before <think>mid</think> after", ("before after", "mid")),
    ("<think></think>", ("", "")),
    ("answer ends with <", ("answer ends with <", "")),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_whole_text(text: str, expected: tuple[str, str]) -> None:
    assert split_reasoning(text) == expected


def _chunked(text: str, cuts: list[int]) -> tuple[str, str]:
    splitter = ReasoningSplitter()
    content, reasoning = [], []
    bounds = [0, *sorted(set(cuts)), len(text)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        c, r = splitter.feed(text[a:b])
        content.append(c)
        reasoning.append(r)
    c, r = splitter.flush()
    return "".join(content) + c, "".join(reasoning) + r


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_every_single_cut_gives_the_same_split(text: str, expected: tuple[str, str]) -> None:
    for cut in range(len(text) + 1):
        assert _chunked(text, [cut]) == expected, cut


def test_character_by_character_with_tags_split_across_chunks() -> None:
    text = "<think>The user asks 2+2.</think>\n\nThe answer is 4."
    assert _chunked(text, list(range(len(text)))) == ("The answer is 4.", "The user asks 2+2.")


def test_holds_back_only_a_possible_tag() -> None:
    s = ReasoningSplitter()
    assert s.feed("Hello <th") == ("Hello ", "")  # "<th" might open a block
    assert s.feed("ere") == ("<there", "")         # it did not
    assert s.feed("<think>deep") == ("", "deep")
    assert s.feed(" thought</thi") == ("", " thought")
    assert s.feed("nk>  done") == ("done", "")
    assert s.flush() == ("", "")


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.sampled_from(["<think>", "</think>", "<", "th", "ink>", "a", " ", "\n", "b c", "</"]),
                      max_size=12),
       cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=6))
def test_chunking_never_changes_the_result(parts: list[str], cuts: list[int]) -> None:
    text = "".join(parts)
    assert _chunked(text, [c for c in cuts if c <= len(text)]) == split_reasoning(text)
