"""RegistryClient against Debian's real docker-registry (distribution 2.8): open, htpasswd+TLS, token auth."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from doctor_oci.client import (
    AuthenticationError,
    NotFound,
    PermissionDenied,
    RegistryClient,
    RetryPolicy,
    TLSError,
)
from doctor_oci.settings import OciSettings

from devtools.images import PushedImage
from devtools.registry import RunningRegistry


def client_for(registry: RunningRegistry, **overrides: Any) -> RegistryClient:
    config = registry.oci_config(**overrides)
    config.setdefault("TimeoutSeconds", 5)
    return RegistryClient(OciSettings(**config), retry_policy=RetryPolicy(base_delay=0.01))


async def test_open_registry_ping_manifest_tags(
    open_registry: RunningRegistry, test_image: PushedImage
) -> None:
    async with client_for(open_registry, TestRepository=test_image.repository) as client:
        ping = await client.ping()
        assert (ping.status, ping.authenticated, ping.auth_scheme, ping.error) == (200, False, None, None)
        assert ping.api_version == "registry/2.0"
        manifest = await client.get_manifest(test_image.repository, "latest")
        assert manifest.digest == test_image.digest and manifest.raw == test_image.manifest
        assert manifest.media_type == test_image.media_type
        by_digest = await client.get_manifest(test_image.repository, test_image.digest)
        assert by_digest.digest == test_image.digest
        head = await client.head_manifest(test_image.repository, "latest")
        assert head.status_code == 200 and head.headers["docker-content-digest"] == test_image.digest
        assert await client.list_tags(test_image.repository) == ["latest"]
        with pytest.raises(NotFound) as info:
            await client.get_manifest(test_image.repository, "no-such-tag")
        assert info.value.code == "MANIFEST_UNKNOWN"


async def test_tls_basic_auth_with_ca_bundle(
    tls_registry: RunningRegistry, push_test_image: Callable[..., PushedImage], unique_repo: str
) -> None:
    image = push_test_image(tls_registry, unique_repo)
    async with client_for(tls_registry) as client:
        assert client.base_url.startswith("https://")
        ping = await client.ping()
        assert (ping.status, ping.authenticated, ping.auth_scheme) == (200, True, "basic")
        assert ping.challenge is not None and ping.challenge.lower().startswith("basic")
        manifest = await client.get_manifest(unique_repo, "latest")
        assert manifest.digest == image.digest
        assert client.credentials.source == "config"


async def test_tls_failure_without_ca_bundle(tls_registry: RunningRegistry) -> None:
    async with client_for(tls_registry, CaBundle=None) as client:
        with pytest.raises(TLSError) as info:
            await client.ping()
    assert "OCI__CaBundle" in str(info.value)


async def test_tls_insecure_skips_verification(tls_registry: RunningRegistry) -> None:
    async with client_for(tls_registry, CaBundle=None, Insecure=True) as client:
        assert (await client.ping()).authenticated


async def test_tls_wrong_password(tls_registry: RunningRegistry) -> None:
    async with client_for(tls_registry, Password="definitely-wrong-password") as client:
        ping = await client.ping()
        assert ping.status == 401 and not ping.authenticated
        assert isinstance(ping.error, AuthenticationError) and "rejected" in str(ping.error)
        with pytest.raises(AuthenticationError):
            await client.get_manifest("any/repo", "latest")


async def test_token_exchange_one_fetch_per_scope_set(
    token_registry: RunningRegistry, push_test_image: Callable[..., PushedImage], unique_repo: str
) -> None:
    image = push_test_image(token_registry, unique_repo)
    assert token_registry.token_server is not None
    token_registry.token_server.clear_requests()
    async with client_for(token_registry) as client:
        ping = await client.ping()
        assert (ping.status, ping.authenticated, ping.auth_scheme) == (200, True, "bearer")
        manifests = await asyncio.gather(*(client.get_manifest(unique_repo, "latest") for _ in range(12)))
        assert {m.digest for m in manifests} == {image.digest}
        await asyncio.gather(*(client.head_manifest(unique_repo, "latest") for _ in range(5)))
        assert await client.list_tags(unique_repo) == ["latest"]
        requests = token_registry.token_server.requests
        per_scope_set = Counter(frozenset(request.scopes) for request in requests)
        assert per_scope_set == {frozenset(): 1, frozenset({f"repository:{unique_repo}:pull"}): 1}
        assert all(request.user == "admin" for request in requests)
        assert client.metrics.token_fetches == 2


async def test_reader_push_is_permission_denied_with_valid_credentials(
    token_registry: RunningRegistry, unique_repo: str
) -> None:
    user, password = token_registry.credentials("reader")
    async with client_for(token_registry, Username=user, Password=password) as client:
        assert (await client.ping()).authenticated
        response = await client.request(
            "POST", f"/v2/{unique_repo}/blobs/uploads/", scopes=[client.scope(unique_repo, "pull", "push")]
        )
        assert response.status_code == 401
        error = client.error_for(response)
        assert isinstance(error, PermissionDenied) and error.credentials_valid is True


async def test_token_registry_wrong_password(token_registry: RunningRegistry) -> None:
    async with client_for(token_registry, Password="wrong-password-123") as client:
        ping = await client.ping()
        assert ping.status == 401
        assert isinstance(ping.error, AuthenticationError) and "token service" in str(ping.error)


class _ImportRecorder:
    """A ``sys.meta_path`` finder that records every module lookup reaching the import system."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        self.names.append(name)
        return None


async def test_requests_do_not_go_through_the_import_system(
    open_registry: RunningRegistry, test_image: PushedImage
) -> None:
    """Once a client has sent a request, further requests import nothing.

    A lookup that reaches ``sys.meta_path`` is a module that is not in ``sys.modules``: imported
    for the first time (CPU on the event loop, in the middle of a run) or, worse, missing and
    searched for on every request -- as httpcore does for ``sniffio`` when it is not installed.
    """
    import sys

    recorder = _ImportRecorder()
    async with client_for(open_registry, TestRepository=test_image.repository) as client:
        await client.ping()
        await client.head_manifest(test_image.repository, "latest")
        sys.meta_path.insert(0, recorder)
        try:
            await asyncio.gather(
                *(client.head_manifest(test_image.repository, "latest") for _ in range(4)),
                client.get_manifest(test_image.repository, test_image.digest),
            )
        finally:
            sys.meta_path.remove(recorder)
    assert recorder.names == []
