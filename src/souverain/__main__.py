"""``python -m souverain`` runs the CLI."""

from .cli import main

main()
