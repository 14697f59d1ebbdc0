"""RegistryClient over respx: auth flows, registry quirks, retries, redirects, caps and error mapping.

These are the HTTP edge cases a local distribution registry cannot produce (other registries'
challenges, 429s, cross-host redirects, hostile bodies); the real registry is in test_integration.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from doctor_oci.client import (
    OCI_MANIFEST,
    AuthenticationError,
    ConnectError,
    Credentials,
    InsecureTransportRefused,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    RegistryClient,
    RegistryError,
    RegistryTimeout,
    ResponseTooLarge,
    RetryPolicy,
    TLSError,
    TokenCache,
    Unsupported,
)
from doctor_oci.settings import OciSettings
from oci_client_fakes import FakeSleep

Settings = Callable[..., OciSettings]
REG = "https://r.example.com"
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def manifest_response(request: httpx.Request | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(
        200,
        content=MANIFEST,
        headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": MANIFEST_DIGEST, **headers},
    )


def errors_body(code: str, message: str = "msg") -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "detail": None}]}


def bearer_gate(expected: str, challenge: str) -> Callable[[httpx.Request], httpx.Response]:
    """A registry endpoint that wants ``Authorization: Bearer <expected>``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") == f"Bearer {expected}":
            return manifest_response()
        return httpx.Response(401, headers={"WWW-Authenticate": challenge}, json=errors_body("UNAUTHORIZED"))

    return handler


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def closer() -> AsyncIterator[list[RegistryClient]]:
    clients: list[RegistryClient] = []
    yield clients
    for client in clients:
        await client.aclose()


@pytest.fixture
def make_client(
    settings: Settings, fast_retries: RetryPolicy, closer: list[RegistryClient]
) -> Callable[..., RegistryClient]:
    """``make_client(RegistryUrl=..., Username=..., credentials=..., ...)``; closed after the test."""

    def make(**kwargs: Any) -> RegistryClient:
        options = {key: kwargs.pop(key) for key in list(kwargs) if key[0].islower()}
        options.setdefault("retry_policy", fast_retries)
        kwargs.setdefault("RegistryUrl", REG)
        client = RegistryClient(settings(**kwargs), **options)
        closer.append(client)
        return client

    return make


