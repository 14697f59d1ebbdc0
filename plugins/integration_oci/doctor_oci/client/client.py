"""``RegistryClient``: one registry, one set of credentials, one connection pool, one run.

The contract is ``docs/dev/oci-client-contract.md``. In short: :meth:`RegistryClient.request`
sends any registry request, authenticating as the registry asks (Basic, token exchange, static
token), and returns the response for any HTTP status; :meth:`RegistryClient.error_for` turns a
non-success response into the typed error it stands for; the manifest and tag helpers raise those
errors themselves. Transport failures are always raised (``ConnectError``, ``TLSError``,
``RegistryTimeout``, ``ProtocolError``, ``InsecureTransportRefused``).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import weakref
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from doctor_oci.client.auth import AuthAttempt, Authenticator, TokenCache
from doctor_oci.client.budget import DEFAULT_MAX_TAGS, PageBudget
from doctor_oci.client.challenge import Challenge, parse_www_authenticate
from doctor_oci.client.credentials import Credentials, resolve_credentials
from doctor_oci.client.errors import (
    AuthenticationError,
    PermissionDenied,
    ProtocolError,
    RegistryError,
)
from doctor_oci.client.headers import RateLimit, parse_rate_limit
from doctor_oci.client.hooks import redact
from doctor_oci.client.jsonbody import parse_json
from doctor_oci.client.link import next_link
from doctor_oci.client.mediatypes import MANIFEST_ACCEPT, base_media_type
from doctor_oci.client.options import ClientSettings
from doctor_oci.client.reference import RegistryEndpoint, digest_algorithm, is_digest
from doctor_oci.client.responses import error_from_response
from doctor_oci.client.tls import verifying_context
from doctor_oci.client.transport import (
    DEFAULT_MAX_BODY_BYTES,
    TAG_LIST_MAX_BODY_BYTES,
    RequestMetrics,
    RetryPolicy,
    Transport,
)
from doctor_oci.client.urls import describe_request, origin

T = TypeVar("T")

__all__ = ["Manifest", "PingResult", "RegistryClient"]

USER_AGENT = "doctor-oci/0.1"
_REPOSITORY_ACTIONS = frozenset({"pull", "push", "delete", "*"})
#: The memo key of the unauthenticated ``GET /v2/`` (:meth:`RegistryClient.start_discovery`).
_DISCOVERY = "v2-discovery"


@dataclass(frozen=True)
class PingResult:
    """The answer to ``GET /v2/``.

    ``status``: the final status (after authenticating, if challenged); ``authenticated``: the
    final request carried credentials or a token and got 200; ``challenge``: the raw
    ``WWW-Authenticate`` of the unauthenticated 401; ``error``: the typed error when the final
    status is not 200.
    """

    status: int
    authenticated: bool
    challenge: str | None
    auth_scheme: Literal["basic", "bearer"] | None
    api_version: str | None
    error: RegistryError | None = None


@dataclass(frozen=True)
class Manifest:
    """A manifest as served: ``raw`` bytes (whose digest is ``digest``) and the parsed ``data``."""

    digest: str
    media_type: str
    size: int
    raw: bytes = field(repr=False)
    data: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, eq=False, repr=False)  # internal: never compared or printed
class _AuthInfo:
    attempt: AuthAttempt | None
    token_error: RegistryError | None
    insufficient_scope: bool


def _verify(settings: ClientSettings) -> ssl.SSLContext | bool:
    if settings.Insecure:
        return False
    # One context per trust setting per process, shared by the clients (client/tls.py: why).
    return verifying_context(settings.CaBundle)


def _digest_of(raw: bytes, algorithm: str) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, raw).hexdigest()}"


class RegistryClient:
    """Async client for one registry (see the module docstring and the contract document)."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        registry: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        credentials: Credentials | None = None,
        retry_policy: RetryPolicy | None = None,
        token_cache: TokenCache | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        repository: str | None = None,
        metrics: RequestMetrics | None = None,
    ) -> None:
        """``registry`` overrides ``settings.RegistryUrl`` (host[:port], e.g. ``Reference.registry``).

        ``credentials`` skips resolution (embedders that resolved them already); ``repository``
        lets containers ``auth.json`` namespace keys match during resolution; ``metrics`` shares
        another client's counters, so a client opened on its behalf (a cosign repository on
        another registry) counts under the same labels (a check's ``http_requests``);
        ``retry_policy`` and ``transport`` are for tests and the bench.
        """
        self.settings = settings
        self.endpoint = RegistryEndpoint.from_settings(settings, registry)
        self.base_url = self.endpoint.base_url
        self.host = self.endpoint.host
        self._origin = origin(self.base_url)
        self.credentials = (
            credentials
            if credentials is not None
            else resolve_credentials(settings, self.host, repository=repository or settings.TestRepository)
        )
        self.metrics = metrics if metrics is not None else RequestMetrics()
        self.rate_limit: RateLimit | None = None
        self.server_headers = httpx.Headers()
        self.api_version: str | None = None
        #: The raw (redacted) ``WWW-Authenticate`` of the unauthenticated ``/v2/`` answer, once
        #: known: its realm and service identify Harbor, GitLab or Quay.
        self.challenge: str | None = None
        self._http = httpx.AsyncClient(
            transport=transport,
            verify=_verify(settings),
            trust_env=True,
            timeout=httpx.Timeout(settings.TimeoutSeconds),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            event_hooks={"request": [self.metrics.on_request]},
        )
        self._transport = Transport(
            self._http,
            timeout_s=settings.TimeoutSeconds,
            policy=retry_policy,
            max_body_bytes=max_body_bytes,
            on_response=self._observe,
        )
        self._auth = Authenticator(
            endpoint=self.endpoint,
            credentials=self.credentials,
            transport=self._transport,
            insecure=settings.Insecure,
            cache=token_cache if token_cache is not None else TokenCache(),
        )
        self._auth_info: weakref.WeakKeyDictionary[httpx.Response, _AuthInfo] = weakref.WeakKeyDictionary()
        self._ping: asyncio.Future[PingResult] | None = None
        self._memo: dict[Hashable, asyncio.Future[Any]] = {}

    @classmethod
    async def open(cls, settings: ClientSettings, **kwargs: Any) -> RegistryClient:
        """Construct a client without blocking the event loop.

        Resolving credentials may run a docker credential helper program (bounded by its
        timeout); doing that in a worker thread keeps every other coroutine -- other checks,
        their timeouts -- running meanwhile. Async code should use this instead of the
        constructor; ``kwargs`` are the constructor's.
        """
        return await asyncio.to_thread(cls, settings, **kwargs)

    def __repr__(self) -> str:
        return redact(f"RegistryClient(base_url={self.base_url!r}, credentials={self.credentials!r})")

    # -- lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def token_cache(self) -> TokenCache:
        return self._auth.cache

    @property
    def auth_scheme(self) -> Literal["basic", "bearer"] | None:
        """The scheme the registry challenged with so far (``None`` before any challenge)."""
        return self._auth.scheme

    # -- requests -------------------------------------------------------------------------------
    def _observe(self, response: httpx.Response) -> None:
        if not same_origin_url(response.request.url, self._origin):
            return
        limit = parse_rate_limit(response.headers)
        if limit is not None:
            self.rate_limit = limit

    def _url(self, url: str, params: Mapping[str, str] | None) -> httpx.URL:
        text = url.strip()
        if "://" in text and not text.lower().startswith(("http://", "https://")):
            raise ProtocolError(f"unsupported URL scheme in {redact(text)!r}")
        try:
            target = httpx.URL(text) if "://" in text else httpx.URL(self.base_url + "/").join(text)
            return target.copy_merge_params(dict(params)) if params else target
        except httpx.InvalidURL:
            raise ProtocolError(f"invalid request URL {redact(text)!r}") from None

    async def request(
        self,
        method: str,
        url: str,
        *,
        scopes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        idempotent: bool | None = None,
        max_body_bytes: int | None = None,
    ) -> httpx.Response:
        """Send one registry request, authenticating as challenged; see the contract for the rules."""
        target = self._url(url, params)
        wanted = frozenset(scopes)
        ours = same_origin_url(target, self._origin)
        if ours:
            await self._learn_scheme_first()
        attempt = await self._auth.proactive(wanted) if ours else None

        async def send(with_attempt: AuthAttempt | None) -> httpx.Response:
            return await self._transport.send(
                method,
                target,
                headers=headers,
                content=content,
                authorization=with_attempt.header if with_attempt else None,
                auth_origin=self._origin,
                idempotent=idempotent,
                max_body_bytes=max_body_bytes,
            )

        response = await send(attempt)
        token_error: RegistryError | None = None
        insufficient = False
        if response.status_code == 401 and ours:
            challenge = self._auth.learn(self._challenges(response))
            answer = await self._auth.answer(challenge, wanted, attempt)
            token_error, insufficient = answer.error, answer.insufficient_scope
            if answer.attempt is not None:
                attempt = answer.attempt
                response = await send(attempt)
                if response.status_code == 401:
                    retry_challenge = self._auth.learn(self._challenges(response))
                    insufficient = (
                        retry_challenge is not None and retry_challenge.error == "insufficient_scope"
                    )
        self._auth_info[response] = _AuthInfo(
            attempt=attempt, token_error=token_error, insufficient_scope=insufficient
        )
        return response

    def start_discovery(self) -> None:
        """Send the unauthenticated ``GET /v2/`` now, in the background, once per client.

        For a client that will send several requests at once (the run's shared client, each check
        calling this under its request label): until the registry has said how it authenticates,
        each request would meet its own 401 (five checks starting together: five challenges, then
        a token fetch each). Once discovery has started, a request with credentials to send waits
        for it instead (:meth:`_learn_scheme_first`), which costs no round trip -- the request's own 401 would
        have come back at the same time -- and then sends Basic credentials or a token with its
        first try (to this origin only). Needs a running event loop.
        """
        self.memo_start(_DISCOVERY, self._discovery_probe)

    async def _learn_scheme_first(self) -> None:
        """Wait for a started ``/v2/`` discovery while the scheme is unknown (see :meth:`start_discovery`).

        Only with credentials to send: anonymous requests go at once, as an open registry answers
        them without any challenge (waiting would add a round trip there; an anonymous client of
        a token registry meets one 401 per concurrent first request, as before). A static token
        needs no discovery; a failed discovery (network error) is left to the request itself to
        meet and report, as without discovery.
        """
        if self._auth.scheme is not None or self.credentials.token is not None:
            return
        if self.credentials.usable_basic is None and self.credentials.identity_token is None:
            return
        task = self._memo.get(_DISCOVERY)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            return
        try:
            await asyncio.shield(task)
        except RegistryError:
            return

    @staticmethod
    def _challenges(response: httpx.Response) -> list[Challenge]:
        return parse_www_authenticate(response.headers.get_list("www-authenticate"))

    def error_for(self, response: httpx.Response) -> RegistryError:
        """The typed error a non-success ``response`` (from :meth:`request`) stands for."""
        info = self._auth_info.get(response)
        attempt = info.attempt if info else None
        sent = attempt is not None and attempt.with_credentials
        description = describe_request(response.request) if _has_request(response) else None
        if info is not None and info.token_error is not None and response.status_code == 401:
            return info.token_error
        if response.status_code == 401:
            challenge = next(iter(self._challenges(response)), None)
            insufficient = (info is not None and info.insufficient_scope) or (
                challenge is not None and challenge.error == "insufficient_scope"
            )
            if insufficient and sent:
                error = error_from_response(response, request=description, credentials_sent=True)
                return PermissionDenied(
                    "the credentials are valid but lack permission for this operation "
                    "(HTTP 401 insufficient_scope)",
                    credentials_valid=True,
                    status=401,
                    codes=error.codes,
                    request=description,
                    detail=error.detail,
                )
            if not sent:
                error = error_from_response(response, request=description, credentials_sent=False)
                problem = f"; {self.credentials.problem}" if self.credentials.problem else ""
                return AuthenticationError(
                    f"the registry requires credentials for this operation and none were sent{problem} "
                    "(HTTP 401)",
                    status=401,
                    codes=error.codes,
                    request=description,
                    detail=error.detail,
                )
        return error_from_response(response, request=description, credentials_sent=sent)

    def raise_for_status(self, response: httpx.Response) -> httpx.Response:
        """``response`` if its status is 2xx, else raise :meth:`error_for`."""
        if not 200 <= response.status_code < 300:
            raise self.error_for(response)
        return response

    @staticmethod
    def scope(repository: str, *actions: str) -> str:
        """``repository:<repo>:<actions>`` (``pull`` when no action is given)."""
        if not repository or any(char.isspace() for char in repository):
            raise ValueError(f"invalid repository name for a token scope: {repository!r}")
        chosen = actions or ("pull",)
        unknown = [action for action in chosen if action not in _REPOSITORY_ACTIONS]
        if unknown:
            raise ValueError(f"unknown repository scope action(s) {unknown!r}; use pull, push, delete or *")
        return f"repository:{repository}:{','.join(dict.fromkeys(chosen))}"

    # -- memo -----------------------------------------------------------------------------------
    async def memo(self, key: Hashable, factory: Callable[[], Awaitable[T]]) -> T:
        """The result of ``factory()``, computed once per ``key`` for this client's life.

        This is the one "ask the registry once per run" mechanism: checks running concurrently
        that need the same read (the test image's digest, a manifest, a probe whose answer they
        share) wait for one request instead of each sending their own. Single-flight: concurrent
        callers share the same task; a caller being cancelled does not cancel it for the others.
        A factory that raises is not remembered (the next caller tries again).

        A client is a snapshot of one diagnostic run: do not memoize reads whose answer the
        caller expects to change while the client lives.
        """
        return await asyncio.shield(self.memo_start(key, factory))

    def memo_start(self, key: Hashable, factory: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """:meth:`memo` without waiting: the task computing ``key``, started now if it is not running
        or done (needs a running loop). The task runs in the caller's context (its request label)."""
        task = self._memo.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.ensure_future(factory())
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._memo[key] = task
        return task

    # -- ping -----------------------------------------------------------------------------------
    async def ping(self) -> PingResult:
        """``GET /v2/``, authenticating if challenged; single-flight and cached for the client's life."""
        if self._ping is None:
            self._ping = asyncio.ensure_future(self._do_ping())
            self._ping.add_done_callback(lambda future: future.cancelled() or future.exception())
        return await asyncio.shield(self._ping)

    async def _discover(self) -> httpx.Response:
        """The unauthenticated ``GET /v2/``, once per client: the challenge says how to authenticate.

        Memoized like every once-per-run read (see :meth:`memo`).
        """
        return await self.memo(_DISCOVERY, self._discovery_probe)

    async def _discovery_probe(self) -> httpx.Response:
        response = await self._transport.send("GET", httpx.URL(self.base_url + "/v2/"))
        self._record_server(response)
        if response.status_code == 401:
            self._auth.learn(self._challenges(response))
            self.challenge = redact(", ".join(response.headers.get_list("www-authenticate"))) or None
        return response

    async def _do_ping(self) -> PingResult:
        first = await self._discover()
        challenge_raw = self.challenge if first.status_code == 401 else None
        response = first
        if first.status_code == 401:
            if self._auth.scheme is not None or self.credentials.token is not None:
                response = await self.request("GET", "/v2/")
                self._record_server(response)
        elif self.credentials.token is not None:
            response = await self.request("GET", "/v2/")
        sent_auth = "authorization" in response.request.headers
        error = None if response.status_code == 200 else self.error_for(response)
        return PingResult(
            status=response.status_code,
            authenticated=response.status_code == 200 and sent_auth,
            challenge=challenge_raw,
            auth_scheme=self._auth.scheme,
            api_version=self.api_version,
            error=error,
        )

    def _record_server(self, response: httpx.Response) -> None:
        self.server_headers = response.headers
        version = response.headers.get("docker-distribution-api-version")
        if version is not None:
            self.api_version = version

    # -- manifests and tags -----------------------------------------------------------------------
    async def head_manifest(self, repository: str, reference: str) -> httpx.Response:
        """``HEAD /v2/<repo>/manifests/<reference>`` with the full Accept list; any status is returned."""
        return await self.request(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            scopes=(self.scope(repository, "pull"),),
            headers={"Accept": ", ".join(MANIFEST_ACCEPT)},
        )

    async def resolve_manifest(self, repository: str, reference: str) -> httpx.Response:
        """:meth:`head_manifest`, memoized for the client's life (see :meth:`memo`).

        Every check and referrer lookup that needs "does the manifest exist, and what is its
        digest" asks this, so one run sends one HEAD per reference. A 200 carrying
        ``Docker-Content-Digest`` also answers later lookups of that digest.
        """
        response = await self.memo(
            ("manifest-head", repository, reference), lambda: self.head_manifest(repository, reference)
        )
        digest = response.headers.get("docker-content-digest")
        if response.status_code == 200 and digest and is_digest(digest.strip()):
            self._memo.setdefault(("manifest-head", repository, digest.strip()), self._done(response))
        return response

    @staticmethod
    def _done(value: T) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        future.set_result(value)
        return future

    async def get_manifest(
        self, repository: str, reference: str, *, accept: Sequence[str] = MANIFEST_ACCEPT
    ) -> Manifest:
        """Fetch and verify a manifest.

        Its bytes must hash to ``Docker-Content-Digest`` and, for a digest reference, to that digest.
        A manifest fetched by digest is content-addressed and immutable, so it is fetched once per
        client (see :meth:`memo`).
        """
        if is_digest(reference):
            return await self.memo(
                ("manifest", repository, reference, tuple(accept)),
                lambda: self._get_manifest(repository, reference, accept),
            )
        return await self._get_manifest(repository, reference, accept)

    async def _get_manifest(self, repository: str, reference: str, accept: Sequence[str]) -> Manifest:
        response = await self.request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            scopes=(self.scope(repository, "pull"),),
            headers={"Accept": ", ".join(accept)},
        )
        self.raise_for_status(response)
        raw = response.content
        description = describe_request(response.request)
        header = response.headers.get("docker-content-digest")
        expected = [value for value in (header, reference if is_digest(reference) else None) if value]
        for value in expected:
            try:
                algorithm = digest_algorithm(value.strip())
            except ValueError:
                raise ProtocolError(
                    f"the registry sent an invalid Docker-Content-Digest {value!r}",
                    status=response.status_code,
                    request=description,
                ) from None
            actual = _digest_of(raw, algorithm)
            if actual != value.strip():
                raise ProtocolError(
                    f"manifest digest mismatch: expected {value.strip()}, the bytes hash to {actual}",
                    status=response.status_code,
                    request=description,
                )
        digest = expected[0].strip() if expected else _digest_of(raw, "sha256")
        data = parse_json(raw, what="the manifest", status=response.status_code, request=description)
        if not isinstance(data, dict):
            raise ProtocolError(
                "the manifest is not a JSON object", status=response.status_code, request=description
            )
        media_type = base_media_type(response.headers.get("content-type"))
        declared = data.get("mediaType")
        if isinstance(declared, str) and declared and (not media_type or media_type == "application/json"):
            media_type = declared
        return Manifest(digest=digest, media_type=media_type, size=len(raw), raw=raw, data=data)

    async def list_tags(
        self,
        repository: str,
        *,
        page_size: int = 1000,
        max_pages: int | None = None,
        budget: PageBudget | None = None,
    ) -> list[str]:
        """All tags of ``repository``, following ``Link`` pagination; raises typed errors.

        Asks for ``page_size`` tags a page (``n=``). The whole listing runs under one
        :class:`~doctor_oci.client.budget.PageBudget` (bytes, tags, pages, wall time across all
        pages; default a fresh one, ``max_pages`` lowering its page limit): past it,
        :class:`~doctor_oci.client.budget.BudgetExceeded`. A link back to a page already read is a
        :class:`ProtocolError` (a loop), a link to another origin too.
        """
        if page_size < 1 or (max_pages is not None and max_pages < 1):
            raise ValueError("page_size and max_pages must be positive")
        # bytes: one whole tag-list page may be as large as a listing (registries ignoring n)
        budget = budget or PageBudget(
            "the tag list", max_bytes=TAG_LIST_MAX_BODY_BYTES, max_entries=DEFAULT_MAX_TAGS
        )
        if max_pages is not None:
            budget.max_pages = min(budget.max_pages, max_pages)
        url: str | None = f"{self.base_url}/v2/{repository}/tags/list?n={page_size}"
        tags: list[str] = []
        seen: set[str] = set()
        scopes = (self.scope(repository, "pull"),)
        while url is not None:
            if url in seen:
                raise ProtocolError("the registry's tag list pagination loops", request=f"GET {url}")
            seen.add(url)

            async def fetch(cap: int, target: str = url) -> httpx.Response:
                return await self.request("GET", target, scopes=scopes, max_body_bytes=cap)

            response = self.raise_for_status(
                await budget.read_page(fetch, TAG_LIST_MAX_BODY_BYTES, request=f"GET {url}")
            )
            body = parse_json(
                response.content,
                what="the tag list",
                status=response.status_code,
                request=describe_request(response.request),
            )
            page = body.get("tags") if isinstance(body, dict) else None
            if page is not None and not (
                isinstance(page, list) and all(isinstance(tag, str) for tag in page)
            ):
                raise ProtocolError(
                    "the tag list's 'tags' is not a list of strings",
                    status=response.status_code,
                    request=describe_request(response.request),
                )
            budget.charge(len(response.content), len(page or ()), request=f"GET {url}")
            tags.extend(page or [])
            url = next_link(", ".join(response.headers.get_list("link")) or None, str(response.url))
        return tags


def same_origin_url(url: httpx.URL, target: tuple[str, str, int]) -> bool:
    try:
        return origin(url) == target
    except (httpx.InvalidURL, ValueError):
        return False


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - raises RuntimeError when the response was built without one
    except RuntimeError:
        return False
    return True
