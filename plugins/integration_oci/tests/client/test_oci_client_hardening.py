"""Regression tests for four faults the reliability suite found in the OCI client.

1. A redirect to another host that answers 401 is the redirect's fault, not a login problem.
2. A registry trickling bytes is bounded by an overall per-attempt deadline (real loopback server).
3. Token-service answers with an unusable token or a nonsensical ``expires_in`` stay typed.
4. ``Retry-After`` values that are not finite or are negative are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx
from doctor_oci.client import (
    AuthenticationError,
    Credentials,
    ProtocolError,
    RedirectedToAnotherHost,
    RegistryClient,
    RegistryTimeout,
    RetryPolicy,
    TokenCache,
    error_from_response,
    parse_retry_after,
)
from doctor_oci.client.auth import (
    DEFAULT_TOKEN_LIFETIME_S,
    MAX_TOKEN_LIFETIME_S,
    Authenticator,
    BearerRealm,
    token_lifetime,
    usable_token,
)
from doctor_oci.client.reference import RegistryEndpoint
from doctor_oci.client.transport import Transport
from doctor_oci.settings import OciSettings
from oci_client_fakes import FakeSleep

REG = "https://r.example.com"
FOREIGN = "https://storage.example.net"
BLOB_PATH = f"/v2/app/blobs/sha256:{'0' * 64}"


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def clients() -> AsyncIterator[list[RegistryClient]]:
    opened: list[RegistryClient] = []
    yield opened
    for client in opened:
        await client.aclose()


@pytest.fixture
def make_client(
    settings: Callable[..., OciSettings], fast_retries: RetryPolicy, clients: list[RegistryClient]
) -> Callable[..., RegistryClient]:
    def make(*, retry_policy: RetryPolicy | None = None, **keys: Any) -> RegistryClient:
        keys.setdefault("RegistryUrl", REG)
        client = RegistryClient(settings(**keys), retry_policy=retry_policy or fast_retries)
        clients.append(client)
        return client

    return make


# -- 1. redirect to another host answering 401 --------------------------------------------------------
FOREIGN_401 = {"errors": [{"code": "UNAUTHORIZED", "message": "foreign host"}]}


async def test_foreign_redirect_401_names_the_redirect_not_the_credentials(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}{BLOB_PATH}").respond(307, headers={"Location": f"{FOREIGN}/blob?sig=secret"})
    foreign = router.get(f"{FOREIGN}/blob").respond(
        401, json=FOREIGN_401, headers={"WWW-Authenticate": 'Basic realm="foreign"'}
    )
    client = make_client(Token="static-token-foreign")
    with pytest.raises(RedirectedToAnotherHost) as info:
        await client.request("GET", BLOB_PATH)
    error = info.value
    assert isinstance(error, ProtocolError) and not isinstance(error, AuthenticationError)
    assert error.message == (
        f"the registry redirected GET {BLOB_PATH} to another host (storage.example.net), which answered "
        "401; credentials are never sent to another host"
    )
    assert (error.status, error.code, error.host, error.detail) == (
        401,
        "UNAUTHORIZED",
        "storage.example.net",
        "foreign host",
    )
    assert "secret" not in str(error) and "static-token-foreign" not in repr(error)
    assert "authorization" not in foreign.calls.last.request.headers


async def test_foreign_redirect_401_during_ping_is_raised_with_the_port(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/").respond(307, headers={"Location": "http://127.0.0.1:8765/v2/"})
    router.get("http://127.0.0.1:8765/v2/").respond(401)
    client = make_client(Username="alice", Password="pw-foreign-ping")
    expected = r"redirected GET /v2/ to another host \(127\.0\.0\.1:8765\)"
    with pytest.raises(RedirectedToAnotherHost, match=expected):
        await client.ping()


async def test_same_host_redirect_to_401_is_still_an_authentication_error(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/a").respond(307, headers={"Location": "/v2/b"})
    router.get(f"{REG}/v2/b").respond(401, json=FOREIGN_401)
    client = make_client()
    response = await client.request("GET", "/v2/a")
    assert response.status_code == 401 and len(response.history) == 1
    assert isinstance(client.error_for(response), AuthenticationError)


async def test_foreign_redirect_other_statuses_are_returned(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}{BLOB_PATH}").respond(307, headers={"Location": f"{FOREIGN}/blob"})
    router.get(f"{FOREIGN}/blob").respond(403)
    response = await make_client().request("GET", BLOB_PATH)
    assert response.status_code == 403 and not isinstance(
        error_from_response(response), RedirectedToAnotherHost
    )


def test_error_from_response_recognises_a_foreign_redirect_chain() -> None:
    first = httpx.Response(307, request=httpx.Request("HEAD", f"{REG}/v2/app/manifests/latest"))
    last = httpx.Response(401, request=httpx.Request("HEAD", f"{FOREIGN}:8443/x"), history=[first])
    error = error_from_response(last, credentials_sent=True)
    assert isinstance(error, RedirectedToAnotherHost)
    assert "redirected HEAD /v2/app/manifests/latest to another host (storage.example.net:8443)" in str(error)
    unredirected = httpx.Response(401, request=httpx.Request("GET", f"{FOREIGN}/x"))
    assert isinstance(error_from_response(unredirected), AuthenticationError)


# -- 2. trickling registry (real loopback server) ------------------------------------------------------
class TrickleServer:
    """An HTTP server on 127.0.0.1 that sends its response one byte per ``interval`` seconds."""

    def __init__(self, body: bytes, interval: float) -> None:
        self.body = body
        self.interval = interval
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> TrickleServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self.body)}\r\n\r\n"
            ).encode()
            for index in range(len(data := head + self.body)):
                writer.write(data[index : index + 1])
                await writer.drain()
                await asyncio.sleep(self.interval)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def test_trickling_registry_trips_the_overall_deadline(
    make_client: Callable[..., RegistryClient],
) -> None:
    # Every byte arrives well within httpx's 1 s read timeout; the whole answer would take ~20 s.
    async with TrickleServer(b'{"padding":"' + b"x" * 100 + b'"}', interval=0.1) as server:
        client = make_client(RegistryUrl=server.url, Insecure=True, TimeoutSeconds=1)
        started = time.monotonic()
        with pytest.raises(RegistryTimeout) as info:
            await client.request("GET", "/v2/")
        elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"took {elapsed:.1f}s"
    assert "timed out" in str(info.value) and "did not complete within 1 s" in str(info.value)
    assert info.value.request is not None and info.value.request.startswith("GET http://127.0.0.1")
    assert server.connections == 1, "a timed-out attempt is not retried"


async def test_slow_but_complete_response_within_the_deadline_succeeds(
    make_client: Callable[..., RegistryClient],
) -> None:
    async with TrickleServer(b"{}", interval=0.005) as server:
        client = make_client(RegistryUrl=server.url, Insecure=True, TimeoutSeconds=2)
        response = await client.request("GET", "/v2/")
    assert response.status_code == 200 and response.json() == {}


async def test_attempt_deadline_is_capped_by_the_retry_budget() -> None:
    async with TrickleServer(b"{}" * 50, interval=0.1) as server, httpx.AsyncClient(timeout=5) as http:
        transport = Transport(http, timeout_s=5, policy=RetryPolicy(budget_s=0.5))
        started = time.monotonic()
        with pytest.raises(RegistryTimeout, match=r"within 0\.5 s"):
            await transport.send("GET", f"{server.url}/v2/")
        assert time.monotonic() - started < 1.5


# -- 3. token-service answers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "token", ["\u0080abc", "caf\u00e9", "a b", "abc\r\nX-Injected: 1", "tab\there", "\x00x", ""]
)
def test_unusable_tokens_are_recognised(token: str) -> None:
    assert not usable_token(token)


@pytest.mark.parametrize("token", ["eyJhbGciOi.J9.x-_~+/=", "abc", "!#$%&'()*"])
def test_header_safe_tokens_are_usable(token: str) -> None:
    assert usable_token(token)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, DEFAULT_TOKEN_LIFETIME_S),
        ("300", DEFAULT_TOKEN_LIFETIME_S),
        (True, DEFAULT_TOKEN_LIFETIME_S),
        (math.inf, DEFAULT_TOKEN_LIFETIME_S),
        (-math.inf, DEFAULT_TOKEN_LIFETIME_S),
        (math.nan, DEFAULT_TOKEN_LIFETIME_S),
        (-5, DEFAULT_TOKEN_LIFETIME_S),
        (1e300, DEFAULT_TOKEN_LIFETIME_S),
        (10**400, DEFAULT_TOKEN_LIFETIME_S),
        (MAX_TOKEN_LIFETIME_S + 1, DEFAULT_TOKEN_LIFETIME_S),
        (10, DEFAULT_TOKEN_LIFETIME_S),
        (300, 300),
        (300.9, 300),
        (MAX_TOKEN_LIFETIME_S, MAX_TOKEN_LIFETIME_S),
    ],
)
def test_token_lifetime(raw: object, expected: int) -> None:
    assert token_lifetime(raw) == expected


def _authenticator(http: httpx.AsyncClient) -> Authenticator:
    settings = OciSettings(RegistryUrl=REG, TimeoutSeconds=2)
    return Authenticator(
        endpoint=RegistryEndpoint.from_settings(settings),
        credentials=Credentials(),
        transport=Transport(http, timeout_s=2),
        cache=TokenCache(clock=lambda: 1000.0),
    )


@pytest.mark.parametrize("lifetime", [b"Infinity", b"-Infinity", b"NaN", b"-30", b"1e400", b"9" * 500])
async def test_nonsense_expires_in_gets_the_default_lifetime(lifetime: bytes) -> None:
    body = b'{"token":"abc123","expires_in":' + lifetime + b"}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        auth = _authenticator(http)
        token = await auth.fetch_token(BearerRealm(f"{REG}/token", "svc"), frozenset())
    assert token.value == "abc123"
    assert token.expires_at == TokenCache.expiry(1000.0, DEFAULT_TOKEN_LIFETIME_S)


@pytest.mark.parametrize("token", ["\u0080abc", "abc\r\nX-Injected: 1", "two words"])
async def test_unusable_token_from_the_token_service_is_a_protocol_error(token: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token": token})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        auth = _authenticator(http)
        with pytest.raises(ProtocolError, match="HTTP header cannot carry") as info:
            await auth.fetch_token(BearerRealm(f"{REG}/token", "svc"), frozenset())
    assert info.value.status == 200 and token not in str(info.value) and token not in repr(info.value)


async def test_unusable_token_is_never_sent_and_the_ping_reports_it(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    challenge = f'Bearer realm="{REG}/token",service="svc"'
    router.get(f"{REG}/token").respond(200, json={"token": "tok\u00e9n"})
    v2 = router.get(f"{REG}/v2/").respond(401, headers={"WWW-Authenticate": challenge})
    result = await make_client().ping()
    assert result.status == 401 and isinstance(result.error, ProtocolError)
    assert all("authorization" not in call.request.headers for call in v2.calls)


# -- 4. Retry-After ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["inf", "Infinity", "-inf", "nan", "NaN", "1e400", "-5", "-0.5", "soon", "", "   ", None]
)
def test_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_valid_values() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0 ") == 0.0
    now = time.time()
    future = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=30), usegmt=True)
    past = format_datetime(datetime.fromtimestamp(now, UTC) - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(future, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(past, now=now) == 0.0


async def test_infinite_retry_after_backs_off_instead(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient], fake_sleep: FakeSleep
) -> None:
    route = router.get(f"{REG}/v2/").respond(429, headers={"Retry-After": "inf"})
    response = await make_client().request("GET", "/v2/")
    assert response.status_code == 429 and route.call_count == 3
    assert all(math.isfinite(delay) for delay in fake_sleep.delays) and len(fake_sleep.delays) == 2


def test_scope_sets_that_ask_for_the_same_rights_share_one_cache_key() -> None:
    from doctor_oci.client.auth import canonical_scopes

    merged = canonical_scopes(frozenset({"repository:app:pull,push", "repository:app:pull,push,delete"}))
    assert merged == frozenset({"repository:app:pull,push,delete"})
    assert canonical_scopes(frozenset({"repository:app:delete,pull"})) == frozenset(
        {"repository:app:pull,delete"}
    )
    # A host:port inside the name is part of the resource, not the actions.
    assert canonical_scopes(
        frozenset({"repository:localhost:5000/app:pull", "repository:localhost:5000/app:push"})
    ) == (frozenset({"repository:localhost:5000/app:pull,push"}))
    # Other resources stay apart; shapes we do not understand are kept as they are.
    assert canonical_scopes(frozenset({"registry:catalog:*", "repository:a:pull", "odd"})) == frozenset(
        {"registry:catalog:*", "repository:a:pull", "odd"}
    )


@respx.mock
async def test_a_registry_that_sends_every_tag_at_once_is_read_past_the_default_cap() -> None:
    """distribution 2.8 ignores ``n``: ~120,000 tags come as one ~5 MiB answer."""
    from doctor_oci.client import RegistryClient, ResponseTooLarge
    from doctor_oci.client.transport import DEFAULT_MAX_BODY_BYTES, TAG_LIST_MAX_BODY_BYTES
    from doctor_oci.settings import OciSettings

    tags = [f"build-{index:06d}-{'x' * 30}" for index in range(120_000)]
    body = json.dumps({"name": "app", "tags": tags}).encode()
    assert DEFAULT_MAX_BODY_BYTES < len(body) < TAG_LIST_MAX_BODY_BYTES
    route = respx.get(url__startswith="https://big.example.com/v2/app/tags/list")
    route.mock(return_value=httpx.Response(200, content=body, headers={"Content-Type": "application/json"}))
    async with RegistryClient(OciSettings(RegistryUrl="https://big.example.com")) as client:
        assert await client.list_tags("app") == tags
        # Still bounded: past the tag-list cap the answer is refused, not held in memory.
        route.mock(return_value=httpx.Response(200, content=b"[" + b" " * TAG_LIST_MAX_BODY_BYTES + b"]"))
        with pytest.raises(ResponseTooLarge):
            await client.list_tags("app")
