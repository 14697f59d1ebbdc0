"""What the documentation test knows about its registry (shared by conftest.py and test_docs.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devtools.registry import RunningRegistry

REPOSITORY = "stellaops/test"
#: Holds cosign-style tags for the test image's digest (docs/referrer-discovery.md, COSIGN_REPOSITORY).
COSIGN_REPOSITORY = "stellaops/signatures"
TAG = "latest"
SIGNATURE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SBOM_TYPE = "application/spdx+json"


@dataclass(frozen=True)
class DocsRegistry:
    """The registry the docs' commands run against, and what it holds."""

    registry: RunningRegistry
    password: str
    image_digest: str
    referrer_digests: frozenset[str]

    @property
    def url(self) -> str:
        return self.registry.url

    @property
    def host(self) -> str:
        return self.registry.host

    @property
    def ca_bundle(self) -> Path:
        assert self.registry.ca_bundle is not None
        return self.registry.ca_bundle
