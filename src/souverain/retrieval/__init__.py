"""Retrieval: hybrid fusion of lexical and dense search."""
