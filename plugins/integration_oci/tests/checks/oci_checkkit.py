"""Helpers to run the OCI check functions directly, the way the engine does, with one shared client per test.

``oci_checks(config, client=None)`` returns a :class:`Runner` whose ``await runner.run("push")``
builds a :class:`~doctor_core.types.CheckContext` for that check (validated ``OciSettings``, the
plugin's real definition) and awaits the check's ``run``. All checks of one runner share one
:class:`LocalShared` -- hence one client, as in a real run -- and it is closed after the test.
A ``client`` given up front (e.g. with a wrapped transport) is the one the checks get.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from doctor_oci.plugin import DEFINITIONS, RUNNERS
from doctor_oci.settings import OciSettings

from doctor_core.models import CheckOutcome
from doctor_core.redaction import register_secret
from doctor_core.types import CheckContext

T = TypeVar("T")
_BY_NAME = {definition.check_id.rsplit(".", 1)[1]: definition for definition in DEFINITIONS}


class LocalShared:
    """A minimal ``SharedResources``: create once per key, close in reverse order."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def seed(self, key: str, value: Any) -> None:
        self._items[key] = value

    async def get(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._items:
                self._items[key] = await factory()
        return self._items[key]  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        for value in reversed(list(self._items.values())):
            closer = getattr(value, "aclose", None)
            if closer is not None:
                await closer()
        self._items.clear()


class Runner:
    """Runs checks by short name (``credentials``, ``pull``, ``push``, ``referrers``, ``capabilities``)."""

    def __init__(self, config: Mapping[str, Any], shared: LocalShared) -> None:
        self.settings = OciSettings.model_validate(dict(config))
        self.shared = shared

    def context(self, name: str) -> CheckContext:
        definition = _BY_NAME[name]
        return CheckContext(
            definition=definition,
            config=self.settings,
            shared=self.shared,
            log=logging.getLogger(definition.check_id),
            secrets=register_secret,
            timeout_s=30.0,
        )

    def function(self, name: str) -> Callable[[CheckContext], Awaitable[CheckOutcome]]:
        module_name, _, attr = RUNNERS[_BY_NAME[name].check_id].partition(":")
        return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]

    async def run(self, name: str) -> CheckOutcome:
        return await self.function(name)(self.context(name))

    async def client(self) -> Any:
        from doctor_oci.runtime import registry_client

        return await registry_client(self.context("credentials"))
