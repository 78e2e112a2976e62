"""Credentials by reference: a source's settings hold ``env:NAME`` or ``file:/path``, never the secret.

The reference is what the database, the API and the UI see; the value is read only when a sync
starts, kept in memory for that sync, and never logged (``SecretStr``). A literal secret in a
setting that takes a reference is refused with a message saying how to write a reference.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, SecretStr

_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+)$")


class SecretError(ValueError):
    pass


def _check_ref(value: str) -> str:
    if not _REF.match(value):
        raise ValueError("must be a reference to a secret, 'env:VARIABLE_NAME' or 'file:/absolute/path', "
                         "not the secret itself")
    return value


SecretRef = Annotated[str, AfterValidator(_check_ref)]


class SecretResolver:
    """Resolves references from the process environment (or a given mapping) and files."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def resolve(self, ref: str) -> SecretStr:
        _check_ref(ref)
        kind, _, name = ref.partition(":")
        if kind == "env":
            value = self.environ.get(name)
            if value is None or value == "":
                raise SecretError(f"the environment variable {name} named by the source's credentials is not set")
            return SecretStr(value)
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretError(f"cannot read the credentials file {path}: {exc.strerror or exc}") from None
        return SecretStr(text.strip() if "PRIVATE KEY" not in text and not text.lstrip().startswith("{") else text)
