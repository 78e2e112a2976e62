"""Permissions configured by path prefix, for sources that carry none (S3, plain WebDAV, local folders).

``rules`` map a key/path prefix to principals; the longest matching prefix wins, so
``{"": ["group:1"], "hr/": ["group:2"]}`` gives everything to group 1 except ``hr/``. A path that
no rule matches gets no principals: it is indexed but invisible until a rule covers it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..documents import validate_principal


def check_rules(rules: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for prefix, principals in rules.items():
        out[prefix.lstrip("/")] = sorted({validate_principal(p) for p in principals})
    return out


def principals_for_path(rules: Mapping[str, Sequence[str]], path: str) -> tuple[str, ...]:
    path = path.lstrip("/")
    best: str | None = None
    for prefix in rules:
        p = prefix.lstrip("/")
        if path.startswith(p) and (best is None or len(p) > len(best.lstrip("/"))):
            best = prefix
    return tuple(sorted(set(rules[best]))) if best is not None else ()
