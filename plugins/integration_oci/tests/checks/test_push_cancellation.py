"""Interrupting the push check never leaves a live upload session (real registry, real cancellation)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from doctor_oci.client import RegistryClient
from doctor_oci.settings import OciSettings
from oci_checkkit import Runner

from devtools.registry import RunningRegistry
from devtools.storage import live_uploads
from doctor_core.models import Status


class GatedTransport(httpx.AsyncBaseTransport):
    """Real HTTP, plus events when an upload opens or is cancelled, and optional holds there.

    ``hold_post`` keeps the POST's answer back for a while after the registry opened the session:
    the window in which a naive check, cancelled, would never learn the session's Location.
    """

    def __init__(self, *, hold_post: float = 0.0, hold_delete: float = 0.0) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.hold_post = hold_post
        self.hold_delete = hold_delete
        self.opened = asyncio.Event()
        self.deleting = asyncio.Event()
        self.locations: list[str] = []
        self.deletes: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        uploads = "/blobs/uploads/" in request.url.path
        if uploads and request.method == "DELETE":
            self.deleting.set()
            await asyncio.sleep(self.hold_delete)
        response = await self.inner.handle_async_request(request)
        if uploads and request.method == "POST":
            if response.status_code == 202:
                self.locations.append(response.headers["location"])
            self.opened.set()
            await asyncio.sleep(self.hold_post)
        if uploads and request.method == "DELETE":
            self.deletes.append(response.status_code)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _assert_sessions_gone(registry: RunningRegistry, transport: GatedTransport) -> None:
    assert transport.locations, "the probe never opened a session"
    for location in transport.locations:
        assert registry.http().upload_status(location) == 404  # BLOB_UPLOAD_UNKNOWN
    assert live_uploads(registry.storage) == []


@pytest.fixture
def gated_runner(
    open_registry: RunningRegistry, unique_repo: str, oci_checks: Callable[..., Runner]
) -> Callable[[GatedTransport], Runner]:
    def make(transport: GatedTransport) -> Runner:
        config = open_registry.oci_config(TestRepository=unique_repo)
        client = RegistryClient(OciSettings.model_validate(config), transport=transport)
        return oci_checks(config, client=client)

    return make


async def test_cancelled_while_the_post_is_in_flight(
    open_registry: RunningRegistry, gated_runner: Callable[[GatedTransport], Runner]
) -> None:
    transport = GatedTransport(hold_post=0.3)
    task = asyncio.create_task(gated_runner(transport).run("push"))
    await asyncio.wait_for(transport.opened.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert transport.deletes == [204]
    _assert_sessions_gone(open_registry, transport)


async def test_cancelled_right_after_the_post_and_again_during_the_cleanup(
    open_registry: RunningRegistry, gated_runner: Callable[[GatedTransport], Runner]
) -> None:
    transport = GatedTransport(hold_delete=0.2)
    task = asyncio.create_task(gated_runner(transport).run("push"))
    await asyncio.wait_for(transport.opened.wait(), 10)
    task.cancel()
    await asyncio.wait_for(transport.deleting.wait(), 10)
    task.cancel()  # a second Ctrl-C while cleaning up: the DELETE still completes
    with pytest.raises(asyncio.CancelledError):
        await task
    assert transport.deletes == [204]
    _assert_sessions_gone(open_registry, transport)


async def test_engine_timeout_still_cancels(
    open_registry: RunningRegistry, gated_runner: Callable[[GatedTransport], Runner]
) -> None:
    transport = GatedTransport(hold_post=0.5)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await gated_runner(transport).run("push")
    _assert_sessions_gone(open_registry, transport)


async def test_uninterrupted_run_passes_with_the_gate(
    open_registry: RunningRegistry, gated_runner: Callable[[GatedTransport], Runner]
) -> None:
    transport = GatedTransport()
    outcome = await gated_runner(transport).run("push")
    assert outcome.status is Status.PASS
    _assert_sessions_gone(open_registry, transport)
