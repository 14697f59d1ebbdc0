"""Fixtures for every OCI plugin test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_cosign_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    """cosign's ``COSIGN_REPOSITORY`` from the developer's shell or CI must not move the cosign-tag
    lookups of the command and the referrers check (they read the process environment, as cosign
    does); tests that want it set it themselves."""
    monkeypatch.delenv("COSIGN_REPOSITORY", raising=False)
