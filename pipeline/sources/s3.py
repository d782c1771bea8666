"""S3 (and S3-compatible) sources: list and get with boto3, retries counted.

Credentials come from the standard boto3 chain (env, profile, SSO, instance role);
``--profile``/``--region`` pick them. ``endpoint_url`` or the standard
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` variables point at an S3-compatible
store (path-style addressing is then used). Request-level retries (503 SlowDown,
500, throttling, connection errors) are botocore's, in standard or adaptive mode;
reading the body can still fail after the response started (reset, short body), so
``get`` retries those itself with backoff. Nothing here logs credentials or request
signatures.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from ..errors import SourceError, UsageError
from .objects import Counters, Fetched, ObjectAccessError, ObjectGoneError, ObjectRef

log = logging.getLogger(__name__)

RetryMode = Literal["standard", "adaptive"]
DEFAULT_MAX_ATTEMPTS = 5
BODY_BACKOFF_BASE = 0.2  # seconds; doubles per attempt, with jitter, capped
BODY_BACKOFF_CAP = 5.0

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,254}$")
_GONE = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "InvalidObjectState", "AccountProblem"}
_TRANSIENT = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling", "503", "500"}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → (bucket, prefix ending in '/' or empty)."""
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise UsageError(f"source {uri!r}: {bucket!r} is not a valid S3 bucket name")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def make_client(
    *,
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    retry_mode: RetryMode = "standard",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_pool_connections: int = 10,
) -> Any:
    """A thread-safe S3 client with retries configured (one per run, shared by workers)."""
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound:
        raise UsageError(f"AWS profile {profile!r} not found; check ~/.aws/config or drop --profile") from None
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(
        retries={"mode": retry_mode, "max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=max_pool_connections,
        s3={"addressing_style": "path"} if endpoint else None,
    )
    return session.client("s3", endpoint_url=endpoint_url or None, config=config)


def _error_code(exc: Exception) -> tuple[str, int]:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _retry_attempts(obj: Any) -> int:
    response = obj if isinstance(obj, dict) else getattr(obj, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)


class S3Source:
    """A bucket and prefix; ``uri`` as given by the user."""

    def __init__(self, uri: str, client: Any, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        self.uri = uri
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.client = client
        self.max_attempts = max_attempts
        self.counters = Counters()

    def __repr__(self) -> str:
        return f"S3Source({self.uri!r})"

    def _ref(self, item: dict[str, Any]) -> ObjectRef:
        key = item["Key"]
        return ObjectRef(
            uri=f"s3://{self.bucket}/{key}",
            bucket=self.bucket,
            key=key,
            etag=str(item.get("ETag", "")).strip('"'),
            size=int(item.get("Size", 0)),
            last_modified=item.get("LastModified") or datetime.fromtimestamp(0, UTC),
        )

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        import botocore.exceptions

        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, **kwargs):
                self.counters.list_requests += 1
                self.counters.retried("list", _retry_attempts(page))
                yield page
        except botocore.exceptions.NoCredentialsError:
            raise SourceError(
                f"no AWS credentials found for {self.uri}; set AWS_PROFILE, use --profile, or run 'aws sso login'",
                uri=self.uri,
            ) from None
        except botocore.exceptions.ClientError as e:
            code, status = _error_code(e)
            transient = status >= 500 or code in _TRANSIENT
            hint = "the run's identity needs s3:ListBucket on this prefix" if code in _DENIED else "retry later"
            raise SourceError(f"listing {self.uri} failed: {code or status} ({hint})", uri=self.uri, transient=transient) from None
        except botocore.exceptions.BotoCoreError as e:
            raise SourceError(f"listing {self.uri} failed: {type(e).__name__}: {e}", uri=self.uri, transient=True) from None

    def list_dir(self, prefix: str) -> tuple[list[ObjectRef], list[str]]:
        files: list[ObjectRef] = []
        folders: list[str] = []
        for page in self._pages(Prefix=prefix, Delimiter="/"):
            files.extend(self._ref(item) for item in page.get("Contents", ()))
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
        return files, folders

    def list_all(self, prefix: str) -> Iterator[ObjectRef]:
        for page in self._pages(Prefix=prefix):
            for item in page.get("Contents", ()):
                yield self._ref(item)

    def get(self, ref: ObjectRef) -> Fetched:
        """The whole body; body-level failures (reset, short read) retried with backoff here."""
        import botocore.exceptions

        retries = 0
        last: str = ""
        for attempt in range(self.max_attempts):
            if attempt:
                delay = min(BODY_BACKOFF_CAP, BODY_BACKOFF_BASE * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
                time.sleep(delay)
            self.counters.get_requests += 1
            try:
                resp = self.client.get_object(Bucket=ref.bucket, Key=ref.key)
                n = _retry_attempts(resp)
                retries += n
                self.counters.retried("request", n)
                body = resp["Body"].read()
                expected = resp.get("ContentLength")
                if expected is not None and len(body) != int(expected):
                    raise _ShortBody(f"got {len(body)} of {expected} bytes")
                return Fetched(
                    data=body,
                    etag=str(resp.get("ETag", ref.etag)).strip('"'),
                    last_modified=resp.get("LastModified") or ref.last_modified,
                    retries=retries,
                )
            except botocore.exceptions.ClientError as e:
                code, status = _error_code(e)
                n = _retry_attempts(e)
                retries += n
                self.counters.retried("request", n)
                if code in _GONE or status == 404:
                    raise ObjectGoneError(f"{ref.uri} is gone (deleted between list and get)", uri=ref.uri) from None
                if code in _DENIED or status == 403 or code.startswith("KMS"):
                    raise ObjectAccessError(
                        f"access denied reading {ref.uri} ({code}): the run's identity needs s3:GetObject "
                        "on this prefix (and kms:Decrypt for SSE-KMS)",
                        uri=ref.uri,
                    ) from None
                if status >= 500 or code in _TRANSIENT:
                    # botocore already retried this request max_attempts times
                    raise SourceError(f"{ref.uri}: {code or status} after retries", uri=ref.uri, transient=True) from None
                raise SourceError(f"{ref.uri}: {code or status}", uri=ref.uri) from None
            except botocore.exceptions.NoCredentialsError:
                raise SourceError("no AWS credentials found; set AWS_PROFILE or use --profile", uri=ref.uri) from None
            except (_ShortBody, botocore.exceptions.BotoCoreError, ConnectionError, OSError) as e:
                last = f"{type(e).__name__}: {e}"
                cause = "short-body" if isinstance(e, (_ShortBody, botocore.exceptions.IncompleteReadError)) else "connection"
                self.counters.retried(cause)
                retries += 1
                log.info("transient error reading %s (attempt %d/%d): %s", ref.uri, attempt + 1, self.max_attempts, last)
        raise SourceError(f"{ref.uri}: still failing after {self.max_attempts} attempts ({last})", uri=ref.uri, transient=True)


class _ShortBody(Exception):
    """The body ended before Content-Length bytes."""
