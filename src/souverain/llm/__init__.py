"""Chat models behind one small Protocol (see base.py); ``registry.load_llm`` builds the configured one."""

from .base import LLM, ChatMessage, Completion, GenerationParams, LLMError

__all__ = ["LLM", "ChatMessage", "Completion", "GenerationParams", "LLMError"]
