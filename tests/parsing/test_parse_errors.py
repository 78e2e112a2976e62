"""Bad input gets the right ParseError subclass and a message that names the file and the problem."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from souverain.documents import RawDocument
from souverain.parsing import (
    CorruptDocument,
    EmptyFile,
    EncryptedDocument,
    FileTooLarge,
    ParseError,
    ParseLimits,
    UnsupportedFormat,
    ZipBombSuspected,
    parse_document,
)

from ._helpers import EXAMPLES, check_invariants, parse_bytes


def simple_pdf(*pages: str, encrypt: bool = False) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    for text in pages:
        pdf.add_page()
        if text:
            pdf.set_font("Helvetica", size=12)
            pdf.cell(text=text)
        else:  # a "scanned" page: only a drawn rectangle, no text objects
            pdf.rect(20, 20, 120, 80, style="F")
    if encrypt:
        pdf.set_encryption(owner_password="owner", user_password="s3cret")
    return bytes(pdf.output())


def test_error_hierarchy_and_reason_codes() -> None:
    reasons = {cls: cls.reason for cls in (UnsupportedFormat, FileTooLarge, EmptyFile, EncryptedDocument,
                                           CorruptDocument, ZipBombSuspected)}
    assert all(issubclass(cls, ParseError) for cls in reasons)
    assert len(set(reasons.values())) == len(reasons)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(EmptyFile, match=r"^empty\.pdf: the file is empty \(0 bytes\)"):
        parse_document(RawDocument(uri=str(path), data=path.read_bytes()))


def test_unknown_binary_type_lists_supported_extensions() -> None:
    with pytest.raises(UnsupportedFormat) as err:
        parse_bytes("blob.bin", os.urandom(4096))
    assert str(err.value).startswith("blob.bin: .bin files are not supported")
    assert "pdf" in str(err.value) and "docx" in str(err.value)


def test_file_over_size_limit() -> None:
    with pytest.raises(FileTooLarge, match=r"notes\.txt: the file is .* MiB, above the .* limit"):
        parse_bytes("notes.txt", b"x" * 5000, ParseLimits(max_bytes=4096))


def test_corrupt_pdf() -> None:
    with pytest.raises(CorruptDocument) as err:
        parse_bytes("broken.pdf", b"%PDF-1.7\n" + os.urandom(3000) + b"\n%%EOF\n")
    assert err.value.reason == "corrupt"
    assert "broken.pdf: the PDF is damaged" in str(err.value)


def test_truncated_pdf() -> None:
    data = (EXAMPLES / "employee-handbook.pdf").read_bytes()
    with pytest.raises(CorruptDocument) as err:
        parse_bytes("handbook.pdf", data[: len(data) // 2])
    assert err.value.reason == "truncated"
    assert "truncated" in str(err.value)


def test_encrypted_pdf() -> None:
    with pytest.raises(EncryptedDocument, match="password-protected"):
        parse_bytes("secret.pdf", simple_pdf("Top secret salary data", encrypt=True))


def test_scanned_pdf_without_text_parses_with_warning() -> None:
    doc = parse_bytes("scan.pdf", simple_pdf(""))
    assert doc.format == "pdf" and len(doc.pages) == 1
    assert not doc.has_text and doc.pages[0].text == "" and doc.pages[0].sections == []
    assert doc.warnings == ["page 1 has no extractable text (scanned? needs OCR)"]


def test_pdf_keeps_empty_pages_so_page_numbers_match_the_viewer() -> None:
    doc = parse_bytes("mixed.pdf", simple_pdf("First page", "", "Third page"))
    assert [p.text for p in doc.pages] == ["First page", "", "Third page"]
    assert doc.warnings == ["page 2 has no extractable text (scanned? needs OCR)"]
    check_invariants(doc)


def test_pdf_over_page_limit() -> None:
    with pytest.raises(FileTooLarge, match="3 pages, above the 2 page limit"):
        parse_bytes("long.pdf", simple_pdf("a", "b", "c"), ParseLimits(max_pages=2))


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_docx_zip_bomb_by_ratio() -> None:
    bomb = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"\0" * (8 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(ZipBombSuspected, match=r"word/document\.xml.*expands \d+x, above the 100x limit"):
        parse_bytes("bomb.docx", bomb)


def test_docx_zip_bomb_by_total_size() -> None:
    members = {"word/document.xml": os.urandom(300_000), "word/media/a.bin": os.urandom(300_000)}
    with pytest.raises(ZipBombSuspected, match="would expand to"):
        parse_bytes("big.docx", zip_bytes(members), ParseLimits(max_uncompressed_bytes=500_000))


def test_xlsx_is_checked_for_zip_bombs_too() -> None:
    bomb = zip_bytes({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b" " * (8 * 1024 * 1024)})
    with pytest.raises(ZipBombSuspected):
        parse_bytes("bomb.xlsx", bomb)


def test_damaged_docx_zip() -> None:
    good = (EXAMPLES / "it-security-policy.docx").read_bytes()
    with pytest.raises(CorruptDocument, match="not a valid ZIP container"):
        parse_bytes("damaged.docx", good[:2000])


def test_docx_with_missing_document_part_is_corrupt_not_a_crash() -> None:
    fake = zip_bytes({"word/document.xml": b"<not-closed", "[Content_Types].xml": b"<Types/>"})
    with pytest.raises(CorruptDocument, match="damaged or malformed"):
        parse_bytes("fake.docx", fake)


def test_encrypted_office_file() -> None:
    # password-protected OOXML files are OLE compound files holding an "EncryptionInfo" stream
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "EncryptionInfo".encode("utf-16-le") + bytes(1000)
    with pytest.raises(EncryptedDocument, match=r"locked\.xlsx: the XLSX file is password-protected"):
        parse_bytes("locked.xlsx", ole)


def test_extension_and_content_must_agree() -> None:
    docx = (EXAMPLES / "it-security-policy.docx").read_bytes()
    with pytest.raises(CorruptDocument, match=r"\.pdf extension says PDF but the content is a DOCX file") as err:
        parse_bytes("report.pdf", docx)
    assert err.value.reason == "format_mismatch"
    with pytest.raises(CorruptDocument, match="content is not a DOCX file"):
        parse_bytes("letter.docx", b"Dear team, this is plain text.")
    with pytest.raises(CorruptDocument, match="content is a PDF file"):
        parse_bytes("notes.txt", simple_pdf("hello"))


def test_files_without_extension_are_detected_by_content() -> None:
    assert parse_bytes("download", simple_pdf("Hello PDF")).format == "pdf"
    assert parse_bytes("download", (EXAMPLES / "travel-expenses.xlsx").read_bytes()).format == "xlsx"
    assert parse_bytes("README", b"Plain notes\n\nSecond paragraph").format == "text"
    assert parse_bytes("page", b"<!DOCTYPE html><html><body><h1>Hi</h1></body></html>").format == "html"
    assert parse_bytes("blob", b"# Title", mime_type="text/markdown").format == "markdown"
    with pytest.raises(UnsupportedFormat):
        parse_bytes("blob", os.urandom(2048))
    with pytest.raises(UnsupportedFormat, match="legacy Office"):
        parse_bytes("old", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1000))


def test_binary_data_with_text_extension_is_corrupt() -> None:
    with pytest.raises(CorruptDocument, match="save the file as UTF-8|does not look like text"):
        parse_bytes("notes.txt", os.urandom(4096))


def test_office_file_with_large_leading_media_is_still_detected() -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Body text after a big image")
    buffer = io.BytesIO()
    document.save(buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, zipfile.ZipFile(out, "w") as dst:
        dst.writestr("word/media/big.bin", os.urandom(100_000))  # stored first, pushes document.xml back
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
    doc = parse_bytes("download", out.getvalue())
    assert doc.format == "docx" and doc.pages[0].text == "Body text after a big image"
