"""``souverain users|groups|keys`` as an administrator uses them, in a real subprocess."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from souverain.governance.identity import IdentityService
from souverain.index.sqlite_store import SQLiteStore
from souverain.settings import Settings

from .test_api_keys import SCANNER_RE

PASSWORD = "correct horse battery staple"


def run(data: Path, *args: str, stdin: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOUVERAIN_")}
    proc = subprocess.run([sys.executable, "-m", "souverain", "--data-dir", str(data), *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_create_admin_groups_and_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = run(data, "users", "create-admin", "Root", "--password-stdin", stdin=PASSWORD + "\n")
    assert "created administrator root" in out.stdout and PASSWORD not in out.stdout + out.stderr
    again = run(data, "users", "create-admin", "other", "--password-stdin", stdin=PASSWORD + "\n", check=False)
    assert again.returncode != 0 and "exists already" in again.stderr
    short = run(data, "users", "add", "bob", "--password-stdin", stdin="short\n", check=False)
    assert short.returncode != 0 and "at least 12" in short.stderr
    run(data, "users", "add", "bob", "--no-password")
    run(data, "groups", "add", "eng")
    run(data, "groups", "add", "staff")
    run(data, "groups", "add-member", "eng", "bob")
    run(data, "groups", "add-member", "staff", "group:eng")
    cycle = run(data, "groups", "add-member", "eng", "group:staff", check=False)
    assert cycle.returncode != 0 and "cycle" in cycle.stderr
    groups = {g["name"]: g for g in json.loads(run(data, "groups", "list", "--json").stdout)}
    assert groups["eng"]["users"] == ["bob"] and groups["staff"]["groups"] == ["eng"]

    created = run(data, "keys", "create", "bob", "--scope", "ask", "--scope", "read", "--expires-days", "90")
    key = created.stdout.strip()
    assert SCANNER_RE.fullmatch(key), created.stdout  # the key alone on stdout, the notice on stderr
    assert "cannot be shown again" in created.stderr
    bad_scope = run(data, "keys", "create", "bob", "--scope", "everything", check=False)
    assert bad_scope.returncode != 0 and "unknown scope" in bad_scope.stderr

    secret_file = data / "secret_key"  # development: generated once, owner-only
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    settings = Settings(data_dir=data)
    store = SQLiteStore(settings.db_path)
    try:
        ident = IdentityService.from_settings(settings, store)
        grant = ident.authenticate_api_key(key)
        assert grant is not None and grant.user.username == "bob" and grant.scopes == {"ask", "read"}
        assert ident.verify_password("root", PASSWORD) is not None
        bob = ident.user_by_name("bob")
        assert ident.principals_for(bob.id) == {bob.principal, "public", ident.group_by_name("eng").principal,
                                                ident.group_by_name("staff").principal}
        listed = json.loads(run(data, "keys", "list", "--json").stdout)
        assert [k["public_id"] for k in listed] == [key.split("_")[1]] and key not in json.dumps(listed)
        run(data, "keys", "revoke", listed[0]["public_id"])
        assert ident.authenticate_api_key(key) is None
        run(data, "users", "disable", "bob")
        assert ident.user_by_name("bob").disabled
        last = run(data, "users", "disable", "root", check=False)
        assert last.returncode != 0 and "last enabled administrator" in last.stderr
        run(data, "users", "set-role", "bob", "auditor")
        users = {u["username"]: u for u in json.loads(run(data, "users", "list", "--json").stdout)}
        assert users["bob"]["role"] == "auditor" and users["bob"]["disabled"] and users["root"]["local_password"]
    finally:
        store.close()
