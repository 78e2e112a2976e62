"""Every example document parses with the pages, headings, tables and provenance a user relies on."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from souverain.documents import Page, Section

from ._helpers import EXAMPLES

EXPECTED = {
    "employee-handbook.pdf": ("pdf", 6, "Northwind Robotics Employee Handbook"),
    "it-security-policy.docx": ("docx", 1, "IT Security Policy"),
    "travel-expenses.xlsx": ("xlsx", 2, "Travel expenses 2025"),
    "product-faq.html": ("html", 1, "Northwind R2 warehouse robot - FAQ"),
    "release-notes.md": ("markdown", 1, "NWOS fleet software release notes"),
    "supplier-update.eml": ("eml", 3, "Updated price list for BM drive units from 1 April 2025"),
    "politique-teletravail-fr.docx": ("docx", 1, "Politique de télétravail"),
    "datenschutz-richtlinie-de.html": ("html", 1, "Datenschutz-Richtlinie der Northwind Robotics GmbH"),
    "anzen-kitei-ja.md": ("markdown", 1, "倉庫安全規程"),
}


def section_of(page: Page, phrase: str) -> Section:
    index = page.text.index(phrase)
    return next(s for s in page.sections if s.char_start <= index < s.char_end)


def test_examples_folder_holds_exactly_the_expected_files() -> None:
    assert sorted(p.name for p in EXAMPLES.iterdir()) == sorted(EXPECTED)
    assert all(p.stat().st_size < 200_000 for p in EXAMPLES.iterdir())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_parses_with_format_pages_and_title(example, name: str) -> None:
    fmt, pages, title = EXPECTED[name]
    doc = example(name)
    assert (doc.format, len(doc.pages), doc.title) == (fmt, pages, title)
    assert doc.has_text and doc.warnings == []
    assert all(page.text for page in doc.pages)


def test_pdf_one_page_per_pdf_page_with_distinct_topics(example) -> None:
    doc = example("employee-handbook.pdf")
    assert doc.metadata["author"] == "Northwind Robotics GmbH, People & Culture"
    assert "25 days of paid annual leave" in doc.pages[2].text
    assert "36 months of parental leave" in doc.pages[3].text
    assert "acknowledgement within 7 days" in doc.pages[4].text
    assert doc.pages[0].text.startswith("Welcome to Northwind Robotics")
    assert doc.pages[5].text.endswith("page 6")


def test_docx_headings_paths_and_interleaved_tables(example) -> None:
    page = example("it-security-policy.docx").pages[0]
    table = section_of(page, "Minimum password length | 14 characters")
    assert table.kind == "table"
    assert table.heading_path == ("IT Security Policy", "2 Passwords and authentication")
    laptops = section_of(page, "full disk encryption")
    assert laptops.heading_path == ("IT Security Policy", "3 Devices", "3.1 Laptops")
    assert section_of(page, "within 1 hour").heading_path[-1] == "4 Incident reporting"
    # body order: the password table sits between its heading and the next heading
    assert page.text.index("2 Passwords") < page.text.index("Minimum password length") < page.text.index("3 Devices")
    assert "- Do not switch off an infected device; disconnect it from the network.\n- Do not delete" in page.text
    assert "Strictly confidential | Salary data, source code of the R2 navigation stack | Named persons only" in (
        page.text
    )


def test_french_docx_keeps_accents_and_structure(example) -> None:
    page = example("politique-teletravail-fr.docx").pages[0]
    assert "jusqu'à 2 jours par semaine" in page.text
    assert section_of(page, "Indemnité par jour de télétravail | 2,70 €").kind == "table"
    assert section_of(page, "entre 20h00 et 7h30").heading_path[-1] == "4. Droit à la déconnexion"


def test_xlsx_one_page_per_sheet_with_self_describing_rows(example) -> None:
    doc = example("travel-expenses.xlsx")
    per_diem, mileage = doc.pages
    assert (per_diem.label, mileage.label) == ("Per diem", "Mileage")
    lines = per_diem.text.split("\n")
    assert lines[0] == "Country | City | Daily allowance (EUR) | Hotel cap per night (EUR)"
    assert "Country: Japan | City: Tokyo | Daily allowance (EUR): 52 | Hotel cap per night (EUR): 210" in lines
    assert len(lines) == 10
    assert per_diem.sections == [Section(("Per diem",), 0, len(per_diem.text), "table")]
    assert "Vehicle: Motorcycle | Rate per km (EUR): 0.2" in mileage.text.split("\n")  # empty Notes cell left out


def test_html_drops_boilerplate_and_builds_heading_paths(example) -> None:
    doc = example("product-faq.html")
    page = doc.pages[0]
    for boilerplate in ("Home", "Imprint", "analytics", "font-family"):
        assert boilerplate not in page.text
    assert section_of(page, "maximum payload is 150 kg").heading_path == (
        "Northwind R2 warehouse robot: frequently asked questions",
        "Load and movement",
        "What payload can the R2 carry?",
    )
    assert section_of(page, "Own weight | 118 kg").kind == "table"
    assert "up to 10 hours of continuous operation" in page.text  # inline <b> joined without extra spaces
    assert "- Standard response time: 4 business hours\n- Premium response time" in page.text
    assert doc.metadata["language"] == "en"


def test_german_html(example) -> None:
    page = example("datenschutz-richtlinie-de.html").pages[0]
    assert "Videoaufnahmen im Lager | 72 Stunden" in page.text
    assert section_of(page, "innerhalb von 24 Stunden").heading_path == ("Datenschutz-Richtlinie", "4. Datenpannen")
    assert "Stand Februar" not in page.text  # footer


def test_markdown_readable_text_headings_and_tables(example) -> None:
    doc = example("release-notes.md")
    page = doc.pages[0]
    assert "title:" not in page.text and "**" not in page.text and "](" not in page.text
    assert "nwos-logo" not in page.text and "NWOS logo" not in page.text  # image dropped
    assert "- Battery health report in the fleet dashboard." in page.text  # link text kept, URL dropped
    assert section_of(page, "firmware older than 3.9").heading_path == (
        "NWOS fleet software release notes", "4.2.0 (10 February 2025)", "Known issues"
    )
    assert section_of(page, "Site controller | 4.1.0 | Requires 16 GB RAM").kind == "table"
    assert "/api/v1 to /api/v2" in page.text  # inline code kept


def test_japanese_markdown(example) -> None:
    page = example("anzen-kitei-ja.md").pages[0]
    assert "フォークリフトの最高速度は時速10キロメートルとする。" in page.text
    assert section_of(page, "時速10キロメートル").heading_path == ("倉庫安全規程", "2. フォークリフト")
    assert section_of(page, "棚一段あたりの積載上限 | 500キログラム").kind == "table"


def test_eml_headers_body_and_attachments_as_pages(example) -> None:
    doc = example("supplier-update.eml")
    body, prices, terms = doc.pages
    assert body.label == "e-mail"
    assert body.text.startswith("From: Karin Holm <karin.holm@baltic-motion.example>\nTo: Procurement")
    assert "Subject: Updated price list for BM drive units from 1 April 2025" in body.text
    assert "lead time stays at 6 weeks" in body.text
    assert prices.label == "attachment: price-list-2025.csv"
    assert "Article: BM-DU-400 | Description: Drive unit 400 W for R2 | Unit price 2024 (EUR): 612.00 | " \
           "Unit price from 1 April 2025 (EUR): 639.50" in prices.text  # ';' delimiter sniffed
    assert prices.sections[0].heading_path == ("attachment: price-list-2025.csv",)
    assert terms.label == "attachment: delivery-terms.txt"
    assert "Warranty on drive units: 24 months" in terms.text
    assert doc.metadata["attachment_count"] == "2"


def test_questions_point_at_existing_documents_and_pages(example) -> None:
    text = (EXAMPLES.parent / "docs" / "example-questions.md").read_text(encoding="utf-8")
    sources = re.findall(r"Source: (\S+), page (\d+)", text)
    assert len(sources) >= 6
    for name, page in sources:
        assert 1 <= int(page) <= len(example(name).pages)
    assert {"(fr)", "(de)", "(ja)"} <= set(re.findall(r"\(\w\w\)", text))


def test_make_examples_is_deterministic_and_matches_examples_folder() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "make_examples.py"
    spec = importlib.util.spec_from_file_location("make_examples", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build_all()
    assert built == module.build_all()
    for name, data in built.items():
        assert (EXAMPLES / name).read_bytes() == data, f"examples/{name} is stale: run scripts/make_examples.py"
    questions = (EXAMPLES.parent / "docs" / "example-questions.md").read_text(encoding="utf-8")
    assert questions == module.C.QUESTIONS_MD
