"""Authentication against a registry: Basic, the Docker token protocol, OAuth2, static tokens.

The :class:`Authenticator` learns the registry's scheme from its ``WWW-Authenticate`` challenges
and then answers them:

* **Basic** (htpasswd registries, ECR, Artifactory): ``Authorization: Basic`` with the username
  and password, sent to the registry's own origin only.
* **Bearer** (Docker token protocol): ``GET <realm>?service=..&scope=..&scope=..`` with the
  credentials as Basic auth and ``account=<user>``, or anonymously; ``token`` / ``access_token``;
  ``expires_in`` defaults to 60 and is never taken below 60; a non-finite, negative or absurd
  (over a year) ``expires_in`` is ignored. A token that could not travel in an ``Authorization``
  header (non-ASCII, control characters, whitespace) is refused as a :class:`ProtocolError`.
  With an identity (refresh) token the OAuth2 form POST is used (``grant_type=refresh_token``,
  ``client_id=doctor``, ``access_type=offline``, space-joined ``scope``), falling back to GET
  on 404.
* **Static token** (``OCI.Token``): sent as is, never exchanged.

Tokens are cached per (registry, realm, service, credentials, scope set) until shortly before
they expire, and fetched single-flight: concurrent requests needing the same scope set share one
fetch. A token service that refuses the credentials is remembered for the client's life, so a
run does not hammer it. A realm on plain http for an https registry never gets credentials
(:class:`InsecureTransportRefused`); an anonymous token request may go there only when
``Insecure`` is set. A realm on another host is normal (Docker Hub, GHCR) and gets the
credentials only as the token request's own Basic auth or form body. A token request carrying
credentials is never redirected to another origin (the transport's ``credential_bound`` rule:
:class:`CredentialRedirectRefused`).
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from doctor_oci.client.challenge import Challenge
from doctor_oci.client.credentials import Credentials
from doctor_oci.client.errors import (
    AuthenticationError,
    ConnectError,
    InsecureTransportRefused,
    PermissionDenied,
    ProtocolError,
    RedirectedToAnotherHost,
    RegistryError,
    RegistryTimeout,
    TLSError,
    TokenServiceError,
)
from doctor_oci.client.hooks import register_secret
from doctor_oci.client.jsonbody import parse_json
from doctor_oci.client.reference import RegistryEndpoint
from doctor_oci.client.responses import error_from_response
from doctor_oci.client.transport import TOKEN_FETCH_EXTENSION, Transport
from doctor_oci.client.urls import describe_url, origin

__all__ = [
    "DEFAULT_TOKEN_LIFETIME_S",
    "MAX_TOKEN_LIFETIME_S",
    "OAUTH_CLIENT_ID",
    "AccessToken",
    "AuthAnswer",
    "AuthAttempt",
    "Authenticator",
    "BearerRealm",
    "TokenCache",
    "basic_header",
    "token_lifetime",
    "usable_token",
]

DEFAULT_TOKEN_LIFETIME_S = 60
#: An ``expires_in`` beyond this (one year) is nonsense: it is ignored like a missing one.
MAX_TOKEN_LIFETIME_S = 366 * 24 * 3600
OAUTH_CLIENT_ID = "doctor"
#: Errors that are about the network, not about the credentials: raised, never cached.
TRANSPORT_ERRORS = (ConnectError, TLSError, RegistryTimeout, InsecureTransportRefused)


def basic_header(username: str, password: str) -> str:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    register_secret(raw)
    return f"Basic {raw}"


def usable_token(value: str) -> bool:
    """True when ``value`` can be sent as ``Authorization: Bearer <value>``.

    Header values are bytes: only printable ASCII without spaces (``!`` .. ``~``) is accepted, so
    a hostile or broken token service cannot make header encoding fail (``UnicodeEncodeError``)
    or smuggle a CR/LF into the request.
    """
    return bool(value) and all("!" <= char <= "~" for char in value)


def token_lifetime(raw: object) -> int:
    """Seconds a token may be used, from the token service's ``expires_in``.

    A number is taken, but never below :data:`DEFAULT_TOKEN_LIFETIME_S`; anything else (missing,
    a string, a bool, Infinity/NaN, negative, over :data:`MAX_TOKEN_LIFETIME_S`) gives the default.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return DEFAULT_TOKEN_LIFETIME_S
    if isinstance(raw, float) and not math.isfinite(raw):
        return DEFAULT_TOKEN_LIFETIME_S
    if raw < 0 or raw > MAX_TOKEN_LIFETIME_S:
        return DEFAULT_TOKEN_LIFETIME_S
    return max(DEFAULT_TOKEN_LIFETIME_S, int(raw))


