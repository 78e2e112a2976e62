"""Parsing: bytes from a source in, ``ParsedDocument`` (pages, sections, provenance) out.

Call ``parse_document(raw, limits)``; see ``base`` for detection rules and the error codes.
"""

from souverain.parsing.base import (
    SUPPORTED_EXTENSIONS,
    SUPPORTED_FORMATS,
    CorruptDocument,
    EmptyFile,
    EncryptedDocument,
    FileTooLarge,
    ParseError,
    ParseLimits,
    Parser,
    UnsupportedFormat,
    ZipBombSuspected,
    detect_format,
    get_parser,
    parse_document,
)

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "SUPPORTED_FORMATS",
    "CorruptDocument",
    "EmptyFile",
    "EncryptedDocument",
    "FileTooLarge",
    "ParseError",
    "ParseLimits",
    "Parser",
    "UnsupportedFormat",
    "ZipBombSuspected",
    "detect_format",
    "get_parser",
    "parse_document",
]
