"""Typed registry errors: what went wrong, in terms a check can act on.

Every error carries the HTTP ``status`` (when there was a response), the first registry error
``code`` of an ``{"errors":[{"code": ...}]}`` body and all of them in ``codes``, a redacted
``request`` description (``"GET https://host/v2/app/manifests/latest"``) and the registry's
``detail`` message. ``str(err)`` is one user-readable sentence and is always passed through
:func:`doctor_core.redact.redact`, as is ``repr(err)``: an error can be logged or shown as is.
"""

from __future__ import annotations

from typing import Any

import httpx

from doctor_core.redact import redact
from doctor_oci.client.urls import describe_request, same_origin

__all__ = [
    "AuthenticationError",
    "ConnectError",
    "CredentialRedirectRefused",
    "InsecureTransportRefused",
    "NotFound",
    "PermissionDenied",
    "ProtocolError",
    "RateLimited",
    "RedirectedToAnotherHost",
    "RegistryError",
    "RegistryTimeout",
    "ResponseTooLarge",
    "TLSError",
    "Unsupported",
    "error_from_response",
    "parse_error_body",
    "redirected_to_another_host",
]

#: Longest registry message kept in ``detail`` (registries sometimes answer with whole HTML pages).
MAX_DETAIL_CHARS = 300


class RegistryError(Exception):
    """Base of every error the OCI client raises or returns from ``error_for``."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        codes: tuple[str, ...] = (),
        request: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.message = redact(message)
        self.status = status
        self.codes = tuple(codes)
        self.code = self.codes[0] if self.codes else None
        self.request = redact(request) if request else None
        self.detail = redact(detail) if detail else None
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.request:
            parts.append(f"[{self.request}]")
        return redact(" ".join(parts))

    def __repr__(self) -> str:
        return redact(
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"request={self.request!r}, message={self.message!r})"
        )


class ConnectError(RegistryError):
    """The connection could not be made or was lost.

    ``reason``: ``"dns"`` (name does not resolve), ``"refused"`` (nothing listens),
    ``"reset"`` (connection dropped mid-request), ``"other"``.
    """

    def __init__(self, message: str, *, reason: str = "other", **kwargs: Any) -> None:
        self.reason = reason
        super().__init__(message, **kwargs)


class TLSError(RegistryError):
    """Certificate verification or the TLS handshake failed. ``hint`` says what to configure."""

    HINT = (
        "if the registry uses a private CA, set OCI__CaBundle to its PEM file; "
        "--insecure skips verification (not for production)"
    )

    def __init__(self, message: str, *, hint: str | None = None, **kwargs: Any) -> None:
        self.hint = hint or self.HINT
        super().__init__(message, **kwargs)

    def __str__(self) -> str:
        return redact(f"{super().__str__()} ({self.hint})")


class RegistryTimeout(RegistryError):
    """Connect or read timeout (``OCI__TimeoutSeconds``)."""


class AuthenticationError(RegistryError):
    """401: credentials are missing or were rejected (by the registry or its token service)."""


class PermissionDenied(RegistryError):
    """403, or 401 ``insufficient_scope`` for a token granted to valid credentials.

    ``credentials_valid`` is true when the credentials authenticated but lack the permission.
    """

    def __init__(self, message: str, *, credentials_valid: bool = False, **kwargs: Any) -> None:
        self.credentials_valid = credentials_valid
        super().__init__(message, **kwargs)


class NotFound(RegistryError):
    """404. ``code`` tells ``NAME_UNKNOWN`` (repository) from ``MANIFEST_UNKNOWN`` / ``BLOB_UNKNOWN``."""


class RateLimited(RegistryError):
    """429 after the retries. ``retry_after`` is the server's ``Retry-After`` in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class Unsupported(RegistryError):
    """405, or 400 with code ``UNSUPPORTED``: the registry does not offer the operation."""


class ProtocolError(RegistryError):
    """The registry answered something the protocol does not allow (bad JSON, wrong digest, ...)."""


class ResponseTooLarge(ProtocolError):
    """A response body exceeded the size cap; reading stopped there. ``limit`` is the cap in bytes."""

    def __init__(self, message: str, *, limit: int, **kwargs: Any) -> None:
        self.limit = limit
        super().__init__(message, **kwargs)


class RedirectedToAnotherHost(ProtocolError):
    """The registry redirected a request to another host, which answered 401.

    Credentials are never sent to another host, so such a 401 says nothing about the configured
    credentials: the fault is the registry's redirect (a misconfigured storage backend or proxy).
    ``host`` is the other host (``host[:port]``); ``status`` is that host's 401.
    """

    def __init__(self, message: str, *, host: str, **kwargs: Any) -> None:
        self.host = host
        super().__init__(message, **kwargs)


class InsecureTransportRefused(RegistryError):
    """Credentials or tokens would travel over plain http (or to another host) without being configured so."""


