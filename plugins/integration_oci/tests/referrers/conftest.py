"""Fixtures for the referrer-discovery tests: a respx-mocked registry, the OCI 1.1 test server."""

from __future__ import annotations

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


@pytest.fixture
async def mock_client(router: respx.MockRouter) -> AsyncIterator[RegistryClient]:
    """A real :class:`RegistryClient` whose HTTP goes to ``router`` (no socket is opened)."""
    transport = httpx.MockTransport(router.async_handler)
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
