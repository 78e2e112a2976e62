"""Ingestion: chunking, the pipeline, background embedding and reports."""
