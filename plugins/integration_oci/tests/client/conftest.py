"""Fixtures for the OCI client tests: an isolated credentials environment and fast retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from doctor_oci.client import RetryPolicy
from doctor_oci.settings import OciSettings
from oci_client_fakes import FakeSleep

from doctor_core.redaction import forget_secrets


@pytest.fixture(autouse=True)
def isolated_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test reads the real ~/.docker/config.json or podman auth.json; HOME is a temp dir."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in (
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "DOCKER_AUTH_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield home
    forget_secrets()


@pytest.fixture
def settings() -> Callable[..., OciSettings]:
    """``settings(**keys)``: an ``OciSettings`` with a short timeout unless given."""

    def make(**keys: Any) -> OciSettings:
        keys.setdefault("TimeoutSeconds", 5)
        return OciSettings(**keys)

    return make


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def fast_retries(fake_sleep: FakeSleep) -> RetryPolicy:
    """Deterministic back-off (the jitter picks the ceiling) and no real sleeping."""
    return RetryPolicy(sleep=fake_sleep, jitter=lambda low, high: high)
