"""Assistant: prompts, answer engine, citation extraction and verification."""
