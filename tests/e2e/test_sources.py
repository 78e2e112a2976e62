"""The Sources view in a real browser: an administrator adds a local folder through the form generated
from the connector's settings schema, syncs it (progress, then "done" with the counts), and a member
gets answers from the public files only, never from the sub-folder given to a group; a removed file
disappears at the next sync; invalid settings and literal secrets are refused with the server's message.

The module has its own server (the `server` fixture); the tests run in file order and share it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import ADMIN, Server, ServiceServer, new_page, real_errors, screenshot, sign_in

pytestmark = pytest.mark.timeout(600)

DANA = ("dana", "dana-e2e-Passw0rd!")  # a member outside the "board" group
ERIN = ("erin", "erin-e2e-Passw0rd!")  # a member of the "board" group
QUESTION = "What is the Heron project budget code?"
SECRET_CODE = "OSPREY-7781"

# records Content-Security-Policy violations (init scripts run outside the page's CSP)
CSP_PROBE = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
             "(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")


def expect(obj: Any) -> Any:
    from playwright.sync_api import expect as _expect

    return _expect(obj)


@pytest.fixture(scope="module")
def server(service_server: ServiceServer) -> ServiceServer:
    """This module's server also exposes its service (to link users to connectors' identities)."""
    return service_server


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("team-share")
    (root / "heron-budget.md").write_text(
        "# Heron project budget\n\nThe Heron project budget code is HERON-TRAVEL-12. Every travel request of the "
        "Heron project quotes this budget code.\n")
    (root / "helpdesk.txt").write_text("The helpdesk answers every ticket within four working hours.\n")
    (root / "board").mkdir()
    (root / "board" / "heron-salaries.md").write_text(
        f"# Heron salaries\n\nThe Heron project salary budget code is {SECRET_CODE}. Only the board knows this "
        "Heron project budget code.\n")
    return root


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, Any]:
    """dana (member, no group) and erin (member of "board"), made through the admin API."""
    ids = {}
    for username, password in (DANA, ERIN):
        r = server.http.post("/api/v1/admin/users", json={"username": username, "password": password, "role": "member"})
        assert r.status_code == 201, r.text
        ids[username] = r.json()["id"]
    r = server.http.post("/api/v1/admin/groups", json={"name": "board"})
    assert r.status_code == 201, r.text
    board = r.json()["id"]
    assert server.http.post(f"/api/v1/admin/groups/{board}/members", json={"user_id": ids["erin"]}).status_code == 200
    return {"board": board, **ids}


def admin_page(browser: Any, server: Server) -> Any:
    pg = new_page(browser, server)
    pg.add_init_script(CSP_PROBE)
    return sign_in(pg, server, *ADMIN)


def clean(pg: Any, allowed: tuple[str, ...] = ()) -> None:
    """No console errors (less expected refusals' network lines) and no CSP violation."""
    errors = [e for e in real_errors(pg) if not ("Failed to load resource" in e and any(code in e for code in allowed))]
    assert not errors, errors
    assert not [e for e in pg.console_errors if "Content-Security-Policy" in e or "Refused" in e], pg.console_errors
    assert pg.evaluate("window.__csp") == [], pg.evaluate("window.__csp")


def open_sources(pg: Any) -> None:
    pg.click("#tab-sources")
    expect(pg.locator("#view-sources")).to_be_visible()
    expect(pg.locator("#tab-sources")).to_have_attribute("aria-current", "page")
    expect(pg.locator("#source-kind option[value='local']")).to_have_count(1)


def ask(pg: Any, question: str) -> Any:
    pg.fill("#composer-input", question)
    pg.press("#composer-input", "Enter")
    answer = pg.locator(".msg-assistant").last
    expect(answer).to_be_visible()
    expect(answer).not_to_have_class(re.compile(r"\bstreaming\b"), timeout=120_000)
    return answer


def search_docs(server: Server, user: tuple[str, str], query: str) -> str:
    """The document URIs, titles and passages a user's search finds, as one lowercase text."""
    c = server.client(*user)
    try:
        r = c.post("/api/v1/search", json={"query": query, "mode": "lexical"})
    finally:
        c.close()
    assert r.status_code == 200, r.text
    return " ".join(f"{h['document']} {h['title']} {h['text']}" for h in r.json()["results"]).lower()


def test_admin_adds_a_local_folder_and_syncs_it(browser: Any, server: Server, share: Path, people: dict[str, Any]) -> None:
    pg = admin_page(browser, server)
    open_sources(pg)
    expect(pg.locator("#sources-empty")).to_be_visible()
    pg.select_option("#source-kind", "local")
    expect(pg.locator("#source-watch")).to_be_visible()  # watch mode: local folders only
    # the settings form comes from the connector's schema, with its descriptions as help
    expect(pg.locator("#source-setting-path")).to_have_attribute("aria-required", "true")
    expect(pg.get_by_role("textbox", name="Folder", exact=True)).to_have_id("source-setting-path")
    expect(pg.locator("#source-settings")).to_contain_text("absolute path of the folder")
    pg.fill("#source-name", "team-share")
    pg.fill("#source-schedule", "0")
    pg.fill("#source-setting-path", str(share))
    acl = pg.locator("#source-setting-acl")
    acl.locator(".map-values").first.fill("public")
    # a second rule, from the keyboard: the board/ sub-folder is for the "board" group only
    acl.locator(".map-add").focus()
    pg.keyboard.press("Enter")
    expect(acl.locator(".map-key").nth(1)).to_be_focused()
    pg.keyboard.type("board/")
    pg.keyboard.press("Tab")
    pg.keyboard.type(f"group:{people['board']}")
    with pg.expect_response(lambda r: r.url.endswith("/api/v1/sources") and r.request.method == "POST") as created:
        pg.click("#source-add")
    assert created.value.status == 201, created.value.text()
    sent = created.value.request.post_data_json
    assert sent["settings"] == {"path": str(share), "acl": {"": ["public"], "board/": [f"group:{people['board']}"]}}
    assert sent["schedule_minutes"] == 0 and sent["watch"] is False and sent["enabled"] is True
    row = pg.locator("tr.src-row[data-name='team-share']")
    expect(row).to_be_visible()
    expect(row.locator(".src-state")).to_have_attribute("data-state", "never")
    expect(row.locator(".src-next")).to_contain_text("manual")
    expect(row).to_contain_text("Local folder")
    expect(row.locator("[data-action='sync']")).to_be_focused()  # focus lands on the new source's Sync now
    expect(pg.locator("#source-name")).to_have_value("")  # the form is ready for the next one

    # Sync now: the first polls of the job are shown as "running" (a 3-file sync is over in an instant)
    faked = {"n": 0}

    def slow_job(route: Any) -> None:
        resp = route.fetch()
        job = resp.json()
        if faked["n"] < 3 and job.get("kind") == "sync":
            faked["n"] += 1
            job.update(status="running", total=3, done=1, current="heron-budget.md", eta_s=1.5)
        route.fulfill(response=resp, json=job)

    pg.route(re.compile(r"/api/v1/jobs/\d+$"), slow_job)
    row.locator("[data-action='sync']").click()
    progress = pg.locator("tr.src-detail[data-name='team-share'] .src-progress")
    expect(progress).to_be_visible()
    expect(progress).to_contain_text("1 / 3 items")
    expect(progress).to_contain_text("now: heron-budget.md")
    expect(progress).to_contain_text("left")
    expect(progress.locator("progress")).to_have_attribute("aria-label", "Sync progress of team-share")
    expect(progress.locator(".src-cancel")).to_have_accessible_name("Cancel the sync of team-share")
    expect(row.locator("[data-action='sync']")).to_be_disabled()  # one sync at a time
    expect(row.locator(".src-state")).to_have_attribute("data-state", "running")
    pg.unroute(re.compile(r"/api/v1/jobs/\d+$"))
    expect(row.locator(".src-state")).to_have_attribute("data-state", "done", timeout=60_000)
    expect(progress).to_have_count(0)
    expect(row.locator(".src-docs")).to_have_attribute("data-count", "3")
    expect(row.locator(".src-counts")).to_contain_text("3 added")
    expect(row.locator(".src-when")).not_to_have_text("never")
    expect(row.locator("[data-action='sync']")).to_be_enabled()
    pg.set_viewport_size({"width": 1360, "height": 1180})
    pg.evaluate("document.getElementById('toast').hidden = true")
    screenshot(pg, "sources")
    clean(pg)
    pg.context.close()


def test_members_get_public_files_only(browser: Any, server: Server, people: dict[str, Any]) -> None:
    server.wait_jobs_idle()
    server.wait_embedded()
    # the restricted file is indexed and visible to the group's members...
    assert "heron-salaries" in search_docs(server, ERIN, "Heron salary budget code")
    # ...and to nobody else
    assert "salar" not in search_docs(server, DANA, "Heron salary budget code")

    dana = new_page(browser, server)
    dana.add_init_script(CSP_PROBE)
    sign_in(dana, server, *DANA)
    expect(dana.locator("#tab-sources")).to_be_hidden()
    expect(dana.locator("#tab-admin")).to_be_hidden()
    dana.goto("/#/sources")
    expect(dana.locator("#view-chat")).to_be_visible()  # not for members: back to the chat
    expect(dana.locator("#view-sources")).to_be_hidden()
    answer = ask(dana, QUESTION)
    expect(answer.locator(".msg-body")).to_contain_text("HERON-TRAVEL-12")
    names = answer.locator(".source-name")
    expect(names.first).to_be_visible()
    cited = names.all_inner_texts()
    assert any(re.search(r"heron.(project.)?budget", n, re.I) for n in cited), cited
    assert not any(re.search("salar", n, re.I) for n in cited), cited
    assert SECRET_CODE not in answer.inner_text()
    clean(dana, allowed=("401", "403", "404"))
    dana.context.close()


def test_a_removed_file_leaves_at_the_next_sync(browser: Any, server: Server, share: Path) -> None:
    (share / "helpdesk.txt").unlink()
    pg = admin_page(browser, server)
    open_sources(pg)
    row = pg.locator("tr.src-row[data-name='team-share']")
    expect(row.locator(".src-docs")).to_have_attribute("data-count", "3")
    row.locator("[data-action='sync']").click()
    expect(row.locator(".src-docs")).to_have_attribute("data-count", "2", timeout=60_000)
    expect(row.locator(".src-state")).to_have_attribute("data-state", "done")
    expect(row.locator(".src-counts")).to_contain_text("1 deleted")
    expect(row.locator(".src-counts")).to_contain_text("2 unchanged")
    server.wait_jobs_idle()
    assert "helpdesk" not in search_docs(server, ADMIN, "helpdesk ticket working hours")

    # Check, Disable / Enable
    row.locator("[data-action='check']").click()
    check = pg.locator("tr.src-detail[data-name='team-share'] .src-check")
    expect(check).to_have_attribute("data-ok", "true")
    expect(check).to_contain_text(f"folder {share}")
    row.locator("[data-action='toggle']").click()
    expect(row.locator(".src-disabled")).to_be_visible()
    expect(row.locator(".src-next")).to_contain_text("paused")
    expect(row.locator("[data-action='toggle']")).to_have_text("Enable")
    row.locator("[data-action='toggle']").click()
    expect(row.locator(".src-disabled")).to_have_count(0)
    clean(pg)
    pg.context.close()


def test_invalid_settings_show_the_servers_message(browser: Any, server: Server) -> None:
    pg = admin_page(browser, server)
    open_sources(pg)
    # a relative folder
    pg.select_option("#source-kind", "local")
    pg.fill("#source-name", "relative")
    pg.fill("#source-setting-path", "some/relative/folder")
    pg.locator("#source-setting-acl .map-values").first.fill("public")
    pg.click("#source-add")
    error = pg.locator("#source-form-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("the folder must be an absolute path")
    expect(error).to_have_attribute("role", "alert")
    expect(pg.locator("#source-setting-path")).to_have_attribute("aria-invalid", "true")
    expect(pg.locator("#source-setting-path")).to_be_focused()
    expect(pg.locator("tr.src-row[data-name='relative']")).to_have_count(0)

    # a literal password where a reference is required
    pg.select_option("#source-kind", "webdav")
    expect(error).to_be_hidden()
    expect(pg.locator("#source-watch")).to_be_hidden()
    password = pg.locator("#source-setting-password")
    hint = password.evaluate("(i) => i.getAttribute('aria-describedby').split(' ').map((id) => "
                             "document.getElementById(id).textContent).join(' ')")
    assert "env:" in hint and "file:" in hint, hint
    expect(password).to_have_attribute("placeholder", "env:NAME")
    pg.fill("#source-name", "cloud")
    pg.fill("#source-setting-base_url", "https://cloud.example/remote.php/dav/files/alice/")
    pg.fill("#source-setting-username", "alice")
    password.fill("hunter2-plain-secret")
    pg.fill("#source-setting-folders", "Documents\nTeam/HR")
    pg.locator("#source-setting-acl .map-values").first.fill("public")
    with pg.expect_response(lambda r: r.url.endswith("/api/v1/sources") and r.request.method == "POST") as refused:
        pg.click("#source-add")
    assert refused.value.status == 400
    assert refused.value.request.post_data_json["settings"]["folders"] == ["Documents", "Team/HR"]
    expect(error).to_contain_text("must be a reference to a secret, 'env:VARIABLE_NAME' or 'file:/absolute/path'")
    assert "hunter2" not in error.inner_text()
    expect(password).to_have_attribute("aria-invalid", "true")
    names = {s["name"] for s in server.http.get("/api/v1/sources").json()["sources"]}
    assert names == {"team-share"}
    clean(pg, allowed=("400",))
    pg.context.close()


def test_ui_speaks_the_browsers_language(browser: Any, server: Server) -> None:
    for locale, tab, sync, submit in (("fr-FR", "Sources", "Synchroniser", "Ajouter la source"),
                                      ("de-DE", "Quellen", "Jetzt synchronisieren", "Quelle hinzufügen"),
                                      ("ja-JP", "ソース", "今すぐ同期", "ソースを追加")):
        pg = sign_in(new_page(browser, server, locale), server, *ADMIN)
        expect(pg.locator("#tab-sources")).to_have_text(tab)
        pg.click("#tab-sources")
        expect(pg.locator("tr.src-row[data-name='team-share'] [data-action='sync']")).to_have_text(sync)
        expect(pg.locator("#source-add")).to_have_text(submit)
        assert not real_errors(pg), pg.console_errors
        pg.context.close()


def test_admin_removes_the_source_and_its_documents(browser: Any, server: Server) -> None:
    pg = admin_page(browser, server)
    open_sources(pg)
    row = pg.locator("tr.src-row[data-name='team-share']")
    messages: list[str] = []

    def answer(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    pg.once("dialog", answer)
    row.locator("[data-action='remove']").click()
    expect(row).to_have_count(0)
    assert messages and "team-share" in messages[0]
    expect(pg.locator("#sources-empty")).to_be_visible()
    expect(pg.locator("#toast")).to_contain_text("2 documents deleted")
    assert search_docs(server, ADMIN, "Heron project budget code") == ""
    clean(pg)
    pg.context.close()


def test_static_assets_stay_safe(server: Server) -> None:
    js = server.http.get(server.url + "/static/sources.js")
    assert js.status_code == 200
    for bad in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "http://", "https://", "style="):
        assert bad not in js.text, bad
    catalogs = {lang: json.loads((Path(__file__).resolve().parents[2] / "src/souverain/web/i18n" / f"{lang}.json")
                                 .read_text(encoding="utf-8")) for lang in ("en", "fr", "de", "ja")}
    keys = {k for k in catalogs["en"] if k.startswith(("sources_", "source_kind_", "source_field_", "nav_sources"))}
    for lang, cat in catalogs.items():
        assert keys <= cat.keys(), (lang, keys - cat.keys())


# ---- connectors against local stand-ins: S3 (moto), Nextcloud (wsgidav), SharePoint (fake Graph), Google (fake Drive)

S3_KEY_ENV, S3_SECRET_ENV = "E2E_S3_ACCESS_KEY", "E2E_S3_SECRET_KEY"
DAV_PASSWORD_ENV, M365_SECRET_ENV, GDRIVE_KEY_ENV = "E2E_DAV_PASSWORD", "E2E_M365_CLIENT_SECRET", "E2E_GDRIVE_KEY"
GOOGLE_ADMIN, GOOGLE_SA = "admin@example.com", "souverain@e2e-project.iam.gserviceaccount.com"
DANA_GOOGLE, DANA_M365 = "dana@example.com", "dana@contoso.com"
CANARIES = {  # source name -> (words to search, the passage's code)
    "bucket": ("voucher train tickets", "LYNX-3321"),
    "nextcloud": ("onboarding badge new hires", "MARTEN-5510"),
    "sharepoint": ("leave policy bonus day", "WALRUS-7702"),
    "drive": ("canteen menu fridays", "IBEX-4403"),
}


@pytest.fixture(scope="module")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The four stand-in servers with one document each, and the credentials in the server's environment."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ..sources.fake_drive import FakeGoogle
    from ..sources.fake_drive import user as drive_user
    from ..sources.fake_graph import FakeGraph
    from ..sources.servers import MotoS3Server, WebDAVServer

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    with pytest.MonkeyPatch.context() as mp, MotoS3Server() as s3, \
            WebDAVServer(tmp_path_factory.mktemp("nextcloud")) as dav, FakeGraph() as graph, \
            FakeGoogle(GOOGLE_SA, key.public_key(), [GOOGLE_ADMIN, DANA_GOOGLE]) as google:
        s3.client().create_bucket(Bucket="team-bucket")
        s3.client().put_object(Bucket="team-bucket", Key="docs/bucket-travel.md", Body=(
            b"# Bucket travel note\n\nThe bucket travel note says the LYNX-3321 voucher covers train tickets.\n"))
        s3.client().put_object(Bucket="team-bucket", Key="private/outside.md", Body=b"Outside the allow-listed prefix.")
        dav.write("Team/dav-onboarding.md", "# Onboarding\n\nThe Nextcloud onboarding note says new hires receive "
                                            "the MARTEN-5510 badge.\n")
        dav.ocs.add("/Team/dav-onboarding.md", 0, "dana")  # a user share: ext:nextcloud:dana
        site = graph.add_site("contoso.sharepoint.com", "/sites/hr")
        dana_oid = graph.add_user(DANA_M365, with_drive=False)
        graph.add_file(graph.drive("Documents", site), "Policies/graph-leave.md",
                       "# Leave policy\n\nThe SharePoint leave policy grants the WALRUS-7702 bonus day.\n",
                       permissions=[{"id": "p1", "roles": ["read"], "grantedToV2": {"user": {"id": dana_oid}}}])
        drive = google.add_drive("drv-e2e", "Handbook", [drive_user(GOOGLE_ADMIN, "organizer"), drive_user(DANA_GOOGLE)])
        google.add_file("drive-canteen.txt", "The shared drive canteen note says the IBEX-4403 menu is served on Fridays.",
                        drive=drive, mime="text/plain")
        sa_key = json.dumps({"type": "service_account", "private_key_id": "k1", "private_key": pem,
                             "client_email": GOOGLE_SA, "token_uri": google.token_uri})
        # the server runs in this process: its secret references read this environment
        mp.setenv(S3_KEY_ENV, "testing-key")
        mp.setenv(S3_SECRET_ENV, "testing-secret")
        mp.setenv(DAV_PASSWORD_ENV, dav.password)
        mp.setenv(M365_SECRET_ENV, graph.client_secret)
        mp.setenv(GDRIVE_KEY_ENV, sa_key)
        yield {"s3": s3, "dav": dav, "graph": graph, "google": google, "drive": drive, "dana_oid": dana_oid}


def fill_source(pg: Any, kind: str, name: str, fields: dict[str, str | bool], acl: str = "") -> None:
    pg.select_option("#source-kind", kind)
    pg.fill("#source-name", name)
    pg.fill("#source-schedule", "0")
    for field, value in fields.items():
        box = pg.locator(f"#source-setting-{field}")
        if isinstance(value, bool):
            box.set_checked(value)
        else:
            box.fill(value)
    if acl:
        pg.locator("#source-setting-acl .map-values").first.fill(acl)
    with pg.expect_response(lambda r: r.url.endswith("/api/v1/sources") and r.request.method == "POST") as created:
        pg.click("#source-add")
    assert created.value.status == 201, created.value.text()
    expect(pg.locator(f"tr.src-row[data-name='{name}']")).to_be_visible()


def test_connectors_against_stand_in_servers(browser: Any, server: ServiceServer, standins: dict[str, Any],
                                            people: dict[str, Any]) -> None:
    s3, dav, graph, google = standins["s3"], standins["dav"], standins["graph"], standins["google"]
    pg = admin_page(browser, server)
    open_sources(pg)
    fill_source(pg, "s3", "bucket", {
        "endpoint_url": s3.endpoint_url, "bucket": "team-bucket", "prefixes": "docs/",
        "access_key_id": f"env:{S3_KEY_ENV}", "secret_access_key": f"env:{S3_SECRET_ENV}"}, acl=f"user:{people['dana']}")
    fill_source(pg, "webdav", "nextcloud", {
        "base_url": dav.base_url, "username": dav.user, "password": f"env:{DAV_PASSWORD_ENV}", "folders": "Team",
        "nextcloud_shares": True})
    fill_source(pg, "m365", "sharepoint", {
        "tenant_id": graph.tenant_id, "client_id": graph.client_id, "client_secret": f"env:{M365_SECRET_ENV}",
        "sites": "contoso.sharepoint.com:/sites/hr", "authority_url": graph.authority_url, "graph_url": graph.graph_url})
    fill_source(pg, "gdrive", "drive", {
        "service_account_key": f"env:{GDRIVE_KEY_ENV}", "subject": GOOGLE_ADMIN, "shared_drives": standins["drive"],
        "drive_url": google.url, "directory_url": google.url})
    stored = {s["name"]: s for s in server.http.get("/api/v1/sources").json()["sources"]}
    assert stored["sharepoint"]["settings"]["client_secret"] == f"env:{M365_SECRET_ENV}"  # the reference, never the value
    assert graph.client_secret not in json.dumps(stored)

    for name in CANARIES:
        row = pg.locator(f"tr.src-row[data-name='{name}']")
        row.locator("[data-action='check']").click()
        check = pg.locator(f"tr.src-detail[data-name='{name}'] .src-check")
        expect(check).to_have_attribute("data-ok", "true", timeout=30_000)
        row.locator("[data-action='sync']").click()
        state = row.locator(".src-state")
        expect(state).to_have_attribute("data-state", re.compile("done|failed"), timeout=120_000)
        if state.get_attribute("data-state") == "failed":
            pytest.fail(f"{name}: {pg.locator(f'tr.src-detail[data-name={name!r}]').inner_text()}")
        expect(row.locator(".src-docs")).to_have_attribute("data-count", "1")
        expect(row.locator(".src-counts")).to_contain_text("1 added")
    server.wait_jobs_idle()
    server.wait_embedded()

    # dana holds the connectors' identities for her (what an OIDC sign-in or `souverain users link` does)
    identity = server.svc.identity
    identity.add_external_principal(people["dana"], "nextcloud", "dana")
    identity.add_external_principal(people["dana"], "m365", standins["dana_oid"])
    identity.add_external_principal(people["dana"], "gdrive", DANA_GOOGLE)
    for name, (words, code) in CANARIES.items():
        assert code.lower() in search_docs(server, DANA, words), name
        assert code.lower() not in search_docs(server, ERIN, words), name  # erin holds none of these identities
    assert "outside the allow-listed" not in search_docs(server, ADMIN, "outside allow-listed prefix")

    dana = new_page(browser, server)
    dana.add_init_script(CSP_PROBE)
    sign_in(dana, server, *DANA)
    answer = ask(dana, "What does the SharePoint leave policy grant?")
    expect(answer.locator(".msg-body")).to_contain_text("WALRUS-7702")
    expect(answer.locator(".source-name").first).to_be_visible()
    clean(dana, allowed=("401", "403", "404"))
    dana.context.close()
    pg.set_viewport_size({"width": 1360, "height": 900})
    pg.evaluate("document.getElementById('toast').hidden = true")
    clean(pg)
    pg.context.close()
