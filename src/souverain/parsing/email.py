"""E-mail (.eml, RFC 5322) via the standard library, attachments parsed recursively.

Design facts:
- Page 1 holds the headers (From, To, Cc, Subject, Date) and the body: the text/plain part if there is
  one, else the text/html part reduced to text.
- Each attachment goes through ``parse_document`` like any other file, with
  ``max_attachment_depth`` lowered by one (an attached e-mail's attachments count one level deeper).
  Its pages are appended as pages 2, 3, ... labelled ``attachment: <filename>`` (plus `` p. N`` when the
  attachment has several pages); its heading paths are prefixed with that label and its warnings
  with its file name.
- An attachment that fails to parse, or sits below the depth limit, adds a warning and nothing else:
  the e-mail itself still parses.
"""

from __future__ import annotations

import dataclasses
import email
from email import policy
from email.message import EmailMessage, Message

from souverain.documents import Page, ParsedDocument, RawDocument, Section
from souverain.parsing._text import PageBuilder, normalise_inline
from souverain.parsing.base import ParseError, ParseLimits, choose_title

_HEADERS = ("From", "To", "Cc", "Subject", "Date")


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except (ValueError, IndexError, TypeError):  # malformed header: keep going without it
        return ""
    return normalise_inline(str(value)) if value is not None else ""


def _body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        from souverain.parsing.html import html_to_text

        return html_to_text(content)
    return content


def _attachment_bytes(part: EmailMessage) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        message = inner[0] if isinstance(inner, list) else inner
        return message.as_bytes(policy=policy.default) if isinstance(message, Message) else b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


class EmlParser:
    formats = ("eml",)

    def parse(self, raw: RawDocument, limits: ParseLimits) -> ParsedDocument:
        from souverain.parsing.base import parse_document

        msg = email.message_from_bytes(raw.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        headers = {name.lower(): _header(msg, name) for name in _HEADERS}
        builder = PageBuilder()
        builder.add("\n".join(f"{name}: {headers[name.lower()]}" for name in _HEADERS if headers[name.lower()]),
                    ("Headers",))
        builder.add(_body_text(msg), ())
        pages = [builder.build(1, label="e-mail")]
        warnings: list[str] = []
        child_limits = dataclasses.replace(limits, max_attachment_depth=limits.max_attachment_depth - 1)
        for index, part in enumerate(msg.iter_attachments(), start=1):
            name = normalise_inline(part.get_filename() or "") or f"attachment-{index}"
            if limits.max_attachment_depth <= 0:
                warnings.append(f"attachment {name!r} skipped: nested deeper than max_attachment_depth")
                continue
            attachment = RawDocument(uri=f"{raw.uri}#attachment-{index}/{name}", data=_attachment_bytes(part),
                                     title=name, source=raw.source, mime_type=part.get_content_type(),
                                     modified_at=raw.modified_at, principals=raw.principals)
            try:
                parsed = parse_document(attachment, child_limits)
            except ParseError as exc:
                warnings.append(f"attachment {name!r} skipped: {exc.detail} ({exc.reason})")
                continue
            label = f"attachment: {name}"
            for sub in parsed.pages:
                sections = [Section((label, *s.heading_path), s.char_start, s.char_end, s.kind) for s in sub.sections]
                page_label = f"{label} p. {sub.number}" if len(parsed.pages) > 1 else label
                pages.append(Page(len(pages) + 1, sub.text, sections, page_label))
            warnings.extend(f"attachment {name!r}: {w}" for w in parsed.warnings)
        metadata = {k: v for k, v in headers.items() if v}
        metadata["attachment_count"] = str(sum(1 for _ in msg.iter_attachments()))
        if len(pages) > limits.max_pages:
            warnings.append(f"attachments cut at {limits.max_pages} pages")
            pages = pages[: limits.max_pages]
        return ParsedDocument(raw.uri, choose_title(raw, headers["subject"]), pages, "eml", metadata, warnings)
