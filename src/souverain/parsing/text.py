"""Plain text, and the text decoding every text-based parser (CSV, HTML, Markdown, e-mail) shares.

Decoding policy (``decode_text``), in order:
1. A byte-order mark decides (UTF-8, UTF-16, UTF-32); bytes that do not decode under it are corrupt.
2. Strict UTF-8.
3. *Mostly* UTF-8: the file holds valid multi-byte UTF-8 characters and at most one invalid byte per
   ten valid non-ASCII characters. This is a UTF-8 file with a few damaged bytes: it is decoded with
   U+FFFD replacement characters and a warning says how many.
4. Windows-1252, when every non-ASCII character then is a Latin letter or common punctuation and
   they are a minority of the letters (the usual legacy Western European file; charset detection
   alone misreads short ones).
5. charset-normalizer picks another legacy encoding (Shift_JIS, cp1251, ...). The encoding used is
   reported in ``metadata["encoding"]``.
6. Nothing fits, or the decoded text is mostly control characters: ``CorruptDocument`` (binary data
   or an unknown encoding), never silently garbled text.
"""

from __future__ import annotations

import codecs
import re

from souverain.documents import ParsedDocument, RawDocument
from souverain.parsing._text import PageBuilder
from souverain.parsing.base import CorruptDocument, ParseLimits, choose_title

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_BAD_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def decode_text(raw: RawDocument, warnings: list[str]) -> tuple[str, str]:
    """Decode ``raw.data`` following the module's policy; return (text, encoding name)."""
    data = raw.data
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(raw, data.decode(encoding), encoding), encoding
            except UnicodeDecodeError as exc:
                raise CorruptDocument(raw.uri, f"the file starts with a {encoding} byte-order mark but byte "
                                      f"{exc.start} is not valid {encoding}") from exc
    try:
        return _checked(raw, data.decode("utf-8"), "utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.count("\xef\xbf\xbd".encode("latin-1"))
    valid_non_ascii = sum(1 for ch in text if ord(ch) > 127 and ch != "\ufffd")
    if valid_non_ascii > 0 and bad * 10 <= valid_non_ascii:
        warnings.append(f"{bad} invalid UTF-8 byte sequence(s) replaced by U+FFFD")
        return _checked(raw, text, "utf-8"), "utf-8 (with replacements)"
    western = _as_western(data)
    if western is not None:
        return _checked(raw, western, "cp1252"), "cp1252"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise CorruptDocument(raw.uri, "the text encoding could not be detected (binary data, or an unknown "
                              "encoding); save the file as UTF-8")
    return _checked(raw, str(best), best.encoding), best.encoding


_WESTERN_EXTRA = frozenset("ŒœŠšŸŽž€‚„…‘’“”–—•«»°§ªº²³¹½¼¾×÷·¿¡")


def _as_western(data: bytes) -> str | None:
    """cp1252 text if it reads like a Western European language (charset detection is unreliable on
    short texts such as "Été"): every non-ASCII character is a Latin letter or common punctuation,
    and non-ASCII characters are a minority of the letters."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    non_ascii = [ch for ch in text if ord(ch) > 127]
    letters = sum(1 for ch in text if ch.isalpha())
    if not all(("\u00c0" <= ch <= "\u00ff" and ch.isalpha()) or ch in _WESTERN_EXTRA for ch in non_ascii):
        return None
    return text if len(non_ascii) * 3 <= letters else None


def _checked(raw: RawDocument, text: str, encoding: str) -> str:
    if "\x00" in text or len(_BAD_CONTROL.findall(text[:100_000])) > max(2, len(text[:100_000]) // 100):
        raise CorruptDocument(raw.uri, f"the content does not look like text (control characters after decoding "
                              f"as {encoding}); is it a binary file with a text extension?")
    return text


class TextParser:
    formats = ("text",)

    def parse(self, raw: RawDocument, limits: ParseLimits) -> ParsedDocument:
        warnings: list[str] = []
        text, encoding = decode_text(raw, warnings)
        builder = PageBuilder()
        for paragraph in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
            builder.add(paragraph)
        page = builder.build(1)
        first_line = page.text.split("\n", 1)[0].strip()
        title = choose_title(raw)
        metadata = {"encoding": encoding}
        if first_line:
            metadata["first_line"] = first_line[:200]
        if not page.text:
            warnings.append("the file holds no text")
        return ParsedDocument(raw.uri, title, [page], "text", metadata, warnings)
