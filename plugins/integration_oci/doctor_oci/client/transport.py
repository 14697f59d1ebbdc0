"""HTTP transport policy: retries, redirects, the body cap, error mapping, metrics and debug logs.

:class:`Transport` wraps one ``httpx.AsyncClient`` (keep-alive; one per registry per run) and
sends a request under these rules:

* **Deadlines**: each attempt (connect, headers, the whole body and any redirects) must complete
  within the request timeout, so a registry trickling bytes cannot hold a request open for
  minutes by staying under httpx's per-read timeout (:class:`RegistryTimeout`); all attempts and
  back-off sleeps of one request share a budget (``RetryPolicy.budget_s``).
* **Retries** (:class:`RetryPolicy`): at most 3 attempts on 429/502/503/504 and on connection
  resets, with exponential back-off and full jitter, honouring ``Retry-After`` (seconds or an
  HTTP date). A ``Retry-After`` beyond the cap or the remaining time budget is not slept: the
  429 is returned (``error_for`` makes it :class:`RateLimited`). Requests that are not idempotent
  (POST, PATCH) are retried only when the connection failed before anything was sent.
* **Credentials stay with their origin** (scheme, host, port -- so https -> http is another
  origin). Redirects are followed by hand (at most 5). ``Authorization`` is attached only to
  hops on the origin the credentials belong to (``auth_origin``): a blob GET the registry
  redirects to a CDN goes there without it. A request that exists to present credentials
  (``credential_bound``: a token-service request with Basic credentials, a refresh token or a
  password in its body) is not redirected to another origin at all: following a ``307``/``308``
  would re-send the body there. It fails with :class:`CredentialRedirectRefused`, naming the
  target origin only. A 401 from another host the registry redirected to is
  :class:`RedirectedToAnotherHost` (raised): it is the redirect's fault, never the credentials'.
* **Body cap**: bodies are streamed, decoded by doctor (:mod:`doctor_oci.client.decoding`: at
  most two ``Content-Encoding`` layers, decoded bytes counted as they are produced) and reading
  stops past the cap (:class:`ResponseTooLarge`).
* **Errors**: httpx exceptions become :class:`ConnectError` / :class:`TLSError` /
  :class:`RegistryTimeout` / :class:`ProtocolError` with a redacted request description.
* **Metrics** (:class:`RequestMetrics`) count every request sent, via httpx event hooks.
* **Logs**: one debug event per request (the host's logger, :mod:`doctor_oci.client.hooks`) with
  method, redacted URL, status and duration; never headers.
* **Deadlines of the caller**: the host's ``time_left`` (doctor: the running check's deadline)
  bounds every request and its retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import importlib
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from doctor_oci.client.decoding import ACCEPT_ENCODING, prepare_decoding
from doctor_oci.client.errors import (
    ConnectError,
    CredentialRedirectRefused,
    ProtocolError,
    RegistryError,
    RegistryTimeout,
    ResponseTooLarge,
    TLSError,
)
from doctor_oci.client.headers import parse_retry_after
from doctor_oci.client.hooks import logger, time_left
from doctor_oci.client.responses import redirected_to_another_host
from doctor_oci.client.urls import Origin, describe_origin, describe_url, origin


def _preload_async_backend() -> None:
    """Import the asyncio back-end httpx's connection pool locks through, now rather than mid-run.

    httpcore creates its pool locks with anyio, and anyio imports its asyncio back-end (~20-40 ms
    of CPU) on first use: inside the first request of a run, on the event loop, where it holds
    back every other request already started. Importing it with the transport moves that cost to
    start-up, before any request is in flight. Best effort: a different httpcore/anyio layout
    only brings the original, lazy behaviour back.
    """
    with contextlib.suppress(ImportError):
        importlib.import_module("anyio._backends._asyncio")
    with contextlib.suppress(ImportError):
        importlib.import_module("sniffio")


_preload_async_backend()

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "MAX_REDIRECTS",
    "RETRY_STATUSES",
    "TAG_LIST_MAX_BODY_BYTES",
    "TOKEN_FETCH_EXTENSION",
    "RequestMetrics",
    "RetryPolicy",
    "Transport",
    "map_transport_error",
]

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: Cap for one page of a tag list. Registries that ignore ``n`` (distribution 2.8) send every tag
#: in one answer: ~100,000 tags already pass 4 MiB. Still bounded, so a hostile registry cannot
#: exhaust memory.
TAG_LIST_MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_REDIRECTS = 5
RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})
#: A request gives up this long before the caller's deadline (the hooks' ``time_left``: doctor's
#: check deadline), so the check reports the registry's timeout itself rather than being cut off
#: by the engine.
CHECK_DEADLINE_MARGIN_S = 0.1
#: Request extension marking token-service requests (counted separately in the metrics).
TOKEN_FETCH_EXTENSION = "doctor_oci.token_fetch"


@dataclass
class RetryPolicy:
    """Bounded retries with exponential back-off and full jitter.

    ``sleep`` and ``jitter`` are injectable so tests never sleep for real. ``budget_s`` bounds
    the time one request may spend including retries (default: 3 x the request timeout).
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 10.0
    budget_s: float | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    jitter: Callable[[float, float], float] = random.uniform

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return max(0.0, self.jitter(0.0, ceiling))


