"""Shared objects of the reliability suite (kept out of ``conftest.py`` so tests can import them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devtools.images import PushedImage
from devtools.registry import RunningRegistry
from tests.reliability.fault_proxy import ProxyPool

SUBJECT_REPO = "reliability/subject"
SUBJECT_TAG = "latest"


@dataclass
class ReliabilityRegistry:
    """The suite's registry, its test image, and the storage state before the suite touched it."""

    registry: RunningRegistry
    image: PushedImage
    before: dict[str, str]
    uploads_before: frozenset[str]
    #: Proxies whose requests count for the residue test (their records explain unavoidable residue).
    pools: list[ProxyPool] = field(default_factory=list)

    @property
    def storage(self) -> Path:
        return self.registry.storage