_ACTION_ORDER = {"pull": 0, "push": 1, "delete": 2}


def canonical_scopes(scopes: frozenset[str]) -> frozenset[str]:
    """One scope per resource with the union of its actions: the token cache's key.

    ``repository:app:pull,push`` and ``repository:app:pull,push,delete`` together ask for exactly
    what ``repository:app:pull,push,delete`` asks for; spelling them differently must not cost a
    second token fetch. The resource name may itself contain ``:`` (``host:port``), so the type is
    what precedes the first ``:`` and the actions what follows the last. A scope that does not
    have that shape is kept as it is.
    """
    merged: dict[str, set[str]] = {}
    kept: set[str] = set()
    for scope in scopes:
        resource, sep, actions = scope.rpartition(":")
        if not sep or ":" not in resource or not actions:
            kept.add(scope)
            continue
        merged.setdefault(resource, set()).update(a for a in actions.split(",") if a)
    for resource, wanted in merged.items():
        ordered = sorted(wanted, key=lambda action: (_ACTION_ORDER.get(action, 3), action))
        kept.add(f"{resource}:{','.join(ordered)}")
    return frozenset(kept)


@dataclass(frozen=True, repr=False)
class AccessToken:
    """A bearer token and when to stop using it (monotonic clock). ``repr`` hides the value."""

    value: str
    expires_at: float
    with_credentials: bool
    scopes: frozenset[str]
    granted_scope: str | None = None

    def __repr__(self) -> str:
        return f"AccessToken(scopes={sorted(self.scopes)!r}, with_credentials={self.with_credentials!r})"


class TokenCache:
    """Tokens by key, valid until shortly before expiry, fetched single-flight.

    ``margin`` of a token's lifetime before expiry it is dropped: 10 % of the lifetime, at most
    30 s. Failures that are about the credentials (:class:`AuthenticationError`,
    :class:`PermissionDenied`) are remembered; transport failures are not.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.fetches = 0
        self._tokens: dict[Hashable, AccessToken] = {}
        self._failures: dict[Hashable, RegistryError] = {}
        self._inflight: dict[Hashable, asyncio.Future[AccessToken]] = {}

    @staticmethod
    def expiry(now: float, lifetime_s: float) -> float:
        return now + lifetime_s - min(30.0, lifetime_s / 10)

    def peek(self, key: Hashable) -> AccessToken | None:
        token = self._tokens.get(key)
        if token is not None and token.expires_at > self.clock():
            return token
        return None

    def live_keys(self) -> list[Hashable]:
        """Keys of the tokens that are valid now or being fetched (oldest first)."""
        now = self.clock()
        valid = [key for key, token in self._tokens.items() if token.expires_at > now]
        return valid + [key for key in self._inflight if key not in self._tokens]

    def invalidate(self, key: Hashable) -> None:
        self._tokens.pop(key, None)

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[AccessToken]]) -> AccessToken:
        token = self.peek(key)
        if token is not None:
            return token
        failure = self._failures.get(key)
        if failure is not None:
            raise failure
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._run(key, fetch))
            future.add_done_callback(_consume)
            self._inflight[key] = future
        return await asyncio.shield(future)

    async def _run(self, key: Hashable, fetch: Callable[[], Awaitable[AccessToken]]) -> AccessToken:
        try:
            self.fetches += 1
            token = await fetch()
            self._tokens[key] = token
            return token
        except (AuthenticationError, PermissionDenied) as error:
            self._failures[key] = error
            raise
        finally:
            self._inflight.pop(key, None)


def _consume(future: asyncio.Future[AccessToken]) -> None:
    """Retrieve a fetch's exception so a fetch whose waiters were all cancelled logs nothing."""
    if not future.cancelled():
        future.exception()


