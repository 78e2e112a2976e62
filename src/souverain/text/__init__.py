"""Text analysis helpers shared by ingestion, the index and the answer engine."""
