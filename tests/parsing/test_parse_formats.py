"""Format details not covered by the example corpus: PPTX, encodings, CSV, e-mail edge cases."""

from __future__ import annotations

import io
from email.message import EmailMessage

from souverain.parsing import ParseLimits

from ._helpers import EXAMPLES, check_invariants, parse_bytes


def make_pptx() -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])  # title and content
    slide.shapes.title.text = "Q3 warehouse results"
    slide.placeholders[1].text_frame.text = "Throughput up 18 percent\nPicking errors down to 0.4 percent"
    slide.notes_slide.notes_text_frame.text = "Mention the Yokohama pilot."
    table_slide = prs.slides.add_slide(prs.slide_layouts[5])  # title only
    table_slide.shapes.title.text = "Fleet by site"
    shape = table_slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2))
    for r, row in enumerate([("Site", "Robots"), ("Hamburg", "42"), ("Lyon", "17")]):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    prs.slides.add_slide(prs.slide_layouts[6])  # blank
    out = io.BytesIO()
    prs.save(out)
    return out.getvalue()


def test_pptx_one_page_per_slide_with_title_label_tables_and_notes() -> None:
    doc = parse_bytes("results.pptx", make_pptx())
    check_invariants(doc)
    assert doc.format == "pptx" and doc.title == "Q3 warehouse results"
    first, second, third = doc.pages
    assert first.label == "Q3 warehouse results"
    assert first.text == ("Q3 warehouse results\n\nThroughput up 18 percent\nPicking errors down to 0.4 percent"
                          "\n\nNotes: Mention the Yokohama pilot.")
    assert first.sections[-1].heading_path == ("Q3 warehouse results", "Notes")
    assert second.label == "Fleet by site"
    assert "Site | Robots\nHamburg | 42\nLyon | 17" in second.text
    assert [s.kind for s in second.sections] == ["text", "table"]
    assert third.label == "slide 3" and third.text == ""
    assert doc.warnings == ["slide 3 has no text"]


def test_docx_merged_cells_are_not_repeated() -> None:
    import docx

    document = docx.Document()
    document.add_heading("Rates", level=1)
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Zone A"
    table.cell(0, 2).text = "EUR 10"
    for c, value in enumerate(("x", "y", "z")):
        table.cell(1, c).text = value
    out = io.BytesIO()
    document.save(out)
    doc = parse_bytes("rates.docx", out.getvalue())
    assert doc.pages[0].text == "Rates\n\nZone A | EUR 10\nx | y | z"
    assert doc.title == "Rates"


def test_cp1252_french_text_is_detected() -> None:
    text = "Le télétravail est autorisé deux jours par semaine. Indemnité : 2,70 € par jour, « réponse non attendue »."
    doc = parse_bytes("note.txt", text.encode("cp1252"))
    assert doc.pages[0].text == text
    assert doc.metadata["encoding"] == "cp1252" and doc.warnings == []


def test_utf8_with_a_few_bad_bytes_is_decoded_with_replacement_and_a_warning() -> None:
    data = ("Grüße aus München, schöne Straße. " * 4).encode() + b"broken \xff byte"
    doc = parse_bytes("mostly-utf8.txt", data)
    assert doc.pages[0].text.endswith("broken \ufffd byte")
    assert "München" in doc.pages[0].text
    assert doc.warnings == ["1 invalid UTF-8 byte sequence(s) replaced by U+FFFD"]


def test_other_encodings_boms_and_normalisation() -> None:
    ja = "フォークリフトの最高速度は時速10キロメートルとする。安全靴を着用すること。"
    assert parse_bytes("ja.txt", ja.encode("shift_jis")).pages[0].text == ja
    assert parse_bytes("bom.txt", "\ufeffHallo Welt".encode("utf-16")).pages[0].text == "Hallo Welt"
    decomposed = "Cafe\u0301  au\tlait\r\n\r\n\r\n\r\nsecond   paragraph  "
    doc = parse_bytes("nfc.txt", decomposed.encode())
    assert doc.pages[0].text == "Café au lait\n\nsecond paragraph"
    check_invariants(doc)


def test_csv_sniffs_delimiter_and_keeps_header() -> None:
    data = "Name\tRole\tExtension\nMarta Jensen\tCompliance Officer\t2250\n".encode("cp1252")
    doc = parse_bytes("contacts.csv", data)
    assert doc.pages[0].text == (
        "Name | Role | Extension\nName: Marta Jensen | Role: Compliance Officer | Extension: 2250"
    )
    assert doc.metadata["delimiter"] == "\t" and doc.pages[0].sections[0].kind == "table"


def email_with(*attachments: tuple[str, bytes, str], html_body: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "Report"
    if html_body:
        msg.set_content(html_body, subtype="html")
    else:
        msg.set_content("See attached.")
    for name, data, mime in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def test_eml_failed_attachment_warns_but_the_email_parses() -> None:
    msg = email_with(("broken.pdf", b"%PDF-1.4 garbage", "application/pdf"),
                     ("notes.txt", b"Meeting on Tuesday", "text/plain"))
    doc = parse_bytes("mail.eml", msg.as_bytes())
    assert [p.label for p in doc.pages] == ["e-mail", "attachment: notes.txt"]
    assert len(doc.warnings) == 1
    assert doc.warnings[0].startswith("attachment 'broken.pdf' skipped: the PDF is")


def test_eml_multi_page_attachment_labels_and_html_body() -> None:
    handbook = (EXAMPLES / "employee-handbook.pdf").read_bytes()
    msg = email_with(("handbook.pdf", handbook, "application/pdf"),
                     html_body="<html><body><p>Hello <b>team</b>,</p><script>x()</script><p>bye</p></body></html>")
    doc = parse_bytes("mail.eml", msg.as_bytes())
    check_invariants(doc)
    assert doc.pages[0].text.endswith("Hello team,\n\nbye")
    assert [p.label for p in doc.pages[1:3]] == ["attachment: handbook.pdf p. 1", "attachment: handbook.pdf p. 2"]
    assert len(doc.pages) == 7
    assert "25 days of paid annual leave" in doc.pages[3].text


def test_eml_attachment_depth_limit() -> None:
    inner = email_with(("deep.txt", b"deepest text", "text/plain"))
    middle = email_with()
    middle.add_attachment(inner)  # message/rfc822
    outer = email_with()
    outer.add_attachment(middle)
    doc = parse_bytes("outer.eml", outer.as_bytes(), ParseLimits(max_attachment_depth=1))
    assert len(doc.pages) == 2  # outer body + the middle e-mail's body
    assert any("nested deeper than max_attachment_depth" in w for w in doc.warnings)
    full = parse_bytes("outer.eml", outer.as_bytes())
    assert full.pages[-1].text == "deepest text"
