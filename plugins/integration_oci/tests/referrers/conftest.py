"""Fixtures for the referrer-discovery tests: a respx-mocked registry, the OCI 1.1 test server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from doctor_oci.client import RegistryClient
from doctor_oci.settings import OciSettings
from referrers_helpers import MOCK_URL

from devtools.oci_server import OciTestServer
from devtools.registry_http import RegistryHttp


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """A respx router for ``https://registry.test`` answering ``/v2/`` with 200 (anonymous registry)."""
    mock = respx.MockRouter(base_url=MOCK_URL, assert_all_called=False, assert_all_mocked=True)
    mock.get("/v2/").respond(200, json={})
    yield mock


#: The tags discovery reads without listing (the referrers tag, cosign's .sig/.att/.sbom).
_DERIVED_TAG = re.compile(r"/manifests/sha(?:256|512)-[0-9a-f]+(?:\.(?:sig|att|sbom))?$")


@pytest.fixture
async def mock_client(router: respx.MockRouter) -> AsyncIterator[RegistryClient]:
    """A real :class:`RegistryClient` whose HTTP goes to ``router`` (no socket is opened).

    A tag derived from a digest that the test did not route (the referrers tag, a cosign tag)
    answers ``404 MANIFEST_UNKNOWN``, as a registry does for a tag nobody pushed; any other
    unrouted request still fails the test.
    """

    async def handler(request: httpx.Request) -> httpx.Response:
        try:
            return await router.async_handler(request)
        except respx.models.AllMockedAssertionError:
            if request.method in ("GET", "HEAD") and _DERIVED_TAG.search(request.url.path):
                unknown = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
                return httpx.Response(404, json=unknown)
            raise

    transport = httpx.MockTransport(handler)
    client = RegistryClient(OciSettings(RegistryUrl=MOCK_URL, TimeoutSeconds=5), transport=transport)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def oci_server() -> Iterator[Callable[..., OciTestServer]]:
    """``oci_server(page_size=None, apply_filter=True)``: a running OCI 1.1 test server (stopped after)."""
    started: list[OciTestServer] = []

    def start(**options: Any) -> OciTestServer:
        server = OciTestServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def pusher() -> Iterator[Callable[[str], RegistryHttp]]:
    """``pusher(url)``: an anonymous devtools HTTP client for pushing test content, closed after the test."""
    clients: list[RegistryHttp] = []

    def make(url: str) -> RegistryHttp:
        client = RegistryHttp(url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
