"""Typed registry errors: what went wrong, in terms a check can act on.

Every error carries the HTTP ``status`` (when there was a response), the first registry error
``code`` of an ``{"errors":[{"code": ...}]}`` body and all of them in ``codes``, a redacted
``request`` description (``"GET https://host/v2/app/manifests/latest"``) and the registry's
``detail`` message. ``str(err)`` is one user-readable sentence and is always passed through the
installed ``redact`` hook (:mod:`doctor_oci.client.hooks`: doctor's redaction when doctor hosts
the client), as is ``repr(err)``: an error can be logged or shown as is.

A leaf, like httpx's ``_exceptions.py``: the classes only. Which response means which error is
decided in one place, :mod:`doctor_oci.client.responses`.
"""

from __future__ import annotations

from typing import Any

from doctor_oci.client.hooks import redact

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
    "TokenServiceError",
    "Unsupported",
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


class TokenServiceError(ProtocolError):
    """The token service (the realm of the registry's Bearer challenge) gave no usable token: its
    answer was malformed, too large, too deep or not a token, or its realm is not a usable URL.
    Raised by the token exchange for every protocol fault of that exchange, so callers tell a
    broken token service from a broken registry by type, not by message."""


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
