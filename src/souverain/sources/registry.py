"""Connector registry: one line per connector kind, imported lazily (heavy SDKs stay optional)."""

from __future__ import annotations

import importlib
from typing import Any

from .base import SourceError

CONNECTORS: dict[str, str] = {
    "local": "souverain.sources.local:LocalFolderConnector",
    "m365": "souverain.sources.m365:M365Connector",
    "gdrive": "souverain.sources.gdrive:GoogleDriveConnector",
    "webdav": "souverain.sources.webdav:WebDAVConnector",
    "s3": "souverain.sources.s3:S3Connector",
}

TITLES: dict[str, str] = {
    "local": "Local folder",
    "m365": "SharePoint / OneDrive (Microsoft 365)",
    "gdrive": "Google Drive",
    "webdav": "Nextcloud / ownCloud / WebDAV",
    "s3": "S3-compatible object storage",
}


def connector_class(kind: str) -> Any:
    target = CONNECTORS.get(kind)
    if target is None:
        raise SourceError("unknown_kind", f"unknown source kind {kind!r}; known: {', '.join(sorted(CONNECTORS))}")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
