"""Request signing and response verification of the Tablestore protocol.

The backup API travels on the same signed protocol as every Tablestore action
(``POST /<Action>``, ``x-ots-*`` headers, a V2 or V4 request signature, and a
response signature in ``authorization``). This module is that protocol's
arithmetic, written from the protocol notes (request signing: section 2;
response signature: section 1.6) and checked against their test vectors; it
verifies responses exactly as the official Python SDK (6.4.8) does.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from tablestore.error import OTSClientError

API_VERSION = "2015-12-31"
OTS_PREFIX = "x-ots-"
V4_PREFIX = "aliyun_v4"
V4_PRODUCT = "ots"
V4_CONSTANT = "aliyun_v4_request"
#: How far the response's ``x-ots-date`` may be from the local clock.
MAX_CLOCK_SKEW_SECONDS = 15 * 60

__all__ = [
    "API_VERSION",
    "ResponseVerificationError",
    "content_md5",
    "ots_date",
    "canonical_headers",
    "string_to_sign",
    "sign_v2",
    "v4_signing_key",
    "sign_v4",
    "response_signature",
    "request_headers",
    "verify_response",
]


class ResponseVerificationError(OTSClientError):
    """A response that fails the checks the official SDK makes (missing header,
    body MD5, date, signature): its content cannot be trusted, so it is raised,
    never returned. A subclass of the SDK's ``OTSClientError``, which the SDK
    raises for the same failures of its own calls (``get_error_message()``,
    ``get_http_status()``)."""

    def __init__(self, message: str, http_status: Optional[int] = None) -> None:
        super().__init__(message, http_status)


def content_md5(body: bytes) -> str:
    """``x-ots-contentmd5``: base64 of the raw 16-byte MD5 of ``body``."""
    return base64.b64encode(hashlib.md5(body).digest()).decode("ascii")


def ots_date(when: Optional[datetime] = None) -> str:
    """``x-ots-date`` for a request: UTC, ``YYYY-MM-DDTHH:MM:SS.fffZ``."""
    when = when or datetime.now(timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)


def canonical_headers(headers: Mapping[str, str], exclude: Tuple[str, ...] = ()) -> List[str]:
    """``name:value`` of every ``x-ots-*`` header (name lowercased, value trimmed),
    sorted bytewise, without the names in ``exclude``."""
    items = []
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(OTS_PREFIX) and lower not in exclude:
            items.append("%s:%s" % (lower, value.strip()))
    return sorted(items, key=lambda s: s.encode("utf-8"))


def string_to_sign(action: str, headers: Mapping[str, str]) -> str:
    """The V2 request string: ``/<Action>\\nPOST\\n\\n`` then one ``name:value\\n``
    per ``x-ots-*`` header except the signatures (no query string is ever sent)."""
    lines = canonical_headers(headers, exclude=("x-ots-signature", "x-ots-signaturev4"))
    return "/%s\nPOST\n\n%s" % (action.lstrip("/"), "".join(line + "\n" for line in lines))


def _b64_hmac(key: bytes, message: str, digest: Callable[..., Any]) -> str:
    return base64.b64encode(hmac.new(key, message.encode("utf-8"), digest).digest()).decode("ascii")


def sign_v2(secret: str, action: str, headers: Mapping[str, str]) -> str:
    """``x-ots-signature``: base64(HMAC-SHA1(secret, string_to_sign))."""
    return _b64_hmac(secret.encode("utf-8"), string_to_sign(action, headers), hashlib.sha1)


def v4_signing_key(secret: str, sign_date: str, region: str) -> str:
    """The V4 signing key: four chained HMAC-SHA256 from ``"aliyun_v4" + secret``
    over the date (``YYYYMMDD``), region, ``ots`` and ``aliyun_v4_request``; the
    base64 *text* of the last is the key of both signatures."""
    key = (V4_PREFIX + secret).encode("utf-8")
    for part in (sign_date, region, V4_PRODUCT, V4_CONSTANT):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(key).decode("ascii")


def sign_v4(signing_key: str, action: str, headers: Mapping[str, str]) -> str:
    """``x-ots-signaturev4``: base64(HMAC-SHA256(signing key text, V2 string + "ots"))."""
    return _b64_hmac(signing_key.encode("ascii"), string_to_sign(action, headers) + V4_PRODUCT,
                     hashlib.sha256)


def response_signature(key: str, action: str, headers: Mapping[str, str]) -> str:
    """The signature a response's ``authorization`` carries: HMAC-SHA1 over the
    sorted ``x-ots-*`` response headers joined by newlines, then ``\\n/<Action>``.
    ``key`` is the secret (V2) or the V4 signing key text."""
    text = "\n".join(canonical_headers(headers)) + "\n/" + action.lstrip("/")
    return _b64_hmac(key.encode("utf-8"), text, hashlib.sha1)


def request_headers(action: str, body: bytes, access_key_id: str, access_key_secret: str,
                    instance_name: str, *, date: Optional[str] = None,
                    sts_token: Optional[str] = None, region: Optional[str] = None,
                    sign_date: Optional[str] = None) -> Dict[str, str]:
    """The signed headers of a request to ``/<action>`` with ``body``.

    V2 unless ``region`` is given (then V4, with ``sign_date`` or today's UTC date).
    """
    headers: Dict[str, str] = {
        "x-ots-date": date if date is not None else ots_date(),
        "x-ots-apiversion": API_VERSION,
        "x-ots-accesskeyid": access_key_id,
        "x-ots-instancename": instance_name,
        "x-ots-contentmd5": content_md5(body),
    }
    if sts_token:
        headers["x-ots-ststoken"] = sts_token
    if region:
        day = sign_date or datetime.now(timezone.utc).strftime("%Y%m%d")
        headers["x-ots-signdate"] = day
        headers["x-ots-signregion"] = region
        headers["x-ots-signaturev4"] = sign_v4(v4_signing_key(access_key_secret, day, region),
                                               action, headers)
    else:
        headers["x-ots-signature"] = sign_v2(access_key_secret, action, headers)
    return headers


def _parse_response_date(value: str) -> float:
    try:
        parsed = time.strptime(value[:-1] if value.endswith("Z") else "!", "%Y-%m-%dT%H:%M:%S.%f")
    except ValueError:
        raise ResponseVerificationError("Invalid date format in response.") from None
    return float(calendar.timegm(parsed))


def verify_response(action: str, status: int, headers: Mapping[str, str], body: bytes,
                    access_key_id: str, signing_key: str, *, error_code: Optional[str] = None,
                    now: Optional[float] = None) -> None:
    """Checks a response as the official Python SDK does, raising
    :class:`ResponseVerificationError` on the first failure.

    ``headers`` must have lowercased names. On 2xx, ``x-ots-contentmd5``,
    ``x-ots-requestid``, ``x-ots-date`` and ``x-ots-contenttype`` must be present
    and ``authorization`` too. Whenever present, the MD5 must match the body, the
    date must parse (a fraction is required) and be within 15 minutes of ``now``,
    and ``authorization`` must be ``OTS <our key id>:<signature>`` with the
    signature :func:`response_signature` computes. A 403 whose ``error_code`` is
    ``OTSAuthFailed`` (or not yet known, ``None``) is not signature-checked: a
    server that does not know the key cannot sign for it.
    """
    ok = 200 <= status < 300
    if ok:
        for name in ("x-ots-contentmd5", "x-ots-requestid", "x-ots-date", "x-ots-contenttype"):
            if name not in headers:
                raise ResponseVerificationError('"%s" is missing in response header.' % name, status)
    if "x-ots-contentmd5" in headers and headers["x-ots-contentmd5"] != content_md5(body):
        raise ResponseVerificationError("MD5 mismatch in response.", status)
    if "x-ots-date" in headers:
        server = _parse_response_date(headers["x-ots-date"])
        current = time.time() if now is None else now
        if abs(server - current) > MAX_CLOCK_SKEW_SECONDS:
            raise ResponseVerificationError(
                "The difference between date in response and system time is more than 15 minutes.",
                status)
    if status == 403 and error_code in (None, "OTSAuthFailed"):
        return
    auth = headers.get("authorization")
    if auth is None:
        if ok:
            raise ResponseVerificationError('"Authorization" is missing in response header.', status)
        return
    if not auth.startswith("OTS ") or ":" not in auth:
        raise ResponseVerificationError("Invalid Authorization in response.", status)
    key_id, _, signature = auth[4:].rpartition(":")
    if key_id != access_key_id:
        raise ResponseVerificationError("Invalid access key id in response.", status)
    expected = response_signature(signing_key, action, headers)
    if not hmac.compare_digest(signature.encode("utf-8"), expected.encode("utf-8")):
        raise ResponseVerificationError("Invalid signature in response.", status)

