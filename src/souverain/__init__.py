"""Souverain: a self-hosted, sovereign AI assistant."""

__version__ = "0.1.0"
