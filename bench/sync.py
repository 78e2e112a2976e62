"""Sync benchmark: initial sync, unchanged re-sync and peak memory for each source connector.

Run from the repository root (the stand-in servers come from ``tests/sources/``; nothing leaves 127.0.0.1):

    .venv/bin/python bench/sync.py                        # 2,000 then 10,000 documents per connector
    .venv/bin/python bench/sync.py --quick                # smoke run: 200 then 1,000
    .venv/bin/python bench/sync.py --docs 2000 --resync-docs 10000 --connectors local,webdav,s3,m365,gdrive

Connectors and the stand-ins they talk to: ``local`` (a folder), ``webdav`` (wsgidav + cheroot, mounted
where Nextcloud mounts a user's files), ``s3`` (moto in server mode), ``m365`` (the fake Microsoft Graph
and Entra token endpoint), ``gdrive`` (the fake Drive v3 / Directory / OAuth endpoints). Every sync goes
through the real ``Souverain(...).sources`` API (``add`` then ``sync``) and the real sync runner;
documents are indexed lexically only (the embedding worker is not started by ``sync``, nothing is
embedded).

Documents: realistic small text and markdown files, 1-3 KB each, unique words and numbers, spread over
10 folders (5 departments x 2 teams). Principals: a public rule for the rule-based connectors
(local, WebDAV, S3); an organisation-wide link plus a group for Microsoft 365 (read per item through
``/permissions``, as Graph requires); a shared drive whose members are a user and a group for Google
Drive (read per item through ``permissions.list``, as Drive requires for shared drives).

Process layout, so that the numbers are the sync's own: for every connector and size, one subprocess
hosts the stand-in server (populated before anything is timed) and a second subprocess runs the syncs;
CPU seconds and peak RSS (``ru_maxrss``) are those of the sync process only. Both share the 2 cores.

What is measured, per connector, in the sync process:

1. Initial sync of ``--docs`` documents (default 2,000): wall s, CPU s, documents/s, HTTP requests
   (``SyncResult.http``; for S3, boto3 requests counted with a botocore ``before-send`` hook, since the
   S3 connector does not go through ``ctx.http``), peak RSS.
2. Re-sync of ``--resync-docs`` unchanged documents (default 10,000): a fresh source is populated with
   that many documents and synced once (timed too: the initial sync at 10,000), then synced again with
   nothing changed. Goal: < 30 s (only metadata is compared). Listing connectors (local, WebDAV, S3)
   re-list everything and compare versions. Change-feed connectors (Microsoft 365, Google Drive) make
   one delta call when nothing changed; their second sync also runs Microsoft 365's daily id prune
   (a metadata-only delta enumeration), so the plain delta sync is the third one. For them a
   ``full=True`` re-sync (a re-enumeration that compares metadata and re-reads permissions) is timed
   too: that is the fair "metadata comparison" number, and the one the goal is checked on.
3. Baseline in the same run, on the same source and items: a "naive re-sync", what a sync without
   version tracking must do: enumerate with the same connector (``list_page`` / ``changes(None)``),
   ``fetch()`` every document's bytes and SHA-256 them (no parsing, no database, no permission reads,
   so it is a lower bound). Ratio = naive / ours, on wall and CPU time.
4. Peak RSS of the sync process after the syncs (before the baseline runs), at ``--docs`` and at
   ``--resync-docs`` documents, to show memory stays bounded as the source grows.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import hashlib
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CONNECTORS = ("local", "webdav", "s3", "m365", "gdrive")
CHANGE_FEEDS = frozenset({"m365", "gdrive"})
TITLES = {"local": "local folder", "webdav": "WebDAV (wsgidav)", "s3": "S3 (moto)", "m365": "Microsoft 365 (fake Graph)",
          "gdrive": "Google Drive (fake Drive)"}
READY = "BENCH-READY "
GOAL_S = 30.0
GRAPH_PAGE = 200  # items per delta page in the Graph stand-in (Graph's own delta pages hold ~200 items)

VOCABULARY = ("budget contract supplier invoice quarterly revenue forecast policy employee onboarding training travel "
         "reimbursement expense approval committee board minutes agenda project milestone deadline delivery "
         "customer support ticket escalation incident report security audit compliance privacy retention archive "
         "procurement tender offer negotiation renewal termination clause liability warranty insurance premium "
         "office lease maintenance canteen parking schedule holiday leave parental salary band review promotion "
         "recruitment interview candidate benefits pension health safety fire drill evacuation laptop software "
         "licence server backup network outage migration cloud storage database release roadmap feature design "
         "prototype testing quality metric objective result strategy market competitor pricing discount partner "
         "distributor logistics warehouse inventory shipment order payment terms currency tax declaration "
         "subsidiary merger acquisition shareholder dividend meeting vote resolution director manager team "
         "department finance legal marketing sales engineering operations research analysis summary appendix")
WORDS = VOCABULARY.split()
DEPTS = ("Finance", "HR", "Legal", "Sales", "Engineering")
TEAMS = ("Team A", "Team B")


def fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def mb(n_bytes: float) -> str:
    return fmt(n_bytes / 2**20, 0)


class Clock:
    """Wall and process-CPU time of a block."""

    def __enter__(self) -> Clock:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


# documents ------------------------------------------------------------------------------------------
def document(i: int) -> tuple[str, str]:
    """(relative path, text) of document ``i``: 1-3 KB of text or markdown, deterministic and unique."""
    rng = random.Random(i)
    dept, team = DEPTS[i % len(DEPTS)], TEAMS[(i // len(DEPTS)) % len(TEAMS)]
    md = i % 3 != 0
    topic = " ".join(rng.sample(WORDS, 3))
    target = rng.randint(1000, 3000)
    lines = [f"# {topic.title()} ({dept}, note {i})" if md else f"{topic.title()} - {dept} note {i}", ""]
    size = sum(len(x) + 1 for x in lines)
    para = 0
    while size < target:
        para += 1
        words = [rng.choice(WORDS) for _ in range(rng.randint(25, 60))]
        words[0] = words[0].capitalize()
        text = (f"{' '.join(words)}. Reference {dept[:3].upper()}-{i:05d}-{para}, amount {rng.randint(100, 99999)} EUR, "
                f"due {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2023, 2026)}.")
        if md and para % 3 == 1:
            lines += [f"## {rng.choice(WORDS).title()} {para}", ""]
        lines += [text, ""]
        size += len(text) + 2
    name = f"{dept}/{team}/note-{i:05d}.{'md' if md else 'txt'}"
    return name, "\n".join(lines)


# the stand-in server host (its own process) ---------------------------------------------------------
def _write_tree(root: Path, n: int) -> int:
    total = 0
    for i in range(n):
        rel, text = document(i)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        total += len(text.encode())
    return total


def serve(kind: str, n: int, workdir: Path) -> None:
    """Start the stand-in for ``kind``, put ``n`` documents in it, print how to reach it, serve until stdin closes."""
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    info: dict[str, Any] = {"kind": kind, "n": n, "env": {}}
    stack: list[Any] = []
    if kind == "local":
        folder = workdir / "folder"
        info["bytes"] = _write_tree(folder, n)
        info["settings"] = {"path": str(folder), "acl": {"": ["public"]}}
        info["requests"] = lambda: 0
    elif kind == "webdav":
        from tests.sources.servers import WebDAVServer

        srv = WebDAVServer(workdir / "nextcloud")
        info["bytes"] = _write_tree(workdir / "nextcloud" / "Documents", n)  # straight into the served folder
        stack.append(srv.__enter__())
        info["env"] = {"BENCH_WEBDAV_PASSWORD": srv.password}
        info["settings"] = {"base_url": srv.base_url, "username": srv.user, "password": "env:BENCH_WEBDAV_PASSWORD",
                            "folders": ["Documents"], "acl": {"": ["public"]}}
        info["requests"] = lambda: len(srv.faults.log) if srv.faults else 0
    elif kind == "s3":
        from tests.sources.servers import MotoS3Server

        srv3 = MotoS3Server().__enter__()
        stack.append(srv3)
        client = srv3.client()
        client.create_bucket(Bucket="bench")
        docs = [document(i) for i in range(n)]

        def put(doc: tuple[str, str]) -> int:
            body = doc[1].encode()
            client.put_object(Bucket="bench", Key=f"docs/{doc[0]}", Body=body)
            return len(body)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            info["bytes"] = sum(pool.map(put, docs))
        info["env"] = {"BENCH_S3_KEY": "AKIABENCHKEY", "BENCH_S3_SECRET": "bench-secret-value"}
        info["settings"] = {"endpoint_url": srv3.endpoint_url, "region": "us-east-1", "bucket": "bench",
                            "prefixes": ["docs/"], "access_key_id": "env:BENCH_S3_KEY",
                            "secret_access_key": "env:BENCH_S3_SECRET", "acl": {"": ["public"]}}
        info["requests"] = lambda: len(srv3.faults.log) if srv3.faults else 0
    elif kind == "m365":
        from tests.sources.fake_graph import FakeGraph

        g = FakeGraph(page_size=GRAPH_PAGE).__enter__()
        stack.append(g)
        g.add_site("contoso.sharepoint.com", "/sites/bench")
        gid = g.add_group([("user", g.add_user(f"user{k}@contoso.com", with_drive=False)) for k in range(5)])
        drive = g.drive("Documents")
        drive.default_permissions = [
            {"id": "org", "roles": ["read"], "link": {"scope": "organization", "type": "view"}},
            {"id": "grp", "roles": ["write"], "grantedToV2": {"group": {"id": gid}}}]
        total = 0
        for i in range(n):
            rel, text = document(i)
            total += len(text.encode())
            g.add_file(drive, rel, text)
        info["bytes"] = total
        info["env"] = {"BENCH_M365_SECRET": g.client_secret}
        info["settings"] = {"tenant_id": g.tenant_id, "client_id": g.client_id, "client_secret": "env:BENCH_M365_SECRET",
                            "authority_url": g.authority_url, "graph_url": g.graph_url,
                            "sites": ["contoso.sharepoint.com:/sites/bench"]}
        info["requests"] = lambda: len(g.requests)
    elif kind == "gdrive":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from tests.sources.fake_drive import FakeGoogle, group, user

        admin, sa_email = "admin@example.com", "souverain-bench@bench-project.iam.gserviceaccount.com"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        fg = FakeGoogle(sa_email, key.public_key(), [admin]).__enter__()
        stack.append(fg)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        key_file = workdir / "service-account.json"
        key_file.write_text(json.dumps({"type": "service_account", "private_key_id": "k1", "private_key": pem,
                                        "client_email": sa_email, "token_uri": fg.token_uri}))
        key_file.chmod(0o600)
        fg.add_group("staff@example.com", [f"user{k}@example.com" for k in range(5)])
        drive_id = fg.add_drive("drv-bench", "Documents", [user(admin, "organizer"), group("staff@example.com")])
        folders: dict[str, str] = {}
        total = 0
        for i in range(n):
            rel, text = document(i)
            dept_team, _, name = rel.rpartition("/")
            if dept_team not in folders:
                dept, _, team = dept_team.partition("/")
                if dept not in folders:
                    folders[dept] = fg.add_folder(dept, drive=drive_id)
                folders[dept_team] = fg.add_folder(team, parent=folders[dept])
            total += len(text.encode())
            fg.add_file(name, text, parent=folders[dept_team], mime="text/markdown" if name.endswith(".md")
                        else "text/plain")
        info["bytes"] = total
        info["settings"] = {"service_account_key": f"file:{key_file}", "subject": admin, "shared_drives": [drive_id],
                            "drive_url": fg.url, "directory_url": fg.url}
        info["requests"] = lambda: len(fg.requests)
    else:
        raise SystemExit(f"unknown connector {kind!r}")
    counter = info.pop("requests")
    info["populate_s"] = time.perf_counter() - t0
    print(READY + json.dumps(info), flush=True)
    for line in sys.stdin:  # the parent asks for the stand-in's request count, or closes stdin when done
        if line.strip() == "requests":
            print(json.dumps({"requests": counter()}), flush=True)
    for srv_obj in reversed(stack):
        srv_obj.__exit__(None, None, None)


# the sync process ---------------------------------------------------------------------------------
def _count_boto3_requests(counter: list[int]) -> None:
    """Count the S3 connector's HTTP requests (retries included): it uses boto3, not ``ctx.http``."""
    from souverain.sources.s3 import S3Connector

    original = S3Connector.client

    def client(self: Any) -> Any:
        c = original(self)
        if not getattr(c, "_bench_counted", False):
            def before_send(**_: Any) -> None:
                counter[0] += 1

            c.meta.events.register("before-send.s3", before_send)
            c._bench_counted = True
        return c

    S3Connector.client = client  # type: ignore[method-assign]


