"""Round trips at their floor against the real registry: one ``/v2/`` challenge per origin, one token
fetch for the scopes needed together, Basic credentials sent before the 401 once Basic is known.

Requests are counted on a real ``httpx`` transport (what went over the socket, with the status
that came back) and at devtools' token server; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import httpx
from doctor_oci.client import RegistryClient, RetryPolicy
from doctor_oci.client.errors import PermissionDenied
from doctor_oci.settings import OciSettings

from devtools.images import PushedImage
from devtools.registry import RunningRegistry


class CountingTransport(httpx.AsyncHTTPTransport):
    """A real transport that records ``(method, path, status, sent Authorization scheme)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[tuple[str, str, int, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        header = request.headers.get("authorization")
        scheme = header.split(" ", 1)[0].lower() if header else None
        self.seen.append((request.method, request.url.path, response.status_code, scheme))
        return response

    def challenges(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, status, _ in self.seen if status == 401]


def counted_client(registry: RunningRegistry, **overrides: Any) -> tuple[RegistryClient, CountingTransport]:
    config = registry.oci_config(**overrides)
    config.setdefault("TimeoutSeconds", 5)
    verify: ssl.SSLContext | bool = True
    if registry.ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(registry.ca_bundle))
    transport = CountingTransport(verify=verify)
    client = RegistryClient(
        OciSettings(**config), transport=transport, retry_policy=RetryPolicy(base_delay=0.01)
    )
    return client, transport


async def _first_requests(client: RegistryClient, repo: str) -> list[Any]:
    """What the five checks send first, all at once, once discovery has started (as each check does).

    ``[ping status, HEAD, POST upload, GET tags, DELETE]``: the ping as its final status, the rest
    as responses."""
    client.start_discovery()
    client.start_discovery()  # idempotent: one GET /v2/ per client

    async def ping() -> httpx.Response:
        result = await client.ping()
        return httpx.Response(result.status)

    responses = list(
        await asyncio.gather(
            ping(),
            client.head_manifest(repo, "latest"),
            client.request("POST", f"/v2/{repo}/blobs/uploads/", scopes=[client.scope(repo, "pull", "push")]),
            client.request("GET", f"/v2/{repo}/tags/list", scopes=[client.scope(repo, "pull")]),
            client.request(
                "DELETE", f"/v2/{repo}/manifests/sha256:{'0' * 64}", scopes=[client.scope(repo, "delete")]
            ),
        )
    )
    upload = responses[2]
    if upload.status_code == 202:  # cancel the session: the registry is shared with other tests
        cancelled = await client.request(
            "DELETE", upload.headers["location"], scopes=[client.scope(repo, "pull", "push")]
        )
        assert cancelled.status_code == 204
    return responses


async def test_token_registry_one_challenge_and_one_token_for_concurrent_first_requests(
    token_registry: RunningRegistry, push_test_image: Callable[..., PushedImage], unique_repo: str
) -> None:
    push_test_image(token_registry, unique_repo)
    assert token_registry.token_server is not None
    token_registry.token_server.clear_requests()
    client, transport = counted_client(token_registry)
    async with client:
        responses = await _first_requests(client, unique_repo)
        statuses = [r.status_code for r in responses]
        assert statuses[:4] == [200, 200, 202, 200], statuses
        assert statuses[4] in (404, 405), statuses  # the made-up manifest: authorized, not there
        assert transport.challenges() == [("GET", "/v2/")]
        requests = token_registry.token_server.requests
        assert len(requests) == 1, requests
        assert set(requests[0].scopes) == {f"repository:{unique_repo}:pull,push,delete"}
        assert client.metrics.token_fetches == 1
        # Later requests reuse the token: no new challenge, no new fetch.
        assert (await client.head_manifest(unique_repo, "latest")).status_code == 200
        assert len(transport.challenges()) == 1 and len(token_registry.token_server.requests) == 1


async def test_union_token_grants_only_what_the_user_may(
    token_registry: RunningRegistry, push_test_image: Callable[..., PushedImage], unique_repo: str
) -> None:
    """A pull-only user: the shared token still pulls, and the push is refused as before."""
    push_test_image(token_registry, unique_repo)
    user, password = token_registry.credentials("reader")
    client, _ = counted_client(token_registry, Username=user, Password=password)
    async with client:
        responses = await _first_requests(client, unique_repo)
        assert [r.status_code for r in responses][:2] == [200, 200]
        push = responses[2]
        assert push.status_code == 401
        error = client.error_for(push)
        assert type(error) is PermissionDenied and error.credentials_valid is True


async def test_basic_registry_sends_credentials_before_the_401_once_basic_is_known(
    tls_registry: RunningRegistry, push_test_image: Callable[..., PushedImage], unique_repo: str
) -> None:
    push_test_image(tls_registry, unique_repo)
    client, transport = counted_client(tls_registry)
    async with client:
        responses = await _first_requests(client, unique_repo)
        assert [r.status_code for r in responses][:4] == [200, 200, 202, 200]
        # One challenge (the discovery); every other request carried Basic from its first try.
        assert transport.challenges() == [("GET", "/v2/")]
        after = [entry for entry in transport.seen if entry[1] != "/v2/" or entry[3] is not None]
        assert after and all(scheme == "basic" for *_, scheme in after), transport.seen
        assert client.auth_scheme == "basic"


async def test_basic_credentials_never_go_to_another_origin(
    tls_registry: RunningRegistry, open_registry: RunningRegistry
) -> None:
    """Known Basic for the registry's origin is not sent to another origin (a plain-http one here)."""
    client, transport = counted_client(tls_registry)
    async with client:
        client.start_discovery()
        assert (await client.ping()).authenticated
        other = f"{open_registry.url}/v2/"
        response = await client.request("GET", other)
        assert response.status_code == 200
        assert "authorization" not in response.request.headers
        assert transport.seen[-1][3] is None


async def test_rejected_credentials_cost_one_token_request_per_run(
    token_registry: RunningRegistry, unique_repo: str
) -> None:
    """A wrong password is wrong for every scope set: one refused fetch, not one per scope set."""
    assert token_registry.token_server is not None
    token_registry.token_server.clear_requests()
    client, _ = counted_client(token_registry, Password="wrong-password-123")
    async with client:
        client.start_discovery()
        responses = await asyncio.gather(
            client.head_manifest(unique_repo, "latest"),
            client.request(
                "POST", f"/v2/{unique_repo}/blobs/uploads/", scopes=[client.scope(unique_repo, "push")]
            ),
            client.request("GET", f"/v2/{unique_repo}/tags/list", scopes=[client.scope(unique_repo, "pull")]),
        )
        later = await client.request(
            "DELETE",
            f"/v2/{unique_repo}/manifests/sha256:{'0' * 64}",
            scopes=[client.scope(unique_repo, "delete")],
        )
        for response in (*responses, later):
            assert response.status_code == 401
            error = client.error_for(response)
            assert type(error).__name__ == "AuthenticationError" and "rejected" in str(error), error
        assert len(token_registry.token_server.requests) == 1, token_registry.token_server.requests
        ping = await client.ping()
        assert ping.status == 401 and "rejected" in str(ping.error)
        assert len(token_registry.token_server.requests) == 1
