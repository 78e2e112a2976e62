"""S3-compatible sources against moto in server mode (servers.py) on 127.0.0.1.

The test writes the bucket with boto3 (put, overwrite, delete, copy + delete = move) and syncs
through ``svc.sources`` and the real runner. Throttling is a 503 ``SlowDown`` answered by the
server's fault injector: botocore's own retries (mode ``standard``) must absorb it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from souverain.documents import AccessFilter
from souverain.service import Souverain
from souverain.sources.base import ConnectorContext, ItemError, SourceError, SourceItem
from souverain.sources.http import HttpClient
from souverain.sources.manager import SourceConfigError
from souverain.sources.s3 import S3Connector, S3Settings
from souverain.sources.secrets import SecretResolver

from .crash import add_source, assert_index_equals, cli_env, resume_sync, sync_and_kill
from .servers import MotoS3Server, iam_enforced

KEY_ENV, SECRET_ENV = "S3_TEST_ACCESS_KEY", "S3_TEST_SECRET_KEY"
SECRET = "s3-Secret-Value-9fQ"
_bucket_seq = iter(range(10**6))


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoS3Server]:
    with MotoS3Server() as srv:
        yield srv


@pytest.fixture
def s3(moto_server: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MotoS3Server, str]]:
    """The server and a fresh bucket with a few documents in and out of the ``docs/`` prefix."""
    monkeypatch.setenv(KEY_ENV, "AKIATESTKEY")
    monkeypatch.setenv(SECRET_ENV, SECRET)
    bucket = f"souverain-test-{next(_bucket_seq)}"
    client = moto_server.client()
    client.create_bucket(Bucket=bucket)
    put(moto_server, bucket, "docs/travel.md", "# Travel\nTrain tickets are reimbursed in second class.")
    put(moto_server, bucket, "docs/hr/salaries.txt", "Salary bands for engineers are reviewed every March.")
    put(moto_server, bucket, "docs/hr/", "")  # a "folder" marker
    put(moto_server, bucket, "private/diary.txt", "The private diary mentions the zeppelin project.")
    put(moto_server, bucket, "docs-old/lookalike.txt", "Starts like docs but is not docs/: the zeppelin again.")
    assert moto_server.faults is not None
    moto_server.faults.clear()
    yield moto_server, bucket
    moto_server.faults.clear()


def put(srv: MotoS3Server, bucket: str, key: str, text: str) -> None:
    srv.client().put_object(Bucket=bucket, Key=key, Body=text.encode())


def config(srv: MotoS3Server, bucket: str, **kw: Any) -> dict[str, Any]:
    return {"endpoint_url": srv.endpoint_url, "region": "us-east-1", "bucket": bucket, "prefixes": ["docs/"],
            "access_key_id": f"env:{KEY_ENV}", "secret_access_key": f"env:{SECRET_ENV}",
            "acl": {"": ["public"]}, "max_keys": 2, "max_attempts": 4, **kw}


def connector(srv: MotoS3Server, bucket: str, max_bytes: int = 10**6, **kw: Any) -> S3Connector:
    settings = S3Settings.model_validate(config(srv, bucket, **kw))
    return S3Connector(settings, ConnectorContext(HttpClient(), SecretResolver({KEY_ENV: "AKIATESTKEY", SECRET_ENV: SECRET}),
                                                  max_bytes))


def titles(app: Souverain, query: str, access: AccessFilter | None = None) -> set[str]:
    return {h.title.lower() for h in app.search(query, access or AccessFilter.public(), mode="lexical").hits}


# -- scenarios through the sync runner -----------------------------------------------------------


def test_sync_follows_puts_overwrites_deletes_and_moves(app: Souverain, s3: tuple[MotoS3Server, str]) -> None:
    srv, bucket = s3
    client = srv.client()
    app.sources.add("bucket", "s3", config(srv, bucket))
    r = app.sources.sync("bucket")
    assert r.status == "done", r.error
    assert r.counts["added"] == 2 and r.counts["failed"] == 0
    assert set(app.sources.item_uris("bucket")) == {"docs/travel.md", "docs/hr/salaries.txt"}
    assert titles(app, "train tickets") == {"travel"}
    assert titles(app, "zeppelin") == set()

    r = app.sources.sync("bucket")
    assert r.counts["unchanged"] == 2 and r.counts["added"] == r.counts["updated"] == 0

    put(srv, bucket, "docs/travel.md", "# Travel\nTaxis are reimbursed after 22:00 only.")  # overwrite
    put(srv, bucket, "docs/new folder/kitchen rota.txt", "The kitchen is cleaned on Fridays.")
    client.copy_object(Bucket=bucket, Key="docs/pay-bands.txt", CopySource={"Bucket": bucket, "Key": "docs/hr/salaries.txt"})
    client.delete_object(Bucket=bucket, Key="docs/hr/salaries.txt")  # moved = copied + deleted
    r = app.sources.sync("bucket")
    assert r.status == "done", r.error
    assert (r.counts["updated"], r.counts["added"], r.counts["deleted"]) == (1, 2, 1)
    assert titles(app, "taxis reimbursed") == {"travel"} and titles(app, "train tickets") == set()
    assert titles(app, "kitchen cleaned fridays") == {"kitchen rota"}
    assert titles(app, "salary bands") == {"pay-bands"}
    uris = app.sources.item_uris("bucket")
    assert set(uris) == {"docs/travel.md", "docs/new folder/kitchen rota.txt", "docs/pay-bands.txt"}
    assert set(app.store.document_uris(source="bucket")) == set(uris.values())

    client.copy_object(Bucket=bucket, Key="private/pay-bands.txt", CopySource={"Bucket": bucket, "Key": "docs/pay-bands.txt"})
    client.delete_object(Bucket=bucket, Key="docs/pay-bands.txt")  # moved out of the allow-listed prefix
    client.delete_object(Bucket=bucket, Key="docs/travel.md")
    r = app.sources.sync("bucket")
    assert r.counts["deleted"] == 2
    assert titles(app, "salary bands") == set() and titles(app, "taxis") == set()
    assert set(app.sources.item_uris("bucket")) == {"docs/new folder/kitchen rota.txt"}


def test_acl_rules_grant_then_revoke(app: Souverain, s3: tuple[MotoS3Server, str]) -> None:
    srv, bucket = s3
    bob = app.identity.create_user("bob")
    hr = app.identity.create_group("hr")
    app.identity.add_user_to_group(hr.id, bob.id)
    bob_access = app.identity.access_filter_for(bob.id)
    base = {"docs/": ["ext:s3:admins"]}
    app.sources.add("bucket", "s3", config(srv, bucket, acl=base))
    assert app.sources.sync("bucket").status == "done"
    assert titles(app, "salary bands", bob_access) == set()

    app.sources.update("bucket", settings=config(srv, bucket, acl={**base, "docs/hr/": [f"group:{hr.id}"]}))
    r = app.sources.sync("bucket")
    assert r.counts["permissions_updated"] == 1 and r.counts["added"] == r.counts["updated"] == 0
    assert titles(app, "salary bands", bob_access) == {"salaries"}
    assert titles(app, "train tickets", bob_access) == set()

    app.sources.update("bucket", settings=config(srv, bucket, acl=base))
    r = app.sources.sync("bucket")
    assert r.counts["permissions_updated"] == 1
    assert titles(app, "salary bands", bob_access) == set()


def test_slowdown_is_retried_by_botocore_and_a_refused_object_fails_alone(app: Souverain, s3: tuple[MotoS3Server, str]) -> None:
    srv, bucket = s3
    assert srv.faults is not None
    put(srv, bucket, "docs/locked.txt", "this object cannot be downloaded")
    srv.faults.clear()
    srv.faults.fail_path(f"/{bucket}/docs/locked.txt", 403)
    srv.faults.fail_next(1, 503)  # the first listing call: SlowDown, then 429 Too Many Requests
    srv.faults.fail_next(1, 429)
    app.sources.add("bucket", "s3", config(srv, bucket))
    r = app.sources.sync("bucket")
    assert r.status == "done", r.error
    assert r.counts["added"] == 2 and r.counts["failed"] == 1
    assert [(rep.uri, rep.reason) for rep in r.reports if rep.status == "failed"] == [
        ("s3://bucket/docs%2Flocked.txt", "forbidden")]
    lists = [q for m, p, q in srv.faults.log if m == "GET" and p == f"/{bucket}" and "list-type=2" in q]
    assert len(lists) == 2 + 2  # two throttled tries, then the two pages of 4 keys (max_keys=2)

    app.sources.update("bucket", settings=config(srv, bucket, max_attempts=2))
    srv.faults.fail_next(20, 503)  # still throttled after botocore's attempts: the sync fails, the index stays
    r = app.sources.sync("bucket")
    assert r.status == "failed" and r.error.startswith("throttled:") and "SlowDown" in r.error
    assert len(app.store.document_uris(source="bucket")) == 2


def test_nothing_outside_the_prefixes_is_ever_requested(app: Souverain, s3: tuple[MotoS3Server, str]) -> None:
    srv, bucket = s3
    assert srv.faults is not None
    put(srv, bucket, "docs/hr/deep/onboarding.txt", "New hires get a laptop on their first morning.")
    srv.faults.clear()
    app.sources.add("bucket", "s3", config(srv, bucket, prefixes=["docs/hr/", "docs/hr/deep/", "docs/travel"]))
    r = app.sources.sync("bucket")
    assert r.status == "done" and r.counts["added"] == 3
    log = list(srv.faults.log)
    gets = [p for m, p, q in log if m == "GET" and p != f"/{bucket}"]
    assert sorted(gets) == [f"/{bucket}/docs/hr/deep/onboarding.txt", f"/{bucket}/docs/hr/salaries.txt",
                            f"/{bucket}/docs/travel.md"]
    prefixes = sorted({dict(x.split("=", 1) for x in q.split("&"))["prefix"] for m, p, q in log if "list-type=2" in q})
    assert prefixes == ["docs%2Fhr%2F", "docs%2Ftravel"]  # the nested prefix was folded into its parent

    with pytest.raises(SourceConfigError, match="prefixes"):
        app.sources.add("nothing", "s3", config(srv, bucket, prefixes=[]))
    with pytest.raises(SourceConfigError, match="acl"):
        app.sources.add("invisible", "s3", config(srv, bucket, acl={}))


def test_bad_credentials_and_missing_bucket_fail_clearly_and_keep_the_index(
        app: Souverain, s3: tuple[MotoS3Server, str], caplog: pytest.LogCaptureFixture) -> None:
    srv, bucket = s3
    app.sources.add("bucket", "s3", config(srv, bucket))
    assert app.sources.sync("bucket").counts["added"] == 2
    caplog.set_level(logging.DEBUG)
    with iam_enforced():  # moto now checks keys: ours is unknown to its IAM
        r = app.sources.sync("bucket")
        with pytest.raises(SourceError) as err:
            app.sources.check("bucket")
    assert r.status == "failed" and r.error.startswith("auth_failed:") and "InvalidAccessKeyId" in r.error, r.error
    assert err.value.reason == "auth_failed"
    assert SECRET not in r.error and SECRET not in str(err.value) and SECRET not in caplog.text
    assert app.sources.get("bucket")["last_error"].startswith("auth_failed")
    assert len(app.store.document_uris(source="bucket")) == 2

    app.sources.update("bucket", settings=config(srv, "no-such-bucket-here"))
    r = app.sources.sync("bucket")
    assert r.status == "failed" and r.error.startswith("not_found:") and "no-such-bucket-here" in r.error
    assert len(app.store.document_uris(source="bucket")) == 2


# -- the connector on its own -------------------------------------------------------------------


def test_listing_token_resumes_and_skips_folder_markers(s3: tuple[MotoS3Server, str]) -> None:
    srv, bucket = s3
    conn = connector(srv, bucket, max_keys=2, prefixes=["docs/", "private/"])
    ids: list[str] = []
    tokens: list[str] = []
    token: str | None = None
    while True:
        page = connector(srv, bucket, max_keys=1, prefixes=["docs/", "private/"]).list_page(token)  # a new process each page
        ids.extend(i.id for i in page.items)
        if page.next_token is None:
            break
        token = page.next_token
        tokens.append(token)
    assert ids == ["docs/hr/salaries.txt", "docs/travel.md", "private/diary.txt"]  # "docs/hr/" is a folder marker
    assert json.loads(tokens[0])["i"] == 0 and json.loads(tokens[0])["c"]
    assert json.loads(tokens[-1]) == {"i": 1, "prefix": "private/", "c": None}
    # a token written for other prefixes restarts at the first prefix; so does garbage
    other = connector(srv, bucket, prefixes=["private/"])
    assert [i.id for i in other.list_page(tokens[-1]).items] == ["private/diary.txt"]
    assert [i.id for i in conn.list_page("{not json").items] == ["docs/hr/salaries.txt"]
    item = conn.list_page(None).items[0]
    assert item.version and item.size == len("Salary bands for engineers are reviewed every March.")
    assert item.principals == ("public",) and item.modified_at is not None and item.name == "salaries.txt"


def test_fetch_errors_are_per_item_and_the_size_cap_holds(s3: tuple[MotoS3Server, str]) -> None:
    srv, bucket = s3
    conn = connector(srv, bucket, max_bytes=30)
    unsized = SourceItem(id="docs/travel.md", name="travel.md", path="docs/travel.md", version="x")
    with pytest.raises(ItemError) as err:
        conn.fetch(unsized)  # refused on ContentLength, before the body is read
    assert err.value.reason == "file_too_large"
    sized = SourceItem(id="docs/travel.md", name="travel.md", path="docs/travel.md", version="x", size=10**6)
    assert srv.faults is not None
    srv.faults.clear()
    with pytest.raises(ItemError, match="limit"):
        conn.fetch(sized)
    assert srv.faults.log == []  # the listed size was enough to refuse it
    gone = SourceItem(id="docs/gone.txt", name="gone.txt", path="docs/gone.txt", version="x")
    with pytest.raises(ItemError) as err:
        conn.fetch(gone)  # deleted between the listing and the download
    assert err.value.reason == "not_found"
    with pytest.raises(ItemError, match="outside"):
        conn.fetch(SourceItem(id="private/diary.txt", name="diary.txt", path="private/diary.txt", version="x"))
    assert connector(srv, bucket).fetch(unsized).startswith(b"# Travel")


def test_missing_boto3_is_a_clear_error(s3: tuple[MotoS3Server, str], monkeypatch: pytest.MonkeyPatch) -> None:
    srv, bucket = s3
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if the optional extra were not installed
    with pytest.raises(SourceError) as err:
        connector(srv, bucket)
    assert err.value.reason == "missing_extra" and "souverain[s3]" in str(err.value)


def test_settings_validation() -> None:
    base = {"bucket": "docs", "access_key_id": "env:K", "secret_access_key": "env:S", "acl": {"": ["public"]}}
    s = S3Settings.model_validate({**base, "prefixes": ["a/", "a/b/", "c"]})
    assert s.prefixes == ["a/", "c"] and s.endpoint_url == "" and s.addressing_style is None
    assert S3Settings.model_validate({**base, "prefixes": [""]}).prefixes == [""]  # the whole bucket, written explicitly
    for bad in ({"prefixes": []}, {}, {"prefixes": ["a/"], "acl": {}}, {"prefixes": ["a/"], "secret_access_key": "abc"},
                {"prefixes": ["a/"], "endpoint_url": "minio:9000"}, {"prefixes": ["a/"], "addressing_style": "dns"},
                {"prefixes": ["a/"], "max_keys": 5000}, {"prefixes": ["a/"], "region2": "x"}):
        with pytest.raises(ValueError):
            S3Settings.model_validate({**base, **bad})


# -- crash safety ------------------------------------------------------------------------------


def test_sigkill_mid_sync_then_resume_ends_equal_to_the_bucket(tmp_path: Path, s3: tuple[MotoS3Server, str]) -> None:
    srv, bucket = s3
    client = srv.client()
    for key in ("docs/travel.md", "docs/hr/salaries.txt", "docs/hr/"):
        client.delete_object(Bucket=bucket, Key=key)
    contents = {f"docs/dept{i % 5}/note-{i:04}.txt": f"Note {i}: unit {i} reports {i * 37 % 1000}.\n" for i in range(2000)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1].encode()), contents.items()))
    data, env = tmp_path / "data", cli_env(**{KEY_ENV: "AKIATESTKEY", SECRET_ENV: SECRET})
    add_source(data, "big", "s3", config(srv, bucket, max_keys=100), env)
    sync_and_kill(data, "big", env)

    client.delete_object(Bucket=bucket, Key="docs/dept0/note-0000.txt")
    del contents["docs/dept0/note-0000.txt"]
    contents["docs/late.txt"] = "A late addition about the canteen menu."
    contents["docs/dept3/note-0003.txt"] = "Edited after the crash: the budget doubled."
    for key in ("docs/late.txt", "docs/dept3/note-0003.txt"):
        client.put_object(Bucket=bucket, Key=key, Body=contents[key].encode())

    resume_sync(data, "big", env)
    assert_index_equals(data, "big", {k: v.encode() for k, v in contents.items()})