class RequestMetrics:
    """Requests sent by one client: total, token fetches, and per label.

    ``with metrics.label("check.integration.oci.pull"): ...`` attributes the requests made inside
    (also in tasks started inside) to that label; it is a context variable, so concurrent checks
    are counted apart. A request shared through :meth:`RegistryClient.memo` counts once, for the
    label of the caller that started it.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.token_fetches = 0
        self.by_label: dict[str, int] = {}
        self.tokens_by_label: dict[str, int] = {}
        self._label: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            f"doctor_oci_label_{id(self)}", default=None
        )

    @contextlib.contextmanager
    def label(self, name: str) -> Iterator[None]:
        token = self._label.set(name)
        try:
            yield
        finally:
            self._label.reset(token)

    @property
    def current_label(self) -> str | None:
        return self._label.get()

    def record(self, request: httpx.Request) -> None:
        self.requests += 1
        token_fetch = bool(request.extensions.get(TOKEN_FETCH_EXTENSION))
        if token_fetch:
            self.token_fetches += 1
        name = self._label.get()
        if name is not None:
            self.by_label[name] = self.by_label.get(name, 0) + 1
            if token_fetch:
                self.tokens_by_label[name] = self.tokens_by_label.get(name, 0) + 1

    async def on_request(self, request: httpx.Request) -> None:
        """httpx ``request`` event hook."""
        self.record(request)

    def __repr__(self) -> str:
        return (
            f"RequestMetrics(requests={self.requests}, token_fetches={self.token_fetches}, "
            f"by_label={self.by_label})"
        )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def map_transport_error(exc: Exception, request: str | None) -> RegistryError:
    """The typed error for an httpx exception (``request`` is the redacted description)."""
    if isinstance(exc, RegistryError):
        return exc
    chain = list(_causes(exc))
    text = " ".join(str(item) for item in chain)
    lowered = text.lower()
    if isinstance(exc, httpx.TimeoutException):
        kind = (
            "connecting"
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            else "waiting for a response"
        )
        return RegistryTimeout(
            f"timed out {kind} (raise OCI__TimeoutSeconds if the registry is slow)", request=request
        )
    tls_markers = ("certificate verify failed", "[ssl", "ssl:", "tlsv1", "wrong version number", "handshake")
    if any(isinstance(item, ssl.SSLError) for item in chain) or any(
        marker in lowered for marker in tls_markers
    ):
        reason = "certificate verification failed" if "certificate" in lowered else "TLS handshake failed"
        detail = next((str(item) for item in chain if isinstance(item, ssl.SSLError)), None)
        return TLSError(f"TLS error: {reason}", request=request, detail=detail)
    if isinstance(exc, httpx.ConnectError):
        if any(isinstance(item, socket.gaierror) for item in chain) or any(
            marker in lowered
            for marker in (
                "name or service not known",
                "nodename nor servname",
                "temporary failure in name resolution",
                "no address associated",
                "getaddrinfo failed",
                "name resolution",
            )
        ):
            return ConnectError(
                "the registry host name does not resolve (DNS)", reason="dns", request=request
            )
        if (
            any(isinstance(item, ConnectionRefusedError) for item in chain)
            or "connection refused" in lowered
            or any(getattr(item, "errno", None) == errno.ECONNREFUSED for item in chain)
        ):
            return ConnectError(
                "connection refused: nothing listens at the registry address",
                reason="refused",
                request=request,
            )
        if any(isinstance(item, ConnectionResetError) for item in chain) or "reset" in lowered:
            return ConnectError("the connection was reset while connecting", reason="reset", request=request)
        return ConnectError(
            f"cannot connect to the registry ({type(exc).__name__})", reason="other", request=request
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return ConnectError(
            "the connection was closed or reset by the registry", reason="reset", request=request
        )
    if isinstance(
        exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.DecodingError | httpx.TooManyRedirects
    ):
        return ProtocolError(f"unusable response or URL ({type(exc).__name__})", request=request)
    return ConnectError(f"HTTP transport failure ({type(exc).__name__})", reason="other", request=request)


def _retryable_exception(error: RegistryError, *, idempotent: bool, before_send: bool) -> bool:
    if not isinstance(error, ConnectError) or error.reason in {"dns", "refused"}:
        return False
    return idempotent or before_send


_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(eq=False, repr=False)  # internal: never compared or printed
class _Outcome:
    response: httpx.Response | None = None
    error: RegistryError | None = None
    before_send: bool = False


class Transport:
    """Sends requests for one registry client under the rules in the module docstring."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        timeout_s: float,
        policy: RetryPolicy | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.policy = policy or RetryPolicy()
        self.max_body_bytes = max_body_bytes
        self.on_response = on_response

    async def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        authorization: str | None = None,
        auth_origin: Origin | None = None,
        idempotent: bool | None = None,
        max_body_bytes: int | None = None,
        extensions: Mapping[str, Any] | None = None,
        credential_bound: bool = False,
    ) -> httpx.Response:
        """Send with retries and redirects; return the final response (any status), body read and capped.

        ``credential_bound``: the request carries credentials in its header or body that belong
        to ``url``'s origin; a redirect to any other origin is refused
        (:class:`CredentialRedirectRefused`) instead of followed.
        """
        method = method.upper()
        idem = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        cap = self.max_body_bytes if max_body_bytes is None else max_body_bytes
        policy = self.policy
        budget = policy.budget_s if policy.budget_s is not None else self.timeout_s * policy.max_attempts
        left = time_left()  # the calling check's deadline: no attempt or retry outlives it
        if left is not None and left > 0:  # (past it, only cleanup runs: CANCEL_TIMEOUT_S bounds that)
            budget = min(budget, max(0.001, left - CHECK_DEADLINE_MARGIN_S))
        deadline = time.monotonic() + budget
        attempt = 0
        while True:
            attempt += 1
            outcome = await self._attempt(
                method,
                httpx.URL(str(url)),
                headers,
                content,
                authorization,
                auth_origin,
                cap,
                extensions,
                credential_bound,
                limit_s=max(0.001, min(self.timeout_s, deadline - time.monotonic())),
            )
            last_attempt = attempt >= policy.max_attempts
            if outcome.error is not None:
                if last_attempt or not _retryable_exception(
                    outcome.error, idempotent=idem, before_send=outcome.before_send
                ):
                    raise outcome.error
                delay = policy.backoff(attempt)
            else:
                response = outcome.response
                assert response is not None
                if response.status_code not in RETRY_STATUSES or not idem or last_attempt:
                    return response
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                delay = policy.backoff(attempt) if retry_after is None else retry_after
                if retry_after is not None and retry_after > policy.max_delay:
                    return response
            if time.monotonic() + delay > deadline:
                if outcome.error is not None:
                    raise outcome.error
                assert outcome.response is not None
                return outcome.response
            logger().debug(
                "oci.http.retry",
                method=method,
                url=describe_url(url),
                attempt=attempt,
                delay_s=round(delay, 3),
            )
            await policy.sleep(delay)

    async def _attempt(
        self,
        method: str,
        url: httpx.URL,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        authorization: str | None,
        auth_origin: Origin | None,
        cap: int,
        extensions: Mapping[str, Any] | None,
        credential_bound: bool,
        *,
        limit_s: float,
    ) -> _Outcome:
        """One attempt under an overall deadline of ``limit_s`` (connect + headers + body + redirects).

        httpx's timeouts apply per network operation: a server sending one byte a second never
        trips them. This deadline does, and becomes :class:`RegistryTimeout` (not retried).
        """
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit_s):
                return await self._follow(
                    method,
                    url,
                    headers,
                    content,
                    authorization,
                    auth_origin,
                    cap,
                    extensions,
                    credential_bound,
                )
        except TimeoutError:
            description = f"{method} {describe_url(url)}"
            error = RegistryTimeout(
                f"timed out: the request did not complete within {limit_s:.3g} s "
                "(the registry is too slow; raise OCI__TimeoutSeconds if that is expected)",
                request=description,
            )
            self._log(method, url, None, started, error)
            return _Outcome(error=error)

    async def _follow(
        self,
        method: str,
        url: httpx.URL,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        authorization: str | None,
        auth_origin: Origin | None,
        cap: int,
        extensions: Mapping[str, Any] | None,
        credential_bound: bool,
    ) -> _Outcome:
        """One attempt: the request and its redirect chain (credentials kept to their origin)."""
        history: list[httpx.Response] = []
        first_origin = _origin_or_none(url)
        for hop in range(MAX_REDIRECTS + 1):
            request_headers = {"Accept-Encoding": ACCEPT_ENCODING, **dict(headers or {})}
            if authorization is not None and auth_origin is not None and _origin_or_none(url) == auth_origin:
                request_headers["Authorization"] = authorization
            request = self.client.build_request(
                method, url, headers=request_headers, content=content, extensions=dict(extensions or {})
            )
            started = time.monotonic()
            sent = False
            try:
                response = await self.client.send(request, stream=True)
                sent = True
                try:
                    await self._read_capped(response, cap, method, url)
                finally:
                    await response.aclose()
            except RegistryError as refused:
                self._log(method, url, None, started, refused)
                return _Outcome(error=refused)
            except httpx.HTTPError as exc:
                mapped = map_transport_error(exc, f"{method} {describe_url(url)}")
                self._log(method, url, None, started, mapped)
                before = not sent and isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                return _Outcome(error=mapped, before_send=before)
            self._log(method, url, response.status_code, started, None)
            response.history = list(history)
            if self.on_response is not None:
                self.on_response(response)
            if response.status_code not in _REDIRECT_STATUSES or "location" not in response.headers:
                elsewhere = redirected_to_another_host(response)
                if elsewhere is not None:
                    return _Outcome(error=elsewhere)
                return _Outcome(response=response)
            description = f"{method} {describe_url(url)}"
            if hop == MAX_REDIRECTS:
                return _Outcome(
                    error=ProtocolError(f"more than {MAX_REDIRECTS} redirects", request=description)
                )
            try:
                url = url.join(response.headers["location"])
            except httpx.InvalidURL:
                return _Outcome(
                    error=ProtocolError("the registry redirected to an invalid URL", request=description)
                )
            if url.scheme not in {"http", "https"}:
                return _Outcome(
                    error=ProtocolError("the registry redirected to a non-HTTP URL", request=description)
                )
            if credential_bound and _origin_or_none(url) != first_origin:
                target = describe_origin(url)
                return _Outcome(
                    error=CredentialRedirectRefused(
                        f"the server redirected a request carrying credentials (HTTP {response.status_code}) "
                        f"to another origin, {target}; not followed: credentials are only sent to "
                        "the origin they belong to",
                        target=target,
                        status=response.status_code,
                        request=description,
                    )
                )
            if response.status_code == 303 or (
                response.status_code in {301, 302} and method not in {"GET", "HEAD"}
            ):
                method = "GET" if method != "HEAD" else "HEAD"
                content = None
            history.append(response)
        return _Outcome(error=ProtocolError("redirect loop", request=f"{method} {describe_url(url)}"))

    @staticmethod
    async def _read_capped(response: httpx.Response, cap: int, method: str, url: httpx.URL) -> None:
        """Read the body, refusing more than ``cap`` raw or decoded bytes; kept on the response.

        The body is decoded by :func:`~doctor_oci.client.decoding.prepare_decoding` (bounded,
        incremental, yielding to the event loop) and read with httpx's public ``aread``.
        """
        declared = response.headers.get("content-length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > cap
            and response.request.method != "HEAD"
        ):
            raise ResponseTooLarge(
                f"the response body ({declared} bytes) exceeds the {cap}-byte limit",
                limit=cap,
                status=response.status_code,
                request=f"{method} {describe_url(url)}",
            )
        prepare_decoding(response, cap, request=lambda: f"{method} {describe_url(url)}")
        await response.aread()

    @staticmethod
    def _log(
        method: str, url: httpx.URL, status: int | None, started: float, error: RegistryError | None
    ) -> None:
        log = logger()
        # Every request passes here: build the (redacted) event only when someone will see it.
        is_enabled_for = getattr(log, "is_enabled_for", None)
        if is_enabled_for is not None and not is_enabled_for(logging.DEBUG):
            return
        fields: dict[str, Any] = {
            "method": method,
            "url": describe_url(url),
            "status": status,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
        if error is not None:
            fields["error"] = type(error).__name__
        log.debug("oci.http.request", **fields)


def _origin_or_none(url: httpx.URL) -> Origin | None:
    try:
        return origin(url)
    except (httpx.InvalidURL, ValueError):
        return None
