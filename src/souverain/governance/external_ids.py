"""How a signed-in user comes to hold a connector's principals (``ext:<namespace>:…``).

Connectors write ACLs in the source's own terms: Microsoft 365 names people by Entra object id,
Google Drive by e-mail address, Nextcloud by user id. At each OpenID Connect sign-in, the verified ID
token's claims are turned into those principals for the namespace configured with
``SOUVERAIN_OIDC_EXTERNAL_NAMESPACE`` (the provider that is also the documents' directory):

- ``m365`` (Entra ID): ``oid`` → ``ext:m365:<oid>``; ``tid`` → ``ext:m365:tenant:<tid>`` (organisation-wide
  sharing links). Entra's ``sub`` is pairwise per application, so ``oid`` is the one Graph uses.
- ``gdrive`` (Google): ``email`` when ``email_verified`` → ``ext:gdrive:<email>``; ``hd`` (the Workspace
  domain) → ``ext:gdrive:domain:<hd>``.
- ``nextcloud`` (Nextcloud's OIDC provider): ``preferred_username`` → ``ext:nextcloud:<user id>``.

Group membership is not taken from the token for these: connectors sync the source's groups
(``external_group_members``) and the identity query expands them. Principals of the namespace the
token no longer asserts are removed at sign-in, so a changed address cannot keep old access.
Administrators can also link identities by hand (``souverain users link``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NAMESPACES = ("m365", "gdrive", "nextcloud")


def _s(claims: Mapping[str, Any], key: str) -> str:
    value = claims.get(key)
    return value.strip() if isinstance(value, str) and value.strip() and len(value) <= 320 else ""


def principals_from_claims(namespace: str, claims: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    if namespace == "m365":
        if oid := _s(claims, "oid"):
            out.add(f"ext:m365:{oid}")
        if tid := _s(claims, "tid"):
            out.add(f"ext:m365:tenant:{tid}")
    elif namespace == "gdrive":
        if (email := _s(claims, "email")) and claims.get("email_verified") is True:
            out.add(f"ext:gdrive:{email.lower()}")
        if hd := _s(claims, "hd"):
            out.add(f"ext:gdrive:domain:{hd.lower()}")
    elif namespace == "nextcloud" and (uid := _s(claims, "preferred_username")):
        out.add(f"ext:nextcloud:{uid}")
    return out
