"""Test data builders shared by the referrer-discovery tests (manifests, indexes, descriptors)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from doctor_core.testing import CliResult

MOCK_URL = "https://registry.test"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_bytes(**fields: Any) -> bytes:
    """A small OCI image manifest (deterministic bytes) with extra ``fields`` (artifactType, subject...)."""
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "0" * 64,
            "size": 2,
        },
        "layers": [],
    }
    document.update(fields)
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def index_bytes(entries: list[Any], **fields: Any) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries, **fields}).encode()


def descriptor(
    digest: str, artifact_type: str | None = None, size: int = 100, **extra: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": digest, "size": size}
    if artifact_type:
        entry["artifactType"] = artifact_type
    entry.update(extra)
    return entry


class Output:
    """A command's stdout/stderr, wherever the core routed them (its streams or the process's)."""

    def __init__(self, result: CliResult, capsys: pytest.CaptureFixture[str]) -> None:
        captured = capsys.readouterr()
        self.code = result.exit_code
        self.out = result.stdout or captured.out
        self.err = result.stderr or captured.err