def _naive(sv: Any, name: str, boto_requests: list[int]) -> dict[str, Any]:
    """Enumerate with the same connector, fetch every item's bytes and hash them (no version tracking)."""
    from souverain.sources.base import PollsChanges

    conn = sv.sources.connector(sv.sources.table.get(name))
    boto0 = boto_requests[0]
    n = nbytes = 0
    digest = hashlib.sha256()
    with Clock() as c:
        items = []
        if isinstance(conn, PollsChanges):
            cursor = None
            while True:
                page = conn.changes(cursor)
                items += [ch.item for ch in page.changes if ch.item is not None]
                cursor = page.cursor
                if not page.more:
                    break
        else:
            token = None
            while True:
                lp = conn.list_page(token)
                items += lp.items
                token = lp.next_token
                if token is None:
                    break
        for item in {it.id: it for it in items}.values():
            data = conn.fetch(item)
            digest.update(hashlib.sha256(data).digest())
            n += 1
            nbytes += len(data)
    requests = conn.ctx.http.stats.requests + (boto_requests[0] - boto0)
    conn.close()
    return {"wall": c.wall, "cpu": c.cpu, "items": n, "bytes": nbytes, "requests": requests}


def sync_child(spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    os.environ.update(spec["env"])
    from souverain.service import Souverain
    from souverain.settings import Settings

    kind, name = spec["kind"], f"bench-{spec['kind']}"
    boto_requests = [0]
    if kind == "s3":
        _count_boto3_requests(boto_requests)
    sv = Souverain(Settings(data_dir=Path(spec["data_dir"])))
    sv.sources.add(name, kind, spec["settings"], schedule_minutes=0)
    out: dict[str, Any] = {"kind": kind, "n": spec["n"], "rss_start": peak_rss(), "syncs": {}}

    def run(label: str, **kw: Any) -> None:
        boto0 = boto_requests[0]
        with Clock() as c:
            r = sv.sources.sync(name, **kw)
        http = dict(r.http)
        if kind == "s3":
            http["requests"] = boto_requests[0] - boto0
        out["syncs"][label] = {"wall": c.wall, "cpu": c.cpu, "status": r.status, "error": r.error,
                               "counts": r.counts, "http": http, "full_pass": r.full_pass, "pruned": r.pruned,
                               "rss_after": peak_rss()}

    run("initial")
    run("resync")
    if kind in CHANGE_FEEDS:
        run("resync2")
        run("full", full=True)
    out["documents"] = len(sv.store.document_uris(source=name))
    out["rss_sync"] = peak_rss()
    out["naive"] = _naive(sv, name, boto_requests)
    out["rss_end"] = peak_rss()
    sv.close()
    print(json.dumps(out))


# orchestration ------------------------------------------------------------------------------------
def scenario(kind: str, n: int, workdir: Path, timeout: float) -> dict[str, Any]:
    """One stand-in populated with ``n`` documents, one sync process against it; the sync process's JSON."""
    workdir.mkdir(parents=True)
    log = (workdir / "server.log").open("w")
    server = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--n", str(n), "--workdir", str(workdir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
    try:
        assert server.stdout is not None and server.stdin is not None
        info = None
        for line in server.stdout:
            if line.startswith(READY):
                info = json.loads(line[len(READY):])
                break
        if info is None:
            log.flush()
            raise RuntimeError(f"{kind} stand-in did not start: {(workdir / 'server.log').read_text()[-1500:]}")
        spec = {"kind": kind, "n": n, "env": info["env"], "settings": info["settings"], "data_dir": str(workdir / "data")}
        spec_path = workdir / "spec.json"
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.run([sys.executable, __file__, "--sync-child", str(spec_path)], capture_output=True, text=True,
                              cwd=ROOT, timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if proc.returncode != 0:
            raise RuntimeError(f"sync process failed (rc {proc.returncode}): {proc.stderr[-1500:]}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        server.stdin.write("requests\n")
        server.stdin.flush()
        result["server_requests"] = json.loads(server.stdout.readline())["requests"]
        result["populate_s"] = info["populate_s"]
        result["bytes"] = info["bytes"]
        return result
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _req(s: dict[str, Any]) -> int:
    return int(s["http"].get("requests", 0))


def goal(wall: float) -> str:
    return "**PASS**" if wall < GOAL_S else "**FAIL**"


def initial_rows(results: dict[tuple[str, int], dict[str, Any]], kinds: list[str], sizes: list[int]) -> list[str]:
    rows = ["| connector | docs | indexed | wall s | CPU s | docs/s (wall) | docs/s (CPU) | HTTP requests | "
            "requests/doc | peak RSS MB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in kinds:
        for n in sizes:
            r = results.get((kind, n))
            if r is None or "error" in r:
                rows.append(f"| {TITLES[kind]} | {n:,} | failed: {(r or {}).get('error', 'not run')[:120]} |"
                            + " - |" * 7)
                continue
            s = r["syncs"]["initial"]
            req = _req(s)
            rows.append(f"| {TITLES[kind]} | {n:,} | {s['counts']['added']:,} | {fmt(s['wall'])} | {fmt(s['cpu'])} | "
                        f"{fmt(n / s['wall'])} | {fmt(n / max(s['cpu'], 1e-9))} | "
                        + (f"{req:,} | {fmt(req / n, 2)} |" if kind != "local" else "- (no HTTP) | - |")
                        + f" {mb(s['rss_after'])} |")
    return rows


def resync_rows(results: dict[tuple[str, int], dict[str, Any]], kinds: list[str], n: int) -> list[str]:
    rows = ["| connector | docs | re-sync (nothing changed) | wall s | CPU s | HTTP requests | goal < 30 s | "
            "naive: enumerate + fetch + SHA-256, wall / CPU s (requests) | naive / ours, wall | naive / ours, CPU |",
            "|---|---:|---|---:|---:|---:|---|---:|---:|---:|"]
    for kind in kinds:
        r = results.get((kind, n))
        if r is None or "error" in r:
            rows.append(f"| {TITLES[kind]} | {n:,} | failed: {(r or {}).get('error', 'not run')[:120]} |" + " - |" * 7)
            continue
        nv = r["naive"]
        naive = f"{fmt(nv['wall'])} / {fmt(nv['cpu'])} ({nv['requests']:,})" if kind != "local" else \
            f"{fmt(nv['wall'])} / {fmt(nv['cpu'])} (-)"
        if kind in CHANGE_FEEDS:
            modes = [("resync2" if kind == "m365" else "resync", "change feed: one delta round", False),
                     *([("resync", "change feed + the daily id prune (its 2nd sync)", False)] if kind == "m365" else []),
                     ("full", "`full=True`: re-enumerate, compare metadata, re-read permissions", True)]
        else:
            modes = [("resync", "full listing, compare versions", True)]
        for label, title, compared in modes:
            s = r["syncs"][label]
            unchanged = s["counts"].get("unchanged", 0)
            status = "" if s["status"] == "done" else f" ({s['status']}: {s['error'][:80]})"
            req = f"{_req(s):,}" if kind != "local" else "-"
            ratio_w = f"**{nv['wall'] / s['wall']:.1f}x**" if compared else "-"
            ratio_c = f"**{nv['cpu'] / max(s['cpu'], 1e-9):.1f}x**" if compared else "-"
            seen = f"{unchanged:,} unchanged" if unchanged else "no change reported"
            rows.append(f"| {TITLES[kind]} | {n:,} | {title}{status} ({seen}) | {fmt(s['wall'], 2)} | "
                        f"{fmt(s['cpu'], 2)} | {req} | {goal(s['wall'])} | {naive if compared else '-'} | {ratio_w} | "
                        f"{ratio_c} |")
    return rows


def rss_rows(results: dict[tuple[str, int], dict[str, Any]], kinds: list[str], small: int, big: int) -> list[str]:
    rows = [f"| connector | RSS before the first sync MB | peak RSS, {small:,} docs MB | peak RSS, {big:,} docs MB | "
            f"growth per 1,000 docs MB | peak incl. naive baseline, {big:,} docs MB |",
            "|---|---:|---:|---:|---:|---:|"]
    for kind in kinds:
        a, b = results.get((kind, small)), results.get((kind, big))
        if not a or not b or "error" in a or "error" in b:
            rows.append(f"| {TITLES[kind]} | - | - | - | - | - |")
            continue
        growth = (b["rss_sync"] - a["rss_sync"]) / 2**20 / max((big - small) / 1000, 1e-9)
        growth = 0.0 if abs(growth) < 0.05 else growth
        rows.append(f"| {TITLES[kind]} | {mb(b['rss_start'])} | {mb(a['rss_sync'])} | **{mb(b['rss_sync'])}** | "
                    f"{fmt(growth, 1)} | {mb(b['rss_end'])} |")
    return rows


def populate_rows(results: dict[tuple[str, int], dict[str, Any]], kinds: list[str], sizes: list[int]) -> list[str]:
    rows = ["| connector | docs | MB of text | stand-in populated in s (not timed) | requests the stand-in saw (populating, "
            "every sync and the baseline) |",
            "|---|---:|---:|---:|---:|"]
    for kind in kinds:
        for n in sizes:
            r = results.get((kind, n))
            if r is None or "error" in r:
                continue
            rows.append(f"| {TITLES[kind]} | {n:,} | {fmt(r['bytes'] / 1e6, 1)} | {fmt(r['populate_s'], 1)} | "
                        + (f"{r['server_requests']:,} |" if kind != "local" else "- |"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=None, help="documents for the initial sync (default 2000; --quick 200)")
    ap.add_argument("--resync-docs", type=int, default=None,
                    help="documents for the unchanged re-sync (default 10000; --quick 1000)")
    ap.add_argument("--connectors", default=",".join(CONNECTORS), help="comma-separated: " + ",".join(CONNECTORS))
    ap.add_argument("--quick", action="store_true", help="smoke run: 200 and 1,000 documents")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed for one sync process")
    ap.add_argument("--out", type=Path, default=RESULTS / "sync.md", help="markdown results")
    ap.add_argument("--serve", default="", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--sync-child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.n, args.workdir)
        return
    if args.sync_child:
        sync_child(args.sync_child)
        return

    small = args.docs if args.docs is not None else (200 if args.quick else 2000)
    big = args.resync_docs if args.resync_docs is not None else (1000 if args.quick else 10000)
    out_path = args.out
    kinds = [k.strip() for k in args.connectors.split(",") if k.strip()]
    if unknown := [k for k in kinds if k not in CONNECTORS]:
        ap.error(f"unknown connectors: {', '.join(unknown)}")
    sizes = sorted({small, big})
    started = time.perf_counter()
    argv = " ".join(sys.argv[1:])
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    results: dict[tuple[str, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="souverain-bench-sync-") as tmp:
        for kind in kinds:
            for n in sizes:
                print(f"[{time.perf_counter() - started:6.0f} s] {kind}: {n:,} documents", flush=True)
                try:
                    r = scenario(kind, n, Path(tmp) / f"{kind}-{n}", args.timeout)
                except Exception as exc:
                    traceback.print_exc()
                    r = {"error": f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")}
                results[(kind, n)] = r
                if "error" not in r:
                    s = r["syncs"]
                    print(f"    populate {r['populate_s']:.1f} s; initial {s['initial']['wall']:.1f} s wall / "
                          f"{s['initial']['cpu']:.1f} s CPU {s['initial']['counts']}; re-sync {s['resync']['wall']:.2f} s"
                          + (f"; full {s['full']['wall']:.2f} s" if "full" in s else "")
                          + f"; naive {r['naive']['wall']:.1f} s; peak RSS {mb(r['rss_sync'])} MB", flush=True)

    out = [
        "# Sync benchmark",
        "",
        f"`python bench/sync.py {argv}`".replace("  ", " ").replace(" `", "`"),
        f"({dt.datetime.now().isoformat(timespec='minutes')}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load} at start; the machine is shared, so the CPU-time columns are the steadier ones. "
        "Each stand-in server runs in its own process next to the sync process, on the same cores; CPU seconds and "
        "RSS are the sync process's own.)",
        "",
        f"Sizes: initial sync {small:,} documents; unchanged re-sync {big:,} documents (a fresh source, synced once, "
        "then again). Documents: 1-3 KB text/markdown in 10 folders; lexical indexing only (nothing embedded). "
        f"Microsoft Graph stand-in: {GRAPH_PAGE} items per delta page; Google Drive: the connector's default page size "
        "(100); S3: 1,000 keys per ListObjectsV2 page.",
        "",
    ]

    def section(title: str, rows: list[str]) -> None:
        block = [f"## {title}", "", *rows, ""]
        print("\n".join(block), flush=True)
        out.extend(block)

    section(f"1. Initial sync ({' and '.join(f'{n:,}' for n in sizes)} documents)",
            initial_rows(results, kinds, sizes)
            + ["", "Documents/s include download, parsing, chunking, FTS5 indexing and one SQLite transaction per "
               "document. Requests per document: 1 download (WebDAV `GET`, S3 `GetObject` counted with a botocore "
               "hook); Microsoft 365 3 (`/permissions`, `/content` answering `302`, the pre-authenticated download); "
               "Google Drive 2 (`permissions.list`, `alt=media`); listing pages, tokens and group members on top."])
    section(f"2. Re-sync of {big:,} unchanged documents (goal < {GOAL_S:.0f} s) vs a naive re-sync",
            resync_rows(results, kinds, big)
            + ["", "Naive = what a sync without version tracking must do on the same source: enumerate with the same "
               "connector, `fetch()` every document and SHA-256 it (no parsing, no database writes, no permission "
               "reads: a lower bound). Ratios are computed against the metadata-comparison sync (listing re-sync, or "
               "`full=True` for the change feeds); a change-feed delta round costs a handful of requests whatever the "
               "size. Where listings carry no permissions (SharePoint, shared drives), `full=True` reads each item's "
               "permissions again, one request per item like the naive download of a 1-3 KB file: there it costs about "
               "what the naive baseline costs (which reads no permissions), and what version tracking saves is the "
               "re-parsing and re-indexing (compare with the initial sync at the same size)."])
    section(f"3. Peak RSS of the sync process ({small:,} vs {big:,} documents, separate processes)",
            rss_rows(results, kinds, small, big)
            + ["", "Peak RSS (`ru_maxrss`) after the initial sync and the re-syncs, before the naive baseline runs; "
               "the last column includes the baseline (it holds the enumerated item list, never all the bytes). "
               "About 100 MB of the step from the first column is the language-identification model (py3langid) "
               "that the chunker loads with the first document; it does not grow with the source."])
    section("Stand-in servers", populate_rows(results, kinds, sizes))
    failed = [f"{k} at {n:,}: {r['error']}" for (k, n), r in results.items() if "error" in r]
    if failed:
        section("Failures", [f"- {f}" for f in failed])
    out.append(f"Total bench time {time.perf_counter() - started:.0f} s.")
    print(out[-1])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(out) + "\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
