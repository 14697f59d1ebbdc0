"""Fixtures of the reliability suite: one dedicated registry, the proxy pool, and the matrix table.

The suite owns a registry of its own (``reliability_registry``) instead of the shared session
registries: the "no data left behind" test compares that registry's storage before and after
everything the suite did to it, which would be meaningless if other tests pushed to it meanwhile.
That test (``test_storage_residue.py``) is moved to the end of the session here.

At the end of the session the fault matrix's summary table is printed (cells passed / total).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.images import push_image
from devtools.registry import start_registry
from devtools.storage import live_uploads, snapshot
from tests.reliability.fault_proxy import ProxyPool
from tests.reliability.matrix_table import MATRIX_OUTCOMES, render_table
from tests.reliability.support import SUBJECT_REPO, SUBJECT_TAG, ReliabilityRegistry

_LAST_FILES = ("test_storage_residue.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the storage residue test after every other test of the session."""
    last = [item for item in items if item.path.name in _LAST_FILES]
    if last:
        rest = [item for item in items if item.path.name not in _LAST_FILES]
        items[:] = rest + last


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    callspec = getattr(item, "callspec", None)
    if report.when == "call" and callspec is not None and "cell" in callspec.params:
        cell = callspec.params["cell"]
        outcome = "xfail" if hasattr(report, "wasxfail") and report.skipped else report.outcome
        if hasattr(report, "wasxfail") and report.passed:
            outcome = "xpass"
        MATRIX_OUTCOMES[(cell.fault.value, cell.target)] = outcome
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MATRIX_OUTCOMES:
        terminalreporter.write_sep("=", "fault matrix")
        for line in render_table(MATRIX_OUTCOMES):
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def reliability_registry(
    registry_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReliabilityRegistry]:
    """An open registry (delete enabled) holding ``reliability/subject:latest``, snapshot taken."""
    registry = start_registry("open", workdir=tmp_path_factory.mktemp("reliability-registry"))
    try:
        image = push_image(registry, SUBJECT_REPO, SUBJECT_TAG)
        yield ReliabilityRegistry(
            registry=registry,
            image=image,
            before=snapshot(registry.storage),
            uploads_before=frozenset(live_uploads(registry.storage)),
        )
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def proxy_pool(reliability_registry: ReliabilityRegistry) -> Iterator[ProxyPool]:
    """Proxies (and one foreign host) on one background loop, stopped at the end of the session."""
    with ProxyPool() as pool:
        reliability_registry.pools.append(pool)
        yield pool


@pytest.fixture(scope="session")
def run_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty HOME for doctor subprocesses (no real docker config is ever read)."""
    return tmp_path_factory.mktemp("home")