class CredentialRedirectRefused(InsecureTransportRefused):
    """A request carrying credentials was redirected to another origin; the redirect was not followed.

    Raised for token-service requests (Basic credentials, a refresh/identity token or a password
    in the form body): following a ``307``/``308`` would re-send them, and any redirect would hand
    the credential exchange to a party the registry did not name. ``target`` is the redirect's
    origin only (``scheme://host:port``): never its path or query, which may carry signed values.
    """

    def __init__(self, message: str, *, target: str, **kwargs: Any) -> None:
        self.target = target
        super().__init__(message, **kwargs)


def parse_error_body(content: bytes) -> tuple[tuple[str, ...], str | None]:
    """``(codes, first message)`` of an ``{"errors":[{"code","message","detail"}]}`` body.

    Any other body (HTML, plain text, broken JSON) gives ``((), short text)``: the spec allows any
    format for 4xx bodies, so this never raises.
    """
    from doctor_oci.client.jsonbody import parse_json  # jsonbody raises this module's errors

    text = content[:8192].decode("utf-8", errors="replace").strip()
    try:
        data = parse_json(text, what="the error body") if text.startswith("{") else None
    except ProtocolError:
        data = None
    codes: list[str] = []
    message: str | None = None
    if isinstance(data, dict) and isinstance(data.get("errors"), list):
        for item in data["errors"]:
            if not isinstance(item, dict):
                continue
            code = item.get("code")
            if isinstance(code, str) and code:
                codes.append(code.upper())
            if message is None and isinstance(item.get("message"), str) and item["message"]:
                message = item["message"]
    elif data is None and text and not text.lstrip().startswith("<"):
        message = text
    if message is not None and len(message) > MAX_DETAIL_CHARS:
        message = message[:MAX_DETAIL_CHARS] + "..."
    return tuple(codes), message


def redirected_to_another_host(response: httpx.Response) -> RedirectedToAnotherHost | None:
    """The error for a 401 that came from another host the registry redirected to, else ``None``.

    ``response`` is the last response of a redirect chain (its ``history`` holds the earlier hops,
    as the transport records them). Only a 401 qualifies: the transport never sends credentials
    to another host, so that host's 401 cannot be about the configured credentials. The message
    names the original request by method and path (no query: it may carry signed values).
    """
    if response.status_code != 401 or not response.history:
        return None
    try:
        first = response.history[0].request
        last = response.request
    except RuntimeError:
        return None
    if same_origin(first.url, last.url):
        return None
    host = last.url.host + (f":{last.url.port}" if last.url.port is not None else "")
    codes, detail = parse_error_body(response.content) if response.content else ((), None)
    return RedirectedToAnotherHost(
        f"the registry redirected {first.method} {first.url.path} to another host ({host}), which "
        f"answered {response.status_code}; credentials are never sent to another host",
        host=host,
        status=response.status_code,
        codes=codes,
        request=describe_request(last),
        detail=detail,
    )


def _retry_after(response: httpx.Response) -> float | None:
    from doctor_oci.client.transport import parse_retry_after

    return parse_retry_after(response.headers.get("retry-after"))


def error_from_response(
    response: httpx.Response,
    *,
    request: str | None = None,
    credentials_sent: bool = False,
    credentials_valid: bool | None = None,
) -> RegistryError:
    """The typed error a non-success ``response`` stands for.

    A 401 from another host the registry redirected to is :class:`RedirectedToAnotherHost`
    (see :func:`redirected_to_another_host`). ``credentials_sent`` says whether the request
    carried credentials (a 401 then means they were rejected, not missing); ``credentials_valid``
    overrides what a 403 says about them.
    Authentication nuances that need the client's state (``insufficient_scope`` after a token
    was granted) are decided by ``RegistryClient.error_for``, which calls this for the rest.
    """
    status = response.status_code
    elsewhere = redirected_to_another_host(response)
    if elsewhere is not None:
        return elsewhere
    codes, detail = parse_error_body(response.content) if response.content else ((), None)
    kwargs: dict[str, Any] = {"status": status, "codes": codes, "request": request, "detail": detail}
    said = (
        f" ({', '.join(codes)}{': ' + detail if detail else ''})"
        if codes
        else (f" ({detail})" if detail else "")
    )
    if status == 401:
        if credentials_sent:
            return AuthenticationError(f"the registry rejected the credentials (HTTP 401){said}", **kwargs)
        return AuthenticationError(f"the registry requires authentication (HTTP 401){said}", **kwargs)
    if status == 403:
        valid = credentials_sent if credentials_valid is None else credentials_valid
        return PermissionDenied(f"access denied (HTTP 403){said}", credentials_valid=valid, **kwargs)
    if status == 404:
        return NotFound(f"not found (HTTP 404){said}", **kwargs)
    if status == 429:
        return RateLimited(
            f"rate limited by the registry (HTTP 429){said}", retry_after=_retry_after(response), **kwargs
        )
    if status == 405 or (status == 400 and "UNSUPPORTED" in codes):
        return Unsupported(f"the registry does not support this operation (HTTP {status}){said}", **kwargs)
    if 200 <= status < 400:
        return ProtocolError(f"unexpected HTTP {status} from the registry{said}", **kwargs)
    return RegistryError(f"the registry answered HTTP {status}{said}", **kwargs)
