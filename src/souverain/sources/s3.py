"""S3-compatible object storage (AWS S3, Scaleway, OVHcloud, MinIO, Garage...), read-only.

Calls (boto3, optional extra ``souverain[s3]``): ``ListObjectsV2`` per allow-listed prefix, paged
with ``MaxKeys``/``ContinuationToken``; ``GetObject`` to download. Request signing (SigV4) and
retries are boto3's job, so ``ctx.http`` is NOT used here: botocore retries throttling (``SlowDown``,
``503``), ``5xx`` and dropped connections in its ``standard`` mode up to ``max_attempts``; a
throttling or server error still there after that fails the sync (``SourceError("throttled")``),
so nothing stored is removed on a half-read bucket.

Listing token (``list_page``): ``{"i": <index in prefixes>, "prefix": <that prefix>, "c":
<ContinuationToken or null>}``; one page is one ``ListObjectsV2`` answer. A token whose prefix is
not the current ``prefixes[i]`` (the settings changed meanwhile), or that cannot be read, restarts the
pass at the first prefix (listing a key twice in a pass is harmless).

Item ids are object keys; S3 has no rename, so a move (copy + delete) is a delete plus an add.
``version`` is the ``ETag`` (it changes whenever the bytes change). Keys ending in ``/`` (the
"folder" markers consoles create) are skipped. ``prefixes`` is an allow-list and is required:
``""`` (the whole bucket) is accepted only when written explicitly; a prefix inside another listed
prefix is dropped (it would list its keys twice).

Permissions: S3 has no per-document readers Souverain could map, so ``acl`` rules are required:
a key prefix → principals (``sources/acl.py``, the longest prefix wins). An object that no rule
covers gets NO principals: it is indexed but invisible to every user until a rule covers it.

Errors: ``InvalidAccessKeyId``/``SignatureDoesNotMatch``/``AccessDenied`` on the listing →
``SourceError("auth_failed")``; ``NoSuchBucket`` → ``SourceError("not_found")``; ``NoSuchKey``
(deleted since the listing) or ``AccessDenied`` on one object → ``ItemError`` for that object only.
Objects larger than ``ctx.max_bytes`` fail with ``file_too_large`` (checked on the listed size and
on ``ContentLength`` before the body is read). NOT supported: object versions, SSE-C encrypted objects,
requester-pays buckets, S3 object ACLs/bucket policies as permissions.
"""

from __future__ import annotations

import json
import logging
import posixpath
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .acl import check_rules, principals_for_path
from .base import ConnectorContext, ItemError, ListPage, SourceError, SourceItem
from .secrets import SecretError, SecretRef

log = logging.getLogger(__name__)

AUTH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
                        "ExpiredToken", "InvalidSecurity", "AuthorizationHeaderMalformed", "403"})
THROTTLE_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
                            "TooManyRequests", "ServiceUnavailable", "RequestTimeout", "InternalError", "503", "500"})
MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_url: str = Field(default="", description="S3 endpoint, e.g. https://s3.fr-par.scw.cloud or "
                                                      "http://minio:9000; empty for AWS")
    region: str = Field(default="us-east-1", description="Region the bucket lives in (fr-par, gra, eu-west-3...)")
    bucket: str = Field(min_length=3, description="Bucket name")
    prefixes: list[str] = Field(min_length=1, description="Allow-listed key prefixes ('docs/hr/'); nothing outside is "
                                                          "listed or downloaded; write '' to index the whole bucket")
    access_key_id: SecretRef = Field(description="Reference to the access key id: 'env:NAME' or 'file:/path'")
    secret_access_key: SecretRef = Field(description="Reference to the secret access key: 'env:NAME' or 'file:/path'")
    acl: dict[str, list[str]] = Field(min_length=1, description="Key prefix → principals (the longest prefix wins); "
                                                                "an object no rule covers is indexed but invisible")
    addressing_style: Literal["path", "virtual"] | None = Field(
        default=None, description="'path' (bucket in the URL path; MinIO and most self-hosted servers) or 'virtual' "
                                  "(bucket in the host name; AWS); default: virtual for AWS, path with endpoint_url")
    max_keys: int = Field(default=1000, ge=1, le=1000, description="Keys per ListObjectsV2 page")
    max_attempts: int = Field(default=5, ge=1, le=20, description="botocore attempts per call (retries on throttling/5xx)")

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        cleaned = sorted(set(value))
        return [p for p in cleaned if not any(p != other and p.startswith(other) for other in cleaned)]

    @field_validator("acl")
    @classmethod
    def _acl(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return check_rules(value)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("endpoint_url must be an http(s) URL")
        return value.rstrip("/")


def _error_code(exc: Exception) -> tuple[str, int]:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


class S3Connector:
    kind: ClassVar[str] = "s3"
    namespace: ClassVar[str] = "s3"
    config_model: ClassVar[type[BaseModel]] = S3Settings

    def __init__(self, settings: S3Settings, ctx: ConnectorContext) -> None:
        try:
            import boto3
            import botocore.config
            import botocore.exceptions
        except ImportError:
            raise SourceError("missing_extra", "the S3 connector needs boto3: pip install 'souverain[s3]'") from None
        self.settings = settings
        self.ctx = ctx
        self._boto3 = boto3
        self._botocore_config = botocore.config
        self._exc = botocore.exceptions
        self._client: Any = None

    # -- plumbing ---------------------------------------------------------------------------------

    def client(self) -> Any:
        if self._client is None:
            s = self.settings
            try:
                key_id = self.ctx.secrets.resolve(s.access_key_id).get_secret_value()
                secret = self.ctx.secrets.resolve(s.secret_access_key).get_secret_value()
            except SecretError as exc:
                raise SourceError("missing_credentials", str(exc)) from None
            style = s.addressing_style or ("path" if s.endpoint_url else "virtual")
            config = self._botocore_config.Config(
                region_name=s.region, retries={"mode": "standard", "max_attempts": s.max_attempts},
                connect_timeout=10, read_timeout=60, s3={"addressing_style": style},
                user_agent_extra="Souverain-connector/0.1")
            session = self._boto3.session.Session()
            self._client = session.client("s3", endpoint_url=s.endpoint_url or None, aws_access_key_id=key_id,
                                          aws_secret_access_key=secret, config=config)
        return self._client

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        """Run one boto3 call; connection failures become ``SourceError``, ``ClientError`` is left to the caller."""
        try:
            return fn(**kwargs)
        except (self._exc.EndpointConnectionError, self._exc.ConnectTimeoutError, self._exc.ReadTimeoutError,
                self._exc.ConnectionClosedError) as exc:
            raise SourceError("unreachable", f"S3 endpoint unreachable during {what}: {type(exc).__name__}") from None

    def _source_error(self, exc: Exception, what: str) -> SourceError:
        code, status = _error_code(exc)
        bucket = self.settings.bucket
        if code in AUTH_CODES or status in (401, 403):
            return SourceError("auth_failed",
                               f"S3 refused the credentials for bucket {bucket!r} during {what} ({code or status})")
        if code in ("NoSuchBucket",) or (status == 404 and code in ("", "404", "NotFound")):
            return SourceError("not_found", f"S3 bucket {bucket!r} does not exist ({code or status})")
        if code in THROTTLE_CODES or status in (429, 503) or status >= 500:
            return SourceError("throttled", f"S3 kept failing during {what} after {self.settings.max_attempts} "
                                            f"attempts ({code or status})")
        return SourceError("s3_error", f"S3 {what} failed: {code or 'HTTP'} ({status})")

    def _allowed(self, key: str) -> bool:
        return any(key.startswith(prefix) for prefix in self.settings.prefixes)

    # -- Connector --------------------------------------------------------------------------------

    def check(self) -> str:
        client = self.client()
        for prefix in self.settings.prefixes:
            try:
                self._call("check", client.list_objects_v2, Bucket=self.settings.bucket, Prefix=prefix, MaxKeys=1)
            except self._exc.ClientError as exc:
                raise self._source_error(exc, "check") from None
        where = self.settings.endpoint_url or "AWS"
        return f"S3 bucket {self.settings.bucket!r} on {where}: {len(self.settings.prefixes)} prefix(es) readable"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- LoadsAll ---------------------------------------------------------------------------------

    def _state(self, token: str | None) -> tuple[int, str | None]:
        if token:
            try:
                state = json.loads(token)
                index = int(state["i"])
                if 0 <= index < len(self.settings.prefixes) and self.settings.prefixes[index] == state["prefix"]:
                    cont = state.get("c")
                    return index, str(cont) if cont else None
            except (ValueError, KeyError, TypeError):
                pass
            log.info("S3 listing token does not match the prefixes any more; listing again from the first prefix")
        return 0, None

    def list_page(self, token: str | None) -> ListPage:
        index, cont = self._state(token)
        prefix = self.settings.prefixes[index]
        kwargs: dict[str, Any] = {"Bucket": self.settings.bucket, "Prefix": prefix, "MaxKeys": self.settings.max_keys}
        if cont:
            kwargs["ContinuationToken"] = cont
        try:
            page = self._call("listing", self.client().list_objects_v2, **kwargs)
        except self._exc.ClientError as exc:
            code, _ = _error_code(exc)
            if cont and code == "InvalidArgument":  # a continuation token the server no longer accepts
                log.info("S3 refused the stored continuation token; listing prefix %r again", prefix)
                return ListPage([], json.dumps({"i": index, "prefix": prefix, "c": None}))
            raise self._source_error(exc, "listing") from None
        items = [self._item(obj) for obj in page.get("Contents", [])
                 if not obj["Key"].endswith("/") and self._allowed(obj["Key"])]
        if page.get("IsTruncated") and page.get("NextContinuationToken"):
            next_state: dict[str, Any] | None = {"i": index, "prefix": prefix, "c": page["NextContinuationToken"]}
        elif index + 1 < len(self.settings.prefixes):
            next_state = {"i": index + 1, "prefix": self.settings.prefixes[index + 1], "c": None}
        else:
            next_state = None
        return ListPage(items, json.dumps(next_state) if next_state else None)

    def _item(self, obj: dict[str, Any]) -> SourceItem:
        key = obj["Key"]
        return SourceItem(
            id=key,
            name=posixpath.basename(key),
            path=key,
            version=str(obj.get("ETag", "")).strip('"') or f"{obj.get('LastModified')}|{obj.get('Size')}",
            size=obj.get("Size"),
            modified_at=obj.get("LastModified"),
            principals=principals_for_path(self.settings.acl, key),
        )

    # -- FetchesContent ---------------------------------------------------------------------------

    def fetch(self, item: SourceItem) -> bytes:
        key = item.path or item.id
        if not self._allowed(key):
            raise ItemError("out_of_scope", f"{key!r} is outside the allow-listed prefixes")
        limit = self.ctx.max_bytes
        if item.size is not None and item.size > limit:
            raise ItemError("file_too_large", f"{item.name}: {item.size} bytes, over the {limit}-byte limit")
        try:
            obj = self._call("download", self.client().get_object, Bucket=self.settings.bucket, Key=key)
        except self._exc.ClientError as exc:
            code, status = _error_code(exc)
            if code in MISSING_KEY_CODES:
                raise ItemError("not_found", f"{key!r} no longer exists ({code})") from None
            if code in ("AccessDenied", "403", "InvalidObjectState"):
                raise ItemError("forbidden", f"{key!r}: download refused ({code})") from None
            raise self._source_error(exc, f"downloading {key!r}") from None
        body = obj["Body"]
        try:
            if int(obj.get("ContentLength") or 0) > limit:
                raise ItemError("file_too_large", f"{item.name}: {obj['ContentLength']} bytes, over the {limit}-byte limit")
            data: bytes = body.read(amt=limit + 1)
        except (self._exc.ResponseStreamingError, self._exc.IncompleteReadError, self._exc.ReadTimeoutError) as exc:
            raise ItemError("download_failed", f"{key!r}: the download broke off ({type(exc).__name__})") from None
        finally:
            body.close()
        if len(data) > limit:
            raise ItemError("file_too_large", f"{item.name}: over the {limit}-byte limit")
        return data
