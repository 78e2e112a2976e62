"""Sign-in, the Admin tab and sharing in a real browser: two users side by side (two browser
contexts) get different answers from the same corpus according to their permissions.

The module has its own server; its administrator is created through the first-run screen by the
`server` fixture. Tests run in file order.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import ADMIN, Server, new_page, real_errors, screenshot, sign_in

pytestmark = pytest.mark.timeout(600)

BOB = ("bob", "bob-e2e-Passw0rd!")
CANARY = "KESTREL-4417"
QUESTION = "What is the launch code of the Kestrel project?"


def expect(obj: Any) -> Any:
    from playwright.sync_api import expect as _expect

    return _expect(obj)


@pytest.fixture(autouse=True)
def _needs_auth(server: Server) -> None:
    if not server.auth:
        pytest.fail("the server has no /auth routes")


def ask(page: Any, question: str) -> Any:
    page.fill("#composer-input", question)
    page.press("#composer-input", "Enter")
    answer = page.locator(".msg-assistant").last
    expect(answer).to_be_visible()
    expect(answer).not_to_have_class(re.compile(r"\bstreaming\b"), timeout=120_000)
    return answer


def test_signin_screen(browser: Any, server: Server) -> None:
    pg = new_page(browser, server)
    pg.goto("/#/documents")
    screen = pg.locator("#auth-screen")
    expect(screen).to_be_visible()
    expect(pg.locator("#auth-title")).to_have_text("Sign in to Souverain")
    expect(pg.locator("#auth-ai-notice")).to_contain_text("You are talking to an AI system")
    expect(pg.locator("#oidc-box")).to_be_hidden()  # no OpenID Connect provider configured
    expect(pg.locator("header.topbar")).to_be_hidden()
    expect(pg.locator("#auth-username")).to_be_focused()
    screenshot(pg, "signin")
    # keyboard only: type, Tab, type, Enter
    pg.keyboard.type(ADMIN[0])
    pg.keyboard.press("Tab")
    pg.keyboard.type("wrong password")
    pg.keyboard.press("Enter")
    expect(pg.locator("#auth-error")).to_contain_text("Sign-in failed")
    expect(screen).to_be_visible()
    pg.fill("#auth-password", ADMIN[1])
    pg.press("#auth-password", "Enter")
    expect(screen).to_be_hidden()
    expect(pg.locator("#view-documents")).to_be_visible()  # lands where it was going
    expect(pg.locator("#user-name")).to_have_text(ADMIN[0])
    expect(pg.locator("#user-role")).to_have_text("Administrator")
    assert not real_errors(pg), pg.console_errors
    pg.context.close()


def test_admin_creates_user_group_and_key(page: Any, server: Server) -> None:
    page.click("#tab-admin")
    expect(page.locator("#view-admin")).to_be_visible()
    expect(page.locator(f"tr.user-row[data-username='{ADMIN[0]}']")).to_be_visible()
    page.fill("#new-username", BOB[0])
    page.fill("#new-display", "Bob Builder")
    page.fill("#new-password", BOB[1])
    page.select_option("#new-role", "member")
    page.click("#user-create")
    bob = page.locator(f"tr.user-row[data-username='{BOB[0]}']")
    expect(bob).to_be_visible()
    expect(bob.locator(".user-role-select")).to_have_value("member")
    expect(bob.locator(".badge")).to_have_attribute("data-status", "active")
    # a second user, disabled and enabled again
    page.fill("#new-username", "carol")
    page.fill("#new-password", "carol-e2e-Passw0rd!")
    page.select_option("#new-role", "auditor")
    page.click("#user-create")
    carol = page.locator("tr.user-row[data-username='carol']")
    carol.locator(".user-toggle").click()
    expect(carol.locator(".badge")).to_have_attribute("data-status", "disabled")
    page.set_viewport_size({"width": 1360, "height": 760})
    page.evaluate("document.getElementById('toast').hidden = true")
    screenshot(page, "admin")
    carol.locator(".user-toggle").click()
    expect(carol.locator(".badge")).to_have_attribute("data-status", "active")

    # groups: bob in "engineering", "engineering" nested in "staff"
    page.click("#admin-tab-groups")
    for name in ("engineering", "staff"):
        page.fill("#new-group", name)
        page.press("#new-group", "Enter")
        expect(page.locator(f".group-card[data-name='{name}']")).to_be_visible()
    eng = page.locator(".group-card[data-name='engineering']")
    eng.locator(".member-select").select_option(label="Bob Builder (bob)")
    eng.locator(".member-add").click()
    expect(eng.locator(".member")).to_have_count(1)
    expect(eng.locator(".member")).to_contain_text("Bob Builder")
    staff = page.locator(".group-card[data-name='staff']")
    staff.locator(".member-select").select_option(label="engineering")
    staff.locator(".member-add").click()
    expect(staff.locator(".member")).to_contain_text("engineering")
    staff.locator(".member-remove").first.focus()
    page.keyboard.press("Enter")
    expect(staff.locator(".member")).to_have_count(0)

    # API keys: shown once, with a warning and a copy button; then revoked
    page.click("#admin-tab-keys")
    page.fill("#key-name", "ci-bot")
    page.select_option("#key-user", label=BOB[0])
    page.click("#key-create")
    box = page.locator("#new-key")
    expect(box).to_be_visible()
    expect(box).to_contain_text("shown only once")
    secret = page.locator("#new-key-value").input_value()
    assert len(secret) > 20
    assert httpx.get(server.url + "/api/v1/documents", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    expect(page.locator("#new-key-copy")).to_be_enabled()
    page.click("#new-key-done")
    expect(box).to_be_hidden()
    assert page.locator("#new-key-value").input_value() == ""
    row = page.locator("tr.key-row", has_text="ci-bot")
    expect(row.locator(".badge")).to_have_attribute("data-status", "active")
    assert secret not in page.content(), "the key is shown once only"
    page.once("dialog", lambda d: d.accept())
    row.locator(".key-revoke").click()
    expect(row.locator(".badge")).to_have_attribute("data-status", "revoked")
    assert httpx.get(server.url + "/api/v1/documents", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert not real_errors(page), page.console_errors


def test_two_users_see_what_they_may_see(browser: Any, server: Server, tmp_path: Path) -> None:
    admin = sign_in(new_page(browser, server), server, *ADMIN, path="/#/documents")
    doc = tmp_path / "kestrel.md"
    doc.write_text("# Kestrel project\n\nThe launch code of the Kestrel project is " + CANARY +
                   ". It is known to the project team only and changes every quarter.\n")
    admin.set_input_files("#file-input", str(doc))
    row = admin.locator("tr.doc-row[data-document='upload:kestrel.md']")
    expect(row.locator(".badge")).to_have_attribute("data-status", "indexed", timeout=120_000)
    server.wait_jobs_idle()
    server.wait_embedded()

    bob = sign_in(new_page(browser, server), server, *BOB)
    expect(bob.locator("#user-role")).to_have_text("Member")
    expect(bob.locator("#tab-admin")).to_be_hidden()
    first = ask(bob, QUESTION)
    expect(first).to_have_class(re.compile(r"\babstained\b"))
    assert CANARY not in first.inner_text() and bob.locator(".msg-assistant .cite").count() == 0
    bob.goto("/#/documents")
    expect(bob.locator("tr.doc-row[data-document='upload:kestrel.md']")).to_have_count(0)

    # the owner shares it with bob, from the keyboard
    share = row.locator(".doc-share")
    share.focus()
    admin.keyboard.press("Enter")
    dialog = admin.locator("#share-dialog")
    expect(dialog).to_be_visible()
    expect(admin.locator("#share-current")).to_contain_text("Owner (you)")
    admin.select_option("#share-principal", label="Bob Builder (bob)")
    admin.click("#share-add")
    expect(admin.locator("#share-current li[data-principal^='user:']")).to_have_count(2)
    admin.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(admin.locator("tr.doc-row[data-document='upload:kestrel.md'] .doc-share")).to_be_focused()

    bob.goto("/")
    bob.click("#new-chat")
    second = ask(bob, QUESTION)
    expect(second.locator(".msg-body")).to_contain_text(CANARY)
    expect(second.locator(".msg-body .cite[data-n='1']").first).to_be_visible()
    second.locator(".msg-body .cite[data-n='1']").first.click()
    expect(bob.locator("#source-title")).to_contain_text("Kestrel")
    bob.goto("/#/documents")
    expect(bob.locator("tr.doc-row[data-document='upload:kestrel.md']")).to_have_count(1)
    bob_share = bob.locator("tr.doc-row[data-document='upload:kestrel.md'] .doc-share")
    listed = server.client(*BOB).get("/api/v1/documents").json()["documents"][0]
    if {"owner", "owner_id", "can_share"} & listed.keys():
        expect(bob_share).to_have_count(0)  # not bob's: no Share button
    else:  # the list does not say who owns what: the button shows and the server refuses
        bob_share.click()
        expect(bob.locator("#share-manual")).to_be_visible()
        bob.fill("#share-manual", "public")
        bob.click("#share-add")
        expect(bob.locator("#share-error")).to_contain_text("owner")
        bob.keyboard.press("Escape")

    # unsharing is effective on the very next question
    admin.locator("tr.doc-row[data-document='upload:kestrel.md'] .doc-share").click()
    admin.locator("#share-current li[data-principal^='user:'] .share-remove").click()
    expect(admin.locator("#share-current li")).to_have_count(1)
    admin.click("#share-close")
    bob.goto("/")
    bob.click("#new-chat")
    third = ask(bob, QUESTION)
    expect(third).to_have_class(re.compile(r"\babstained\b"))
    assert CANARY not in third.inner_text()
    for pg in (admin, bob):
        assert not [e for e in pg.console_errors if "401" not in e and "403" not in e and "404" not in e], pg.console_errors
        pg.context.close()


def test_sign_out_and_everywhere(browser: Any, server: Server) -> None:
    one = sign_in(new_page(browser, server), server, *BOB)
    two = sign_in(new_page(browser, server), server, *BOB)
    one.click("#user-button")
    expect(one.locator("#user-menu")).to_be_visible()
    expect(one.locator("#signout")).to_be_focused()
    one.keyboard.press("ArrowDown")
    expect(one.locator("#signout-all")).to_be_focused()
    one.keyboard.press("Escape")
    expect(one.locator("#user-menu")).to_be_hidden()
    expect(one.locator("#user-button")).to_be_focused()
    one.click("#user-button")
    one.click("#signout")
    expect(one.locator("#auth-screen")).to_be_visible()
    # the other session is still alive until "sign out everywhere"
    two.click("#tab-documents")
    expect(two.locator("#view-documents")).to_be_visible()
    three = sign_in(new_page(browser, server), server, *BOB)
    three.click("#user-button")
    three.click("#signout-all")
    expect(three.locator("#auth-screen")).to_be_visible()
    two.click("#docs-refresh")  # its next API call answers 401: the sign-in screen comes back
    expect(two.locator("#auth-screen")).to_be_visible()
    expect(two.locator("#auth-error")).to_contain_text("session has ended")
    for pg in (one, two, three):
        pg.context.close()
