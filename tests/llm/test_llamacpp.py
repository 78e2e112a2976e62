"""LlamaCppLLM against the real bundled GGUF models (SmolLM2 135M; Gemma 3 270M in one test)."""

from __future__ import annotations

import pytest

from souverain.llm.base import LLM, ChatMessage, GenerationParams, LLMError
from souverain.llm.llamacpp import LlamaCppLLM
from souverain.llm.registry import bundled_model_path, get_model_card, load_llm

pytestmark = pytest.mark.slow

QUESTION = [
    ChatMessage("system", "You are a concise assistant."),
    ChatMessage("user", "Name three colours of the rainbow."),
]
GREEDY = GenerationParams(max_tokens=16, temperature=0.0, seed=7)


@pytest.fixture(scope="module")
def smollm() -> LlamaCppLLM:
    return LlamaCppLLM(bundled_model_path("smollm2-135m-instruct"), n_ctx=1024, name="smollm2-135m-instruct")


def test_is_an_llm(smollm: LlamaCppLLM) -> None:
    assert isinstance(smollm, LLM)
    assert smollm.name == "smollm2-135m-instruct"
    assert smollm.context_window == 1024
    assert "smollm2-135m-instruct" in repr(smollm)


def test_complete_is_deterministic(smollm: LlamaCppLLM) -> None:
    first = smollm.complete(QUESTION, GREEDY)
    second = smollm.complete(QUESTION, GREEDY)
    assert first.text.strip()
    assert first.text == second.text
    assert first.model == "smollm2-135m-instruct"
    assert 0 < first.completion_tokens <= 16
    assert first.prompt_tokens > smollm.count_tokens("Name three colours of the rainbow.")
    assert first.finish_reason in {"stop", "length"}
    assert first.seconds > 0 and first.usage_exact


def test_stream_matches_complete(smollm: LlamaCppLLM) -> None:
    deltas = list(smollm.stream(QUESTION, GREEDY))
    assert len(deltas) > 1
    assert "".join(deltas) == smollm.complete(QUESTION, GREEDY).text


def test_abandoned_stream_releases_the_model(smollm: LlamaCppLLM) -> None:
    stream = smollm.stream(QUESTION, GREEDY)
    assert next(stream)
    stream.close()
    assert smollm.complete(QUESTION, GenerationParams(max_tokens=2)).completion_tokens <= 2


def test_stop_sequences_and_max_tokens(smollm: LlamaCppLLM) -> None:
    full = smollm.complete(QUESTION, GREEDY).text
    cut_at = full.strip().split()[1]
    stopped = smollm.complete(QUESTION, GenerationParams(max_tokens=16, stop=(cut_at,)))
    assert cut_at not in stopped.text
    assert stopped.finish_reason == "stop"
    short = smollm.complete(QUESTION, GenerationParams(max_tokens=3))
    assert short.completion_tokens == 3 and short.finish_reason == "length"


def test_count_tokens_uses_the_model_tokenizer(smollm: LlamaCppLLM) -> None:
    assert smollm.count_tokens("") == 0
    one = smollm.count_tokens("hello")
    assert one >= 1
    assert smollm.count_tokens("hello " * 50) >= 50
    assert smollm.count_tokens("hello world") == len(
        smollm._llama.tokenize(b"hello world", add_bos=False, special=False)
    )


def test_context_overflow_is_an_llm_error(smollm: LlamaCppLLM) -> None:
    huge = [ChatMessage("user", "word " * 2000)]
    with pytest.raises(LLMError, match="context"):
        smollm.complete(huge, GREEDY)
    with pytest.raises(LLMError, match="context"):
        list(smollm.stream(huge, GREEDY))


def test_no_messages_is_an_llm_error(smollm: LlamaCppLLM) -> None:
    with pytest.raises(LLMError, match="no messages"):
        smollm.complete([], GREEDY)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(LLMError, match="not found") as info:
        LlamaCppLLM(tmp_path / "nope.gguf")
    assert "nope.gguf" in str(info.value)


def test_directory_and_non_gguf_file(tmp_path) -> None:
    with pytest.raises(LLMError, match="not a file"):
        LlamaCppLLM(tmp_path)
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"this is not a model")
    with pytest.raises(LLMError, match="not a GGUF"):
        LlamaCppLLM(bogus)


def test_truncated_gguf_is_an_llm_error(tmp_path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(LLMError, match="could not load"):
        LlamaCppLLM(broken)


def test_gemma3_270m_through_the_registry() -> None:
    llm = load_llm("llamacpp", model="gemma3-270m", n_ctx=512)
    assert llm.name == "gemma3-270m"
    assert llm.context_window == 512
    reply = llm.complete(
        [ChatMessage("system", "Answer briefly."), ChatMessage("user", "The capital of France is")],
        GenerationParams(max_tokens=8),
    )
    assert reply.model == "gemma3-270m"
    assert 0 < reply.completion_tokens <= 8
    assert reply.prompt_tokens >= llm.count_tokens("Answer briefly. The capital of France is")
    assert get_model_card("gemma3-270m").licence == "Gemma Terms of Use"
