"""PDF via pypdfium2: one ``Page`` per PDF page, numbered from 1 as a viewer shows them.

Design facts:
- Text comes from ``PdfTextPage.get_text_range`` (PDFium's reading order, line breaks kept). Each page
  and text page is closed right after use so memory stays flat on long documents; no rendering, no
  per-character work (hundreds of pages per second on one core).
- A page without extractable text is kept as an empty page (page numbers must match the viewer) and
  reported in ``warnings``: it is probably scanned and needs OCR.
- A page PDFium cannot load is kept empty with a warning; a document PDFium cannot open is
  ``CorruptDocument``, a password-protected one ``EncryptedDocument``.
"""

from __future__ import annotations

from souverain.documents import Page, ParsedDocument, RawDocument, Section
from souverain.parsing._text import normalise
from souverain.parsing.base import CorruptDocument, EncryptedDocument, FileTooLarge, ParseLimits, choose_title

_PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD


class PdfParser:
    formats = ("pdf",)

    def parse(self, raw: RawDocument, limits: ParseLimits) -> ParsedDocument:
        import pypdfium2 as pdfium

        try:
            pdf = pdfium.PdfDocument(raw.data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == _PASSWORD_ERROR or "password" in str(exc).lower():
                raise EncryptedDocument(raw.uri, "the PDF is password-protected; provide a copy without a password"
                                        ) from exc
            if b"%%EOF" not in raw.data[-1024:]:
                raise CorruptDocument(raw.uri, "the PDF is truncated (no %%EOF end marker): the download or copy "
                                      f"was probably cut off ({exc})", reason="truncated") from exc
            raise CorruptDocument(raw.uri, f"the PDF is damaged and cannot be opened ({exc})") from exc
        try:
            count = len(pdf)
            if count > limits.max_pages:
                raise FileTooLarge(raw.uri, f"the PDF has {count} pages, above the {limits.max_pages} page limit "
                                   "(ParseLimits.max_pages)")
            metadata = {k.lower(): str(v).strip() for k, v in pdf.get_metadata_dict(skip_empty=True).items()}
            pages, warnings, empty = [], [], []
            for index in range(count):
                text = ""
                try:
                    page = pdf[index]
                except pdfium.PdfiumError:
                    warnings.append(f"page {index + 1} could not be read (damaged page)")
                else:
                    try:
                        textpage = page.get_textpage()
                        try:
                            text = normalise(textpage.get_text_range())
                        finally:
                            textpage.close()
                    finally:
                        page.close()
                    if not text:
                        empty.append(index + 1)
                sections = [Section((), 0, len(text))] if text else []
                pages.append(Page(number=index + 1, text=text, sections=sections))
        finally:
            pdf.close()
        warnings.extend(f"page {n} has no extractable text (scanned? needs OCR)" for n in empty[:20])
        if len(empty) > 20:
            warnings.append(f"{len(empty) - 20} more pages have no extractable text (scanned? needs OCR)")
        metadata["page_count"] = str(count)
        title = choose_title(raw, metadata.get("title"))
        return ParsedDocument(raw.uri, title, pages, "pdf", metadata, warnings)
