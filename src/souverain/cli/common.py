"""Shared CLI plumbing: settings from the environment plus ``--data-dir``, JSON output, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from ..service import Souverain
from ..settings import Settings


class State:
    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir
        self._app: Souverain | None = None

    def settings(self, **overrides: Any) -> Settings:
        try:
            if self.data_dir is not None:
                overrides["data_dir"] = self.data_dir
            return Settings(**overrides)
        except ValidationError as exc:
            fail(f"invalid configuration: {exc}")
            raise  # unreachable

    def app(self) -> Souverain:
        if self._app is None:
            self._app = Souverain(self.settings())
        return self._app


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
