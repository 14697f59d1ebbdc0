"""Shared pytest fixtures: real Debian ``docker-registry`` instances and test content.

Registries are session-scoped and start lazily, only when a test asks for one, and stop at the end
of the session. Tests using them are marked ``registry`` automatically. Without the
``docker-registry`` program the tests are skipped with the reason -- or fail when ``CI`` is set,
so CI cannot go green by skipping the integration tests.

Fixtures:

* ``open_registry`` -- plain http, no auth, delete enabled.
* ``tls_registry`` -- htpasswd Basic auth over TLS (``ca_bundle``), users ``admin`` and ``reader``.
* ``token_registry`` -- token auth; ``admin`` may do everything, ``reader`` only pull.
* ``nodelete_registry`` -- like ``open_registry`` with ``storage.delete.enabled: false``.
* ``registry_factory`` -- start a custom registry for one test (stopped after it).
* ``referrers_registry`` / ``referrers_token_registry`` -- a real registry *with* the OCI 1.1
  referrers API (oras-project/distribution, :mod:`devtools.referrers_registry`), open and token
  auth; skipped with the reason when it can be neither found nor built (``CI`` set: failed).
* ``unique_repo`` -- a fresh, valid repository name per test: ``test/<test-name>-<n>``.
* ``test_image`` -- a tiny OCI image pushed to ``open_registry`` as ``<unique_repo>:latest``.
* ``push_test_image`` -- push a tiny image to any registry fixture.

The helpers never import the product (``doctor_oci``): see ``devtools/``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.images import PushedImage, push_image
from devtools.naming import repository_name
from devtools.referrers_registry import ReferrersRegistryUnavailable, find_referrers_registry
from devtools.registry import (
    Mode,
    RegistryBinaryMissing,
    RunningRegistry,
    find_registry_binary,
    start_registry,
)

REGISTRY_FIXTURES = frozenset(
    {
        "registry_binary",
        "open_registry",
        "tls_registry",
        "token_registry",
        "nodelete_registry",
        "registry_factory",
        "test_image",
        "push_test_image",
        "referrers_registry_binary",
        "referrers_registry",
        "referrers_token_registry",
    }
)
_repo_counter = itertools.count(1)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a registry fixture (directly or through another fixture) ``registry``."""
    for item in items:
        if REGISTRY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.registry)


@pytest.fixture(scope="session")
def registry_binary() -> Path:
    """Path of ``docker-registry``; skip (or, with ``CI`` set, fail) when it is not installed."""
    try:
        return find_registry_binary()
    except RegistryBinaryMissing as exc:
        if _in_ci():
            pytest.fail(f"{exc} (CI is set: registry tests must not be skipped)", pytrace=False)
        pytest.skip(str(exc))


def _tmpfs_dir() -> Path | None:
    """``/dev/shm`` when usable: registry storage there makes pushes ~2x and snapshots faster."""
    if os.environ.get("DOCTOR_TEST_NO_TMPFS"):
        return None
    shm = Path("/dev/shm")  # noqa: S108 - only a parent for mkdtemp (private 0700 directory)
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


@pytest.fixture(scope="session")
def registry_workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Session directory holding every registry's config, storage, certificates and log.

    On tmpfs (``/dev/shm``) when available -- removed at session end -- else under pytest's
    temporary directory (kept for inspection). ``DOCTOR_TEST_NO_TMPFS=1`` forces the latter.
    """
    shm = _tmpfs_dir()
    if shm is None:
        yield tmp_path_factory.mktemp("registries")
        return
    workdir = Path(tempfile.mkdtemp(prefix="doctor-registries-", dir=shm))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _session_registry(workdir: Path, mode: Mode, **options: Any) -> Iterator[RunningRegistry]:
    registry = start_registry(mode, workdir=workdir, **options)
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def open_registry(registry_binary: Path, registry_workdir: Path) -> Iterator[RunningRegistry]:
    yield from _session_registry(registry_workdir, "open")


@pytest.fixture(scope="session")
def tls_registry(registry_binary: Path, registry_workdir: Path) -> Iterator[RunningRegistry]:
    yield from _session_registry(registry_workdir, "htpasswd-tls")


@pytest.fixture(scope="session")
def token_registry(registry_binary: Path, registry_workdir: Path) -> Iterator[RunningRegistry]:
    yield from _session_registry(registry_workdir, "token")


@pytest.fixture(scope="session")
def nodelete_registry(registry_binary: Path, registry_workdir: Path) -> Iterator[RunningRegistry]:
    yield from _session_registry(registry_workdir, "open", delete_enabled=False)


@pytest.fixture(scope="session")
def referrers_registry_binary() -> Path:
    """The referrers-API registry program (``$DOCTOR_TEST_REFERRERS_REGISTRY``, the cached build,
    or built now); skip (with ``CI`` set: fail) when neither Go nor the source is available."""
    try:
        return find_referrers_registry()
    except ReferrersRegistryUnavailable as exc:
        if _in_ci():
            pytest.fail(f"{exc} (CI is set: referrers registry tests must not be skipped)", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def referrers_registry(referrers_registry_binary: Path, registry_workdir: Path) -> Iterator[RunningRegistry]:
    """oras-project/distribution, plain http, no auth, delete enabled (pages of 10, ``n`` <= 100)."""
    yield from _session_registry(registry_workdir, "open", binary=referrers_registry_binary)


@pytest.fixture(scope="session")
def referrers_token_registry(
    referrers_registry_binary: Path, registry_workdir: Path
) -> Iterator[RunningRegistry]:
    """oras-project/distribution with token auth (``admin`` everything, ``reader`` pull only)."""
    yield from _session_registry(registry_workdir, "token", binary=referrers_registry_binary)


@pytest.fixture
def registry_factory(
    registry_binary: Path, registry_workdir: Path
) -> Iterator[Callable[..., RunningRegistry]]:
    """``registry_factory(mode, **start_registry_options)``: a registry for this test only."""
    started: list[RunningRegistry] = []

    def start(mode: Mode, **options: Any) -> RunningRegistry:
        registry = start_registry(mode, workdir=registry_workdir, **options)
        started.append(registry)
        return registry

    yield start
    for registry in started:
        registry.stop()
        shutil.rmtree(registry.workdir, ignore_errors=True)


@pytest.fixture
def unique_repo(request: pytest.FixtureRequest) -> str:
    """A repository name no other test uses (distinct also across parametrizations)."""
    return repository_name(request.node.name, next(_repo_counter))


@pytest.fixture
def push_test_image() -> Callable[..., PushedImage]:
    """``push_test_image(registry, repository, tag="latest", oci=True)`` with plain httpx, as admin."""

    def push(
        registry: RunningRegistry, repository: str, tag: str | None = "latest", *, oci: bool = True
    ) -> PushedImage:
        return push_image(registry, repository, tag, oci=oci)

    return push


@pytest.fixture
def test_image(open_registry: RunningRegistry, unique_repo: str) -> PushedImage:
    """A tiny OCI image at ``<unique_repo>:latest`` on ``open_registry``."""
    return push_image(open_registry, unique_repo, "latest")
