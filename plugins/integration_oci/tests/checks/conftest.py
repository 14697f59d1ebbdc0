"""Fixtures for the OCI check tests (helpers in :mod:`oci_checkkit`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
from doctor_oci.runtime import CLIENT_KEY
from oci_checkkit import LocalShared, Runner


@pytest.fixture
async def oci_checks() -> AsyncIterator[Callable[..., Runner]]:
    shared_all: list[LocalShared] = []

    def make(config: Mapping[str, Any], client: Any = None) -> Runner:
        shared = LocalShared()
        if client is not None:
            shared.seed(CLIENT_KEY, client)
        shared_all.append(shared)
        return Runner(config, shared)

    yield make
    for shared in shared_all:
        await shared.aclose()