# -- ping -------------------------------------------------------------------------------------------
async def test_ping_open_registry(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    route = router.get(f"{REG}/v2/").respond(200, headers={"Docker-Distribution-API-Version": "registry/2.0"})
    client = make_client()
    results = await asyncio.gather(*(client.ping() for _ in range(5)))
    assert route.call_count == 1, "ping is single-flight and cached"
    assert results[0].status == 200 and results[0].authenticated is False and results[0].error is None
    assert results[0].api_version == "registry/2.0" and client.api_version == "registry/2.0"
    assert client.server_headers["docker-distribution-api-version"] == "registry/2.0"


async def test_ping_basic_without_credentials(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/").respond(401, headers={"WWW-Authenticate": 'Basic realm="Registry"'})
    result = await make_client().ping()
    assert (
        result.status == 401
        and result.auth_scheme == "basic"
        and result.challenge == 'Basic realm="Registry"'
    )
    assert isinstance(result.error, AuthenticationError) and "none were sent" in str(result.error)


# -- GHCR: anonymous token exchange ------------------------------------------------------------------
async def test_ghcr_anonymous_token_exchange(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    challenge = 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"'
    token_route = router.get("https://ghcr.io/token").respond(200, json={"token": "ghcr-anon-token"})
    router.get("https://ghcr.io/v2/user/image/manifests/latest").mock(
        side_effect=bearer_gate("ghcr-anon-token", challenge)
    )
    client = make_client(RegistryUrl="ghcr.io")
    manifest = await client.get_manifest("user/image", "latest")
    assert manifest.digest == MANIFEST_DIGEST and manifest.media_type == OCI_MANIFEST
    token_request = token_route.calls.last.request
    assert parse_qs(token_request.url.query.decode()) == {
        "service": ["ghcr.io"],
        "scope": ["repository:user/image:pull"],
    }
    assert "authorization" not in token_request.headers, "anonymous token request"
    assert client.metrics.token_fetches == 1 and client.metrics.requests == 3


async def test_private_ghcr_anonymous_token_refused(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    challenge = 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/private:pull"'
    router.get("https://ghcr.io/token").respond(
        401, json=errors_body("UNAUTHORIZED", "authentication required")
    )
    router.get("https://ghcr.io/v2/org/private/manifests/latest").mock(
        side_effect=bearer_gate("never", challenge)
    )
    client = make_client(RegistryUrl="ghcr.io")
    with pytest.raises(AuthenticationError, match="refused anonymous access") as info:
        await client.get_manifest("org/private", "latest")
    assert info.value.status == 401 and info.value.code == "UNAUTHORIZED"


# -- Docker token flow with credentials, caching, single flight ------------------------------------------
def token_server(
    tokens: list[str], *, expires_in: int | None = 300
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        value = f"tok-{len(tokens) + 1}-abcdef"
        tokens.append(value)
        body: dict[str, Any] = {"token": value, "access_token": value}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return httpx.Response(200, json=body)

    return handler


async def test_token_flow_with_credentials_and_single_flight(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    tokens: list[str] = []
    challenge = 'Bearer realm="https://auth.example.com/token",service="reg",scope="repository:app:pull"'
    token_route = router.get("https://auth.example.com/token").mock(side_effect=token_server(tokens))

    def registry(request: httpx.Request) -> httpx.Response:
        if tokens and request.headers.get("authorization") == f"Bearer {tokens[0]}":
            return manifest_response()
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    router.get(f"{REG}/v2/app/manifests/latest").mock(side_effect=registry)
    client = make_client(Username="alice", Password="alice-password")
    results = await asyncio.gather(*(client.get_manifest("app", "latest") for _ in range(20)))
    assert all(result.digest == MANIFEST_DIGEST for result in results)
    assert token_route.call_count == 1 and client.metrics.token_fetches == 1
    token_request = token_route.calls.last.request
    assert token_request.headers["authorization"].startswith("Basic ")
    assert parse_qs(token_request.url.query.decode())["account"] == ["alice"]
    # later requests reuse the cached token proactively: no further 401 round trips
    before = client.metrics.requests
    await client.get_manifest("app", "latest")
    assert client.metrics.requests == before + 1 and token_route.call_count == 1


async def test_quay_token_without_expires_in_lives_60_seconds(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    tokens: list[str] = []
    challenge = 'Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:org/app:pull"'
    token_route = router.get("https://quay.io/v2/auth").mock(
        side_effect=token_server(tokens, expires_in=None)
    )

    def registry(request: httpx.Request) -> httpx.Response:
        if tokens and request.headers.get("authorization") == f"Bearer {tokens[-1]}":
            return manifest_response()
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    router.get("https://quay.io/v2/org/app/manifests/latest").mock(side_effect=registry)
    client = make_client(RegistryUrl="quay.io", token_cache=cache)
    await client.get_manifest("org/app", "latest")
    now[0] += 50
    await client.get_manifest("org/app", "latest")
    assert token_route.call_count == 1, "still valid after 50 s"
    now[0] += 10
    await client.get_manifest("org/app", "latest")
    assert token_route.call_count == 2, "refreshed shortly before the 60 s default expiry"


async def test_small_expires_in_is_raised_to_60(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    now = [0.0]
    cache = TokenCache(clock=lambda: now[0])
    tokens: list[str] = []
    challenge = 'Bearer realm="https://auth.example.com/token",service="reg"'
    token_route = router.get("https://auth.example.com/token").mock(
        side_effect=token_server(tokens, expires_in=5)
    )
    router.get(f"{REG}/v2/").mock(
        side_effect=lambda request: (
            httpx.Response(200)
            if request.headers.get("authorization", "").startswith("Bearer tok-")
            else httpx.Response(401, headers={"WWW-Authenticate": challenge})
        )
    )
    client = make_client(token_cache=cache)
    await client.ping()
    now[0] += 30
    await client.request("GET", "/v2/")
    assert token_route.call_count == 1


# -- ECR: Basic challenge -------------------------------------------------------------------------
async def test_ecr_basic_challenge(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    host = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    challenge = f'Basic realm="{host}/",service="ecr.amazonaws.com"'
    seen: list[str | None] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization", "").startswith("Basic "):
            return manifest_response()
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    router.get(f"{host}/v2/app/manifests/v1").mock(side_effect=registry)
    client = make_client(RegistryUrl=host, Username="AWS", Password="ecr-login-password-123")
    await client.get_manifest("app", "v1")
    await client.get_manifest("app", "v1")
    assert seen[0] is None and seen[1] is not None and seen[2] is not None, (
        "Basic sent after the challenge, then up front"
    )
    assert client.auth_scheme == "basic" and client.metrics.token_fetches == 0


async def test_wrong_basic_credentials(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/").respond(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
    result = await make_client(Username="u", Password="wrong-password").ping()
    assert result.status == 401 and not result.authenticated
    assert isinstance(result.error, AuthenticationError) and "rejected the credentials" in str(result.error)


# -- OAuth2 POST, identity tokens, static tokens ----------------------------------------------------
def identity_credentials() -> Credentials:
    from pydantic import SecretStr

    return Credentials(
        method="bearer", source="docker-config", identity_token=SecretStr("identity-refresh-tok")
    )


async def test_identity_token_uses_oauth_post(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    challenge = 'Bearer realm="https://auth.example.com/token",service="reg",scope="repository:app:pull"'
    post = router.post("https://auth.example.com/token").respond(
        200, json={"access_token": "oauth-access", "expires_in": 300}
    )
    get = router.get("https://auth.example.com/token").respond(200, json={"token": "get-token"})
    router.get(f"{REG}/v2/app/manifests/latest").mock(side_effect=bearer_gate("oauth-access", challenge))
    client = make_client(credentials=identity_credentials())
    await client.get_manifest("app", "latest")
    form = parse_qs(post.calls.last.request.content.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["identity-refresh-tok"],
        "client_id": ["doctor"],
        "access_type": ["offline"],
        "service": ["reg"],
        "scope": ["repository:app:pull"],
    }
    assert get.call_count == 0


async def test_oauth_post_404_falls_back_to_get(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    challenge = (
        'Bearer realm="https://auth.example.com/token",service="reg",'
        'scope="repository:a:pull repository:b:pull"'
    )
    post = router.post("https://auth.example.com/token").respond(404)
    get = router.get("https://auth.example.com/token").respond(200, json={"token": "get-token"})
    router.get(f"{REG}/v2/a/manifests/latest").mock(side_effect=bearer_gate("get-token", challenge))
    client = make_client(credentials=identity_credentials())
    await client.get_manifest("a", "latest")
    assert post.call_count == 1 and get.call_count == 1
    assert parse_qs(post.calls.last.request.content.decode())["scope"] == [
        "repository:a:pull repository:b:pull"
    ]
    assert parse_qs(get.calls.last.request.url.query.decode())["scope"] == [
        "repository:a:pull",
        "repository:b:pull",
    ]
    assert client.metrics.token_fetches == 2


async def test_static_token_sent_as_is(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    challenge = 'Bearer realm="https://auth.example.com/token",service="reg"'
    token_route = router.get("https://auth.example.com/token").respond(200, json={"token": "x"})
    route = router.get(f"{REG}/v2/app/manifests/latest").mock(
        side_effect=bearer_gate("my-static-token", challenge)
    )
    client = make_client(Token="my-static-token")
    await client.get_manifest("app", "latest")
    assert route.call_count == 1 and token_route.call_count == 0
    assert client.credentials.source == "config:Token"


# -- transport security of the realm and of redirects -----------------------------------------------
async def test_plain_http_realm_for_https_registry_is_refused(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/").respond(
        401, headers={"WWW-Authenticate": 'Bearer realm="http://auth.example.com/token"'}
    )
    token_route = router.get("http://auth.example.com/token").respond(200, json={"token": "t-insecure"})
    with pytest.raises(InsecureTransportRefused, match="plain http"):
        await make_client(Username="u", Password="pw-secret-1").ping()
    assert token_route.call_count == 0


async def test_plain_http_realm_allowed_when_insecure(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/").mock(
        side_effect=lambda request: (
            httpx.Response(200)
            if request.headers.get("authorization") == "Bearer t-insecure"
            else httpx.Response(
                401, headers={"WWW-Authenticate": 'Bearer realm="http://auth.example.com/token"'}
            )
        )
    )
    router.get("http://auth.example.com/token").respond(200, json={"token": "t-insecure"})
    result = await make_client(Insecure=True).ping()
    assert result.status == 200 and result.authenticated


async def test_relative_realm_is_resolved_against_the_registry(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/").mock(
        side_effect=lambda request: (
            httpx.Response(200)
            if request.headers.get("authorization") == "Bearer rel-token"
            else httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="/auth/token",service="reg"'})
        )
    )
    token_route = router.get(f"{REG}/auth/token").respond(200, json={"access_token": "rel-token"})
    assert (await make_client().ping()).authenticated
    assert token_route.call_count == 1


async def test_redirect_to_another_host_drops_authorization(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    blob = f"{REG}/v2/app/blobs/sha256:{'0' * 64}"
    storage = "https://storage.example.net/blob?X-Amz-Signature=abc"
    registry_route = router.get(blob).respond(307, headers={"Location": storage})
    storage_route = router.get("https://storage.example.net/blob").respond(200, content=b"blob-bytes")
    client = make_client(Token="static-token-redirect")
    response = await client.request("GET", f"/v2/app/blobs/sha256:{'0' * 64}")
    assert response.status_code == 200 and response.content == b"blob-bytes"
    assert registry_route.calls.last.request.headers["authorization"] == "Bearer static-token-redirect"
    assert "authorization" not in storage_route.calls.last.request.headers
    assert [r.status_code for r in response.history] == [307]


async def test_same_host_redirect_keeps_authorization_and_loop_is_an_error(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/a").respond(302, headers={"Location": "/v2/b"})
    target = router.get(f"{REG}/v2/b").respond(200)
    client = make_client(Token="static-token-same")
    await client.request("GET", "/v2/a")
    assert target.calls.last.request.headers["authorization"] == "Bearer static-token-same"
    router.get(f"{REG}/v2/loop").respond(302, headers={"Location": "/v2/loop"})
    with pytest.raises(ProtocolError, match="redirects"):
        await client.request("GET", "/v2/loop")


async def test_absolute_url_on_another_host_gets_no_credentials(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    other = router.put("https://upload.example.net/session").respond(201)
    await make_client(Token="static-token-upload").request(
        "PUT", "https://upload.example.net/session", content=b"x"
    )
    assert "authorization" not in other.calls.last.request.headers


# -- retries and rate limits --------------------------------------------------------------------------
async def test_docker_hub_429_with_retry_after(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient], fake_sleep: FakeSleep
) -> None:
    route = router.get(f"{REG}/v2/app/manifests/latest").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}, json=errors_body("TOOMANYREQUESTS")),
            manifest_response(),
        ]
    )
    await make_client().get_manifest("app", "latest")
    assert route.call_count == 2 and fake_sleep.delays == [2.0]


async def test_docker_hub_429_without_retry_after_backs_off_then_gives_up(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient], fake_sleep: FakeSleep
) -> None:
    route = router.get(f"{REG}/v2/app/manifests/latest").respond(
        429, json=errors_body("TOOMANYREQUESTS", "You have reached your pull rate limit.")
    )
    with pytest.raises(RateLimited, match="rate limited") as info:
        await make_client().get_manifest("app", "latest")
    assert route.call_count == 3 and fake_sleep.delays == [0.5, 1.0]
    assert info.value.retry_after is None and info.value.code == "TOOMANYREQUESTS"


async def test_retry_after_beyond_cap_is_not_slept(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient], fake_sleep: FakeSleep
) -> None:
    route = router.get(f"{REG}/v2/x").respond(429, headers={"Retry-After": "3600"})
    client = make_client()
    response = await client.request("GET", "/v2/x")
    error = client.error_for(response)
    assert isinstance(error, RateLimited) and error.retry_after == 3600
    assert route.call_count == 1 and fake_sleep.delays == []


async def test_retry_after_http_date(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient], fake_sleep: FakeSleep
) -> None:
    router.get(f"{REG}/v2/x").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            httpx.Response(200),
        ]
    )
    response = await make_client().request("GET", "/v2/x")
    assert response.status_code == 200 and fake_sleep.delays == [0.0], "a date in the past means retry now"


async def test_post_is_not_retried_after_it_was_sent(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient], fake_sleep: FakeSleep
) -> None:
    route = router.post(f"{REG}/v2/app/blobs/uploads/").respond(503)
    response = await make_client().request("POST", "/v2/app/blobs/uploads/")
    assert response.status_code == 503 and route.call_count == 1 and fake_sleep.delays == []
    reset = router.post(f"{REG}/v2/b/blobs/uploads/").mock(
        side_effect=httpx.RemoteProtocolError("Server disconnected")
    )
    with pytest.raises(ConnectError) as info:
        await make_client().request("POST", "/v2/b/blobs/uploads/")
    assert info.value.reason == "reset" and reset.call_count == 1


async def test_post_retried_when_the_connection_failed_before_sending(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    route = router.post(f"{REG}/v2/app/blobs/uploads/").mock(
        side_effect=[httpx.ConnectError("[Errno 104] Connection reset by peer"), httpx.Response(202)]
    )
    response = await make_client().request("POST", "/v2/app/blobs/uploads/")
    assert response.status_code == 202 and route.call_count == 2


async def test_get_retried_on_connection_reset(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    route = router.get(f"{REG}/v2/x").mock(
        side_effect=[httpx.ReadError("reset"), httpx.Response(502), httpx.Response(200)]
    )
    assert (await make_client().request("GET", "/v2/x")).status_code == 200
    assert route.call_count == 3


async def test_rate_limit_headers(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.head(f"{REG}/v2/library/alpine/manifests/latest").respond(
        200,
        headers={
            "ratelimit-limit": "100;w=21600",
            "ratelimit-remaining": "76;w=21600",
            "docker-ratelimit-source": "203.0.113.9",
            "Docker-Content-Digest": MANIFEST_DIGEST,
        },
    )
    client = make_client()
    assert client.rate_limit is None
    await client.head_manifest("library/alpine", "latest")
    assert client.rate_limit is not None
    assert (client.rate_limit.limit, client.rate_limit.remaining, client.rate_limit.window_s) == (
        100,
        76,
        21600,
    )
    assert client.rate_limit.source == "203.0.113.9"


# -- body cap -------------------------------------------------------------------------------------
async def test_declared_body_over_cap(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/big").respond(200, content=b"x" * 5000)
    with pytest.raises(ResponseTooLarge) as info:
        await make_client(max_body_bytes=1000).request("GET", "/v2/big")
    assert info.value.limit == 1000


async def test_streamed_body_over_cap_stops_reading(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    produced: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for index in range(10_000):
            produced.append(index)
            yield b"y" * 1024

    router.get(f"{REG}/v2/stream").mock(side_effect=lambda request: httpx.Response(200, content=endless()))
    client = make_client()
    with pytest.raises(ResponseTooLarge):
        await client.request("GET", "/v2/stream", max_body_bytes=8 * 1024)
    assert len(produced) < 20, "reading stopped near the cap"
    small = router.get(f"{REG}/v2/small").respond(200, content=b"ok")
    assert (await client.request("GET", "/v2/small")).content == b"ok" and small.called


# -- error mapping --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "error_type", "code"),
    [
        (404, errors_body("NAME_UNKNOWN", "repository name not known to registry"), NotFound, "NAME_UNKNOWN"),
        (404, errors_body("MANIFEST_UNKNOWN"), NotFound, "MANIFEST_UNKNOWN"),
        (
            403,
            errors_body("DENIED", "requested access to the resource is denied"),
            PermissionDenied,
            "DENIED",
        ),
        (405, errors_body("UNSUPPORTED"), Unsupported, "UNSUPPORTED"),
        (400, errors_body("UNSUPPORTED"), Unsupported, "UNSUPPORTED"),
        (400, errors_body("MANIFEST_INVALID"), RegistryError, "MANIFEST_INVALID"),
        (500, "<html>oops</html>", RegistryError, None),
        (404, "404 page not found", NotFound, None),
    ],
)
async def test_error_mapping(
    router: respx.MockRouter,
    make_client: Callable[..., RegistryClient],
    status: int,
    body: Any,
    error_type: type[RegistryError],
    code: str | None,
) -> None:
    content = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
    router.get(f"{REG}/v2/app/manifests/latest").respond(status, content=content)
    client = make_client()
    with pytest.raises(error_type) as info:
        await client.get_manifest("app", "latest")
    error = info.value
    assert type(error) is error_type and error.status == status and error.code == code
    assert error.request == f"GET {REG}/v2/app/manifests/latest"


async def test_403_with_credentials_says_credentials_valid(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/app/manifests/latest").respond(403, json=errors_body("DENIED"))
    with pytest.raises(PermissionDenied) as info:
        await make_client(Token="static-token-403").get_manifest("app", "latest")
    assert info.value.credentials_valid is True


async def test_insufficient_scope_for_valid_credentials_is_permission_denied(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    push_scope = "repository:app:pull,push"
    challenge = f'Bearer realm="https://auth.example.com/token",service="reg",scope="{push_scope}"'
    router.get("https://auth.example.com/token").respond(
        200, json={"token": "pull-only-token", "expires_in": 300}
    )
    router.post(f"{REG}/v2/app/blobs/uploads/").mock(
        side_effect=lambda request: httpx.Response(
            401,
            headers={
                "WWW-Authenticate": challenge
                + (',error="insufficient_scope"' if "authorization" in request.headers else "")
            },
        )
    )
    client = make_client(Username="reader", Password="reader-password")
    response = await client.request(
        "POST", "/v2/app/blobs/uploads/", scopes=[client.scope("app", "pull", "push")]
    )
    error = client.error_for(response)
    assert isinstance(error, PermissionDenied) and error.credentials_valid is True and error.status == 401


async def test_invalid_token_is_refetched_once(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    tokens: list[str] = []
    challenge = 'Bearer realm="https://auth.example.com/token",service="reg"'
    token_route = router.get("https://auth.example.com/token").mock(side_effect=token_server(tokens))
    calls = {"n": 0}

    def registry(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        auth = request.headers.get("authorization")
        if auth == "Bearer tok-2-abcdef":
            return httpx.Response(200)
        error = ',error="invalid_token"' if auth else ""
        return httpx.Response(401, headers={"WWW-Authenticate": challenge + error})

    router.get(f"{REG}/v2/").mock(side_effect=registry)
    client = make_client()
    first = await client.request("GET", "/v2/")
    assert first.status_code == 401 and token_route.call_count == 1
    second = await client.request("GET", "/v2/")
    assert second.status_code == 200 and token_route.call_count == 2


@pytest.mark.parametrize(
    ("exc", "error_type", "reason"),
    [
        (httpx.ConnectError("[Errno -2] Name or service not known"), ConnectError, "dns"),
        (httpx.ConnectError("[Errno 111] Connection refused"), ConnectError, "refused"),
        (httpx.ConnectTimeout("timed out"), RegistryTimeout, None),
        (httpx.ReadTimeout("timed out"), RegistryTimeout, None),
    ],
)
async def test_transport_error_mapping(
    router: respx.MockRouter,
    make_client: Callable[..., RegistryClient],
    exc: Exception,
    error_type: type[RegistryError],
    reason: str | None,
) -> None:
    route = router.get(f"{REG}/v2/").mock(side_effect=exc)
    with pytest.raises(error_type) as info:
        await make_client().ping()
    assert getattr(info.value, "reason", None) == reason
    assert route.call_count == 1, "DNS failures, refusals and timeouts are not retried"


async def test_tls_error_mapping(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error = httpx.ConnectError("certificate verify failed")
    error.__cause__ = cause

    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    router.get(f"{REG}/v2/").mock(side_effect=fail)
    with pytest.raises(TLSError) as info:
        await make_client().ping()
    assert "OCI__CaBundle" in info.value.hint and "--insecure" in str(info.value)
    assert "certificate verification failed" in str(info.value)


# -- manifests and tags ---------------------------------------------------------------------------------
async def test_manifest_digest_mismatch(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    wrong = "sha256:" + "1" * 64
    router.get(f"{REG}/v2/app/manifests/latest").mock(
        side_effect=lambda request: manifest_response(request, **{"Docker-Content-Digest": wrong})
    )
    client = make_client()
    with pytest.raises(ProtocolError, match="digest mismatch"):
        await client.get_manifest("app", "latest")
    router.get(f"{REG}/v2/app/manifests/{wrong}").mock(
        side_effect=lambda request: httpx.Response(200, content=MANIFEST)
    )
    with pytest.raises(ProtocolError, match="digest mismatch"):
        await client.get_manifest("app", wrong)


async def test_manifest_digest_computed_when_header_absent(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    route = router.get(f"{REG}/v2/app/manifests/v1").respond(
        200, content=MANIFEST, headers={"Content-Type": "application/json"}
    )
    manifest = await make_client().get_manifest("app", "v1")
    assert (
        manifest.digest == MANIFEST_DIGEST
        and manifest.media_type == OCI_MANIFEST
        and manifest.size == len(MANIFEST)
    )
    accept = route.calls.last.request.headers["accept"]
    assert all(
        kind in accept
        for kind in ("oci.image.manifest", "oci.image.index", "manifest.v2+json", "list.v2+json")
    )


async def test_list_tags_follows_links(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    def tags(request: httpx.Request) -> httpx.Response:
        last = request.url.params.get("last")
        if last is None:
            return httpx.Response(
                200,
                json={"name": "app", "tags": ["a", "b"]},
                headers={"Link": '</v2/app/tags/list?n=2&last=b>; rel="next"'},
            )
        return httpx.Response(200, json={"name": "app", "tags": ["c"]})

    router.get(f"{REG}/v2/app/tags/list").mock(side_effect=tags)
    router.get(f"{REG}/v2/empty/tags/list").respond(200, json={"name": "empty", "tags": None})
    client = make_client()
    assert await client.list_tags("app", page_size=2) == ["a", "b", "c"]
    assert await client.list_tags("empty") == []


async def test_list_tags_loop_and_foreign_link(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    router.get(f"{REG}/v2/loop/tags/list").respond(
        200, json={"tags": ["a"]}, headers={"Link": '</v2/loop/tags/list?n=1000>; rel="next"'}
    )
    router.get(f"{REG}/v2/evil/tags/list").respond(
        200, json={"tags": ["a"]}, headers={"Link": '<https://evil.example.com/x>; rel="next"'}
    )
    client = make_client()
    with pytest.raises(ProtocolError, match="loops"):
        await client.list_tags("loop")
    with pytest.raises(ProtocolError, match="another host"):
        await client.list_tags("evil")


async def test_metrics_by_label(router: respx.MockRouter, make_client: Callable[..., RegistryClient]) -> None:
    router.get(f"{REG}/v2/x").respond(200)
    client = make_client()
    with client.metrics.label("check.a"):
        await asyncio.gather(client.request("GET", "/v2/x"), client.request("GET", "/v2/x"))
    with client.metrics.label("check.b"):
        await client.request("GET", "/v2/x")
    await client.request("GET", "/v2/x")
    assert client.metrics.by_label == {"check.a": 2, "check.b": 1} and client.metrics.requests == 4


def test_scope_helper() -> None:
    assert RegistryClient.scope("a/b", "pull", "push") == "repository:a/b:pull,push"
    assert RegistryClient.scope("a") == "repository:a:pull"
    with pytest.raises(ValueError, match="unknown"):
        RegistryClient.scope("a", "steal")


async def test_bad_urls_are_protocol_errors(
    router: respx.MockRouter, make_client: Callable[..., RegistryClient]
) -> None:
    client = make_client()
    with pytest.raises(ProtocolError, match="unsupported URL scheme"):
        await client.request("GET", "ftp://r.example.com/x")
    with pytest.raises(ProtocolError, match="invalid request URL"):
        await client.request("GET", "https://r.example.com/\x00")