@dataclass(frozen=True)
class BearerRealm:
    """The token service a Bearer challenge names."""

    realm: str
    service: str | None


@dataclass(frozen=True, repr=False)
class AuthAttempt:
    """An ``Authorization`` value about to be sent and what it proves. ``repr`` hides the header."""

    header: str
    kind: Literal["basic", "token", "static"]
    with_credentials: bool
    scopes: frozenset[str] = frozenset()
    cache_key: Hashable | None = None

    def __repr__(self) -> str:
        return (
            f"AuthAttempt(kind={self.kind!r}, with_credentials={self.with_credentials!r}, "
            f"scopes={sorted(self.scopes)!r})"
        )


@dataclass(frozen=True)
class AuthAnswer:
    """What to do about a 401: retry with ``attempt``, or give up (``error`` says why, if known)."""

    attempt: AuthAttempt | None = None
    error: RegistryError | None = None
    insufficient_scope: bool = False


@dataclass
class Authenticator:
    """Answers one registry's challenges with one set of credentials (see the module docstring)."""

    endpoint: RegistryEndpoint
    credentials: Credentials
    transport: Transport
    insecure: bool = False
    cache: TokenCache = field(default_factory=TokenCache)
    client_id: str = OAUTH_CLIENT_ID
    #: Use the OAuth2 password grant (POST) instead of the GET token request for username/password.
    oauth_password_grant: bool = False
    scheme: Literal["basic", "bearer"] | None = None
    bearer: BearerRealm | None = None
    #: Open token batches (see :meth:`_batched_key`): cache prefix -> (scopes so far, the key when closed).
    _batches: dict[Hashable, tuple[set[str], asyncio.Future[Hashable]]] = field(
        default_factory=dict, repr=False
    )
    #: The token service rejected these credentials (cache prefix, the error): see :meth:`token_attempt`.
    _rejected: tuple[Hashable, AuthenticationError] | None = field(default=None, repr=False)

    # -- challenges ---------------------------------------------------------------------------
    def learn(self, challenges: Iterable[Challenge]) -> Challenge | None:
        """Remember the registry's preferred scheme; return the challenge to answer (Bearer first)."""
        items = list(challenges)
        chosen = next((c for c in items if c.scheme == "bearer" and c.realm), None) or next(
            (c for c in items if c.scheme == "basic"), None
        )
        if chosen is None:
            return None
        if chosen.scheme == "bearer" and chosen.realm:
            self.scheme = "bearer"
            self.bearer = BearerRealm(realm=chosen.realm, service=chosen.service)
        elif chosen.scheme == "basic":
            self.scheme = "basic"
        return chosen

    # -- attaching credentials -----------------------------------------------------------------
    def _static(self) -> AuthAttempt | None:
        token = self.credentials.token
        if token is None:
            return None
        return AuthAttempt(header=f"Bearer {token.get_secret_value()}", kind="static", with_credentials=True)

    def _basic(self) -> AuthAttempt | None:
        pair = self.credentials.usable_basic
        if pair is None:
            return None
        return AuthAttempt(header=basic_header(*pair), kind="basic", with_credentials=True)

    async def proactive(self, scopes: frozenset[str]) -> AuthAttempt | None:
        """The ``Authorization`` to send before any challenge for this request, if one is known to work.

        A static token always; Basic once the registry asked for Basic; a token once the realm is
        known. A token service refusing the credentials gives ``None`` here: the request then
        meets its 401 and :meth:`answer` reports the refusal.
        """
        static = self._static()
        if static is not None:
            return static
        if self.scheme == "basic":
            return self._basic()
        if self.scheme == "bearer" and self.bearer is not None:
            try:
                return await self.token_attempt(scopes)
            except TRANSPORT_ERRORS:
                raise
            except RegistryError:
                return None
        return None

    async def answer(
        self, challenge: Challenge | None, scopes: frozenset[str], previous: AuthAttempt | None
    ) -> AuthAnswer:
        """How to retry a request that got 401 with ``challenge`` after sending ``previous``."""
        if challenge is None or self.credentials.token is not None:
            return AuthAnswer()
        if challenge.scheme == "basic":
            if previous is not None and previous.kind == "basic":
                return AuthAnswer()
            attempt = self._basic()
            return AuthAnswer(attempt=attempt)
        needed = canonical_scopes(frozenset(challenge.scopes) | scopes)
        if previous is not None and previous.kind == "token":
            if challenge.error == "insufficient_scope" and canonical_scopes(needed | previous.scopes) == (
                canonical_scopes(previous.scopes)
            ):
                return AuthAnswer(insufficient_scope=True)
            if challenge.error == "invalid_token" and previous.cache_key is not None:
                self.cache.invalidate(previous.cache_key)
        try:
            attempt = await self.token_attempt(needed)
        except TRANSPORT_ERRORS:
            raise
        except RegistryError as error:
            return AuthAnswer(error=error)
        if previous is not None and previous.header == attempt.header:
            return AuthAnswer(insufficient_scope=challenge.error == "insufficient_scope")
        return AuthAnswer(attempt=attempt)

    # -- tokens -------------------------------------------------------------------------------------
    def _cache_key(self, realm: BearerRealm, scopes: frozenset[str]) -> Hashable:
        return (*self._cache_prefix(realm), scopes)

    def _cache_prefix(self, realm: BearerRealm) -> tuple[Hashable, ...]:
        who = (self.credentials.source, self.credentials.username, self.credentials.has_secret)
        return (self.endpoint.host, realm.realm, realm.service, who)

    async def token_attempt(self, scopes: frozenset[str]) -> AuthAttempt:
        """A Bearer attempt with a (cached) token for ``scopes``; raises what the token service says.

        Fewer fetches, same answers: a valid or in-flight token whose scope set covers ``scopes``
        (same realm, service and credentials) is used instead of fetching another one, and the
        requests that need a new token at the same moment (the checks' first requests, all let go
        by the one ``/v2/`` challenge) share one fetch for the union of their scopes
        (:meth:`_batched_key`). A token service grants the part of a scope set it allows, so a
        token for the union answers each part as its own token would; if the union is refused
        outright, each request fetches its own scopes as before -- except when the token service
        rejected the credentials themselves (401 to a request carrying them): that holds for every
        scope set, so it is remembered for the realm and raised without another fetch.
        """
        if self.bearer is None:
            raise ProtocolError("no token service is known for this registry yet")
        realm = self.bearer
        scopes = canonical_scopes(scopes)
        own = self._cache_key(realm, scopes)
        if self._rejected is not None and self._rejected[0] == self._cache_prefix(realm):
            raise self._rejected[1]
        key = self._covering_key(realm, scopes) or await self._batched_key(realm, scopes)
        try:
            token = await self.cache.get(key, self._fetcher(realm, key))
        except TRANSPORT_ERRORS:
            raise
        except AuthenticationError as error:
            if self._sends_credentials():
                self._rejected = (self._cache_prefix(realm), error)
                raise
            if key == own:
                raise
            key = own
            token = await self.cache.get(key, self._fetcher(realm, key))
        except RegistryError:
            if key == own:
                raise
            key = own
            token = await self.cache.get(key, self._fetcher(realm, key))
        return AuthAttempt(
            header=f"Bearer {token.value}",
            kind="token",
            with_credentials=token.with_credentials,
            scopes=token.scopes,
            cache_key=key,
        )

    def _sends_credentials(self) -> bool:
        """Whether a token request carries credentials (Basic or an identity token)."""
        return self.credentials.usable_basic is not None or self.credentials.identity_token is not None

    def _fetcher(self, realm: BearerRealm, key: Hashable) -> Callable[[], Awaitable[AccessToken]]:
        scopes = key[-1] if isinstance(key, tuple) else frozenset()
        return lambda: self.fetch_token(realm, scopes)

    def _covering_key(self, realm: BearerRealm, scopes: frozenset[str]) -> Hashable | None:
        """The key of a valid or in-flight token of this realm and identity covering ``scopes``."""
        prefix = self._cache_prefix(realm)
        for key in self.cache.live_keys():
            if (
                isinstance(key, tuple)
                and key[:-1] == prefix
                and isinstance(key[-1], frozenset)
                and canonical_scopes(key[-1] | scopes) == key[-1]
            ):
                return key
        return None

    async def _batched_key(self, realm: BearerRealm, scopes: frozenset[str]) -> Hashable:
        """The cache key of one fetch shared by every request needing a token in this loop turn.

        The first request opens a batch and yields once to the event loop; the requests that run
        meanwhile add their scopes; then the batch closes with the canonical union as its key.
        """
        prefix = self._cache_prefix(realm)
        batch = self._batches.get(prefix)
        if batch is not None:
            batch[0].update(scopes)
            return await asyncio.shield(batch[1])
        wanted: set[str] = set(scopes)
        ready: asyncio.Future[Hashable] = asyncio.get_running_loop().create_future()
        self._batches[prefix] = (wanted, ready)
        try:
            await asyncio.sleep(0)
        finally:
            del self._batches[prefix]
            key = self._cache_key(realm, canonical_scopes(frozenset(wanted)))
            ready.set_result(key)
        return key

    def _realm_url(self, realm: BearerRealm, *, with_credentials: bool) -> httpx.URL:
        """The token service's URL; refuses a plain-http realm for an https registry.

        Credentials (Basic, a refresh token, a password) never go to such a realm, not even with
        ``Insecure`` (which is about certificate verification); an anonymous token request may,
        when ``Insecure`` is set.
        """
        try:
            url = httpx.URL(self.endpoint.base_url + "/").join(realm.realm)
        except httpx.InvalidURL:
            raise ProtocolError(f"the registry's token realm {realm.realm!r} is not a valid URL") from None
        if url.scheme not in {"http", "https"}:
            raise ProtocolError(f"the registry's token realm {describe_url(url)} is not an http(s) URL")
        if url.scheme == "http" and self.endpoint.scheme == "https" and with_credentials:
            raise InsecureTransportRefused(
                f"the registry sends clients to a token service over plain http ({describe_url(url)}); "
                "refusing to send credentials unencrypted (--insecure does not change this: it only "
                "skips certificate verification)",
            )
        if url.scheme == "http" and self.endpoint.scheme == "https" and not self.insecure:
            raise InsecureTransportRefused(
                f"the registry sends clients to a token service over plain http ({describe_url(url)}); "
                "refusing to send credentials or fetch tokens unencrypted (use --insecure to allow it)",
            )
        return url

    async def fetch_token(self, realm: BearerRealm, scopes: frozenset[str]) -> AccessToken:
        """Fetch a token for ``scopes`` from ``realm`` (no cache). Raises typed errors; every
        protocol fault of the exchange (the answer, its size, its depth, the realm's URL) is a
        :class:`TokenServiceError`."""
        try:
            return await self._fetch_token(realm, scopes)
        except (TokenServiceError, RedirectedToAnotherHost):
            raise
        except ProtocolError as exc:
            raise TokenServiceError(
                exc.message, status=exc.status, codes=exc.codes, request=exc.request, detail=exc.detail
            ) from exc

    async def _fetch_token(self, realm: BearerRealm, scopes: frozenset[str]) -> AccessToken:
        identity = self.credentials.identity_token
        basic = self.credentials.usable_basic
        url = self._realm_url(realm, with_credentials=identity is not None or basic is not None)
        if identity is not None:
            form = {"grant_type": "refresh_token", "refresh_token": identity.get_secret_value()}
            response = await self._post(url, realm, scopes, form)
            if response.status_code not in {404, 405}:
                return self._token_from(response, scopes, with_credentials=True)
        elif basic is not None and self.oauth_password_grant:
            form = {"grant_type": "password", "username": basic[0], "password": basic[1]}
            response = await self._post(url, realm, scopes, form)
            if response.status_code not in {404, 405}:
                return self._token_from(response, scopes, with_credentials=True)
        params: list[tuple[str, str | int | float | bool | None]] = []
        if realm.service:
            params.append(("service", realm.service))
        params.extend(("scope", scope) for scope in sorted(scopes))
        authorization = None
        if basic is not None:
            params.append(("account", basic[0]))
            authorization = basic_header(*basic)
        response = await self.transport.send(
            "GET",
            url.copy_merge_params(params),
            authorization=authorization,
            auth_origin=origin(url),
            extensions={TOKEN_FETCH_EXTENSION: True},
            credential_bound=authorization is not None,
        )
        return self._token_from(response, scopes, with_credentials=basic is not None)

    async def _post(
        self, url: httpx.URL, realm: BearerRealm, scopes: frozenset[str], form: dict[str, str]
    ) -> httpx.Response:
        body = dict(form)
        body.update({"client_id": self.client_id, "access_type": "offline"})
        if realm.service:
            body["service"] = realm.service
        if scopes:
            body["scope"] = " ".join(sorted(scopes))
        return await self.transport.send(
            "POST",
            url,
            content=urlencode(body).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            extensions={TOKEN_FETCH_EXTENSION: True},
            credential_bound=True,
        )

    def _token_from(
        self, response: httpx.Response, scopes: frozenset[str], *, with_credentials: bool
    ) -> AccessToken:
        request = f"{response.request.method} {describe_url(response.request.url)}"
        if response.status_code != 200:
            raise self._refusal(response, request, with_credentials)
        data = parse_json(response.content, what="the token service's answer", status=200, request=request)
        if not isinstance(data, dict):
            raise ProtocolError(
                "the token service's answer is not a JSON object", status=200, request=request
            )
        value = data.get("access_token") or data.get("token")
        if not isinstance(value, str) or not value:
            raise ProtocolError(
                "the token service's answer has neither 'token' nor 'access_token'",
                status=200,
                request=request,
            )
        register_secret(value)
        refresh = data.get("refresh_token")
        if isinstance(refresh, str):
            register_secret(refresh)
        if not usable_token(value):
            raise ProtocolError(
                "the token service's token contains characters an HTTP header cannot carry "
                "(non-ASCII, control characters or whitespace)",
                status=200,
                request=request,
            )
        lifetime = token_lifetime(data.get("expires_in"))
        granted = data.get("scope") if isinstance(data.get("scope"), str) else None
        return AccessToken(
            value=value,
            expires_at=TokenCache.expiry(self.cache.clock(), lifetime),
            with_credentials=with_credentials,
            scopes=scopes,
            granted_scope=granted,
        )

    def _refusal(self, response: httpx.Response, request: str, with_credentials: bool) -> RegistryError:
        where = origin(response.request.url)[1]
        error = error_from_response(response, request=request, credentials_sent=with_credentials)
        kwargs: dict[str, Any] = {
            "status": error.status,
            "codes": error.codes,
            "request": request,
            "detail": error.detail,
        }
        if response.status_code == 401:
            if with_credentials:
                who = f" for user {self.credentials.username!r}" if self.credentials.username else ""
                return AuthenticationError(
                    f"the token service at {where} rejected the credentials{who} (HTTP 401)", **kwargs
                )
            return AuthenticationError(
                f"the token service at {where} refused anonymous access (HTTP 401): "
                "the repository is private or the registry requires credentials",
                **kwargs,
            )
        if response.status_code == 403:
            return PermissionDenied(
                f"the token service at {where} denied the token request (HTTP 403)",
                credentials_valid=with_credentials,
                **kwargs,
            )
        return error
