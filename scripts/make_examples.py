"""Generate the example corpus in examples/ for the fictional company Northwind Robotics.

    python scripts/make_examples.py [OUTPUT_DIR]      (default: examples/, plus docs/example-questions.md)

Output is deterministic: fixed dates in document metadata, fixed ZIP timestamps, a fixed MIME boundary
and PDF file id, so re-running the script produces byte-identical files. The texts are kept in
``examples_content.py`` next to this script so this file stays about *how* each format is written.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import examples_content as C  # noqa: E402

FIXED = dt.datetime(2025, 3, 1, 9, 0, 0, tzinfo=dt.UTC)
ZIP_DATE = (2025, 3, 1, 9, 0, 0)
_CORE_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:(?:created|modified)>)")


def deterministic_zip(data: bytes) -> bytes:
    """Rewrite an Office ZIP with fixed timestamps and fixed created/modified dates in docProps/core.xml."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _CORE_DATES.sub(rb"\g<1>2025-03-01T09:00:00Z\g<2>", body)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=ZIP_DATE), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


# ---------------------------------------------------------------- PDF


def make_handbook_pdf() -> bytes:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    class Handbook(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 10, f"Northwind Robotics Employee Handbook v3.2 - page {self.page_no()}", align="C")

    pdf = Handbook(format="A4")
    pdf.set_title("Northwind Robotics Employee Handbook")
    pdf.set_author("Northwind Robotics GmbH, People & Culture")
    pdf.set_creation_date(FIXED)
    pdf.file_id = lambda: "<4E57524F424F544943534841424F4F4B> <4E57524F424F544943534841424F4F4B>"
    for heading, paragraphs in C.HANDBOOK_PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
        for paragraph in paragraphs:
            if paragraph.startswith("## "):
                pdf.set_font("Helvetica", "B", 12)
                pdf.multi_cell(0, 7, paragraph[3:], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            else:
                pdf.set_font("Helvetica", size=11)
                pdf.multi_cell(0, 6, paragraph, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(3)
    return bytes(pdf.output())


# ---------------------------------------------------------------- DOCX / PPTX


def make_docx(blocks: list[tuple[str, object]], title: str, author: str, language: str) -> bytes:
    """blocks: ("title"|"h1"|"h2"|"p"|"bullet", text) or ("table", rows)."""
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title, props.author, props.language = title, author, language
    props.last_modified_by, props.revision = author, 1
    props.created = props.modified = FIXED.replace(tzinfo=None)
    for kind, content in blocks:
        if kind == "title":
            document.add_heading(str(content), level=0)
        elif kind in ("h1", "h2"):
            document.add_heading(str(content), level=int(kind[1]))
        elif kind == "bullet":
            document.add_paragraph(str(content), style="List Bullet")
        elif kind == "table":
            rows = list(content)  # type: ignore[call-overload]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
        else:
            document.add_paragraph(str(content))
    out = io.BytesIO()
    document.save(out)
    return deterministic_zip(out.getvalue())


# ---------------------------------------------------------------- XLSX


def make_travel_xlsx() -> bytes:
    import openpyxl
    from openpyxl.styles import Font

    workbook = openpyxl.Workbook()
    workbook.properties.title = "Travel expenses 2025"
    workbook.properties.creator = "Northwind Robotics Finance"
    workbook.properties.created = workbook.properties.modified = FIXED.replace(tzinfo=None)
    first = True
    for sheet_name, rows in C.TRAVEL_SHEETS:
        sheet = workbook.active if first else workbook.create_sheet()
        first = False
        assert sheet is not None
        sheet.title = sheet_name
        for row in rows:
            sheet.append(list(row))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    out = io.BytesIO()
    workbook.save(out)
    return deterministic_zip(out.getvalue())


# ---------------------------------------------------------------- e-mail


def make_supplier_eml() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Karin Holm <karin.holm@baltic-motion.example>"
    msg["To"] = "Procurement <procurement@northwind-robotics.example>"
    msg["Cc"] = "Tomasz Nowak <tomasz.nowak@northwind-robotics.example>"
    msg["Subject"] = "Updated price list for BM drive units from 1 April 2025"
    msg["Date"] = format_datetime(dt.datetime(2025, 3, 4, 10, 15, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    msg["Message-ID"] = "<20250304101500.4711@baltic-motion.example>"
    msg.set_content(C.SUPPLIER_BODY)
    msg.add_attachment(C.SUPPLIER_PRICE_CSV.encode("utf-8"), maintype="text", subtype="csv",
                       filename="price-list-2025.csv")
    msg.add_attachment(C.SUPPLIER_TERMS_TXT.encode("utf-8"), maintype="text", subtype="plain",
                       filename="delivery-terms.txt")
    msg.set_boundary("==northwind-example-boundary==")
    return msg.as_bytes()


# ---------------------------------------------------------------- main


def build_all() -> dict[str, bytes]:
    return {
        "employee-handbook.pdf": make_handbook_pdf(),
        "it-security-policy.docx": make_docx(C.SECURITY_POLICY, "IT Security Policy", "Jonas Berger", "en-GB"),
        "travel-expenses.xlsx": make_travel_xlsx(),
        "product-faq.html": C.PRODUCT_FAQ_HTML.encode("utf-8"),
        "release-notes.md": C.RELEASE_NOTES_MD.encode("utf-8"),
        "supplier-update.eml": make_supplier_eml(),
        "politique-teletravail-fr.docx": make_docx(C.TELETRAVAIL_FR, "Politique de télétravail", "Claire Martin",
                                                   "fr-FR"),
        "datenschutz-richtlinie-de.html": C.DATENSCHUTZ_DE_HTML.encode("utf-8"),
        "anzen-kitei-ja.md": C.ANZEN_KITEI_JA_MD.encode("utf-8"),
    }


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    target = Path(argv[1]) if len(argv) > 1 else root / "examples"
    target.mkdir(parents=True, exist_ok=True)
    for name, data in build_all().items():
        (target / name).write_bytes(data)
        print(f"{name:34} {len(data):>8,} bytes")
    if len(argv) <= 1:  # the questions live outside examples/ so that `make run` does not ingest them
        (root / "docs").mkdir(exist_ok=True)
        (root / "docs" / "example-questions.md").write_text(C.QUESTIONS_MD, encoding="utf-8")
        print("docs/example-questions.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
