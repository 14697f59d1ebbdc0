"""What a referrer is, and the artifact type a cosign tag's manifest really holds (issue #15)."""

from __future__ import annotations

import pytest
from doctor_oci.referrers.kinds import kind_of, manifest_artifact_type

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def _manifest(config: str, *layers: str, **fields: str) -> dict[str, object]:
    return {
        "config": {"mediaType": config},
        "layers": [{"mediaType": layer} for layer in layers],
        **fields,
    }


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        # cosign's legacy manifests: generic config, the layer says what it is
        (
            _manifest(OCI_CONFIG, "application/vnd.dev.cosign.simplesigning.v1+json"),
            "application/vnd.dev.cosign.simplesigning.v1+json",
        ),
        (
            _manifest(OCI_CONFIG, "application/vnd.dsse.envelope.v1+json"),
            "application/vnd.dsse.envelope.v1+json",
        ),
        (_manifest(OCI_CONFIG, "text/spdx+json"), "text/spdx+json"),
        (
            _manifest("application/vnd.oci.empty.v1+json", "application/vnd.cyclonedx+json"),
            "application/vnd.cyclonedx+json",
        ),
        # an explicit artifactType always wins
        (_manifest(OCI_CONFIG, "text/spdx+json", artifactType="application/x-mine"), "application/x-mine"),
        # a specific config type is the pre-1.1 artifact type
        (
            _manifest("application/vnd.example.config+json", "text/plain"),
            "application/vnd.example.config+json",
        ),
        (_manifest(OCI_CONFIG), OCI_CONFIG),
        ({}, None),
        ({"config": "x", "layers": "y"}, None),
    ],
)
def test_manifest_artifact_type(manifest: dict[str, object], expected: str | None) -> None:
    assert manifest_artifact_type(manifest) == expected


@pytest.mark.parametrize(
    ("artifact_type", "annotations", "tag", "expected"),
    [
        (None, None, "sha256-abc.sig", "signature"),
        (None, None, "sha256-abc.att", "attestation"),
        ("text/spdx+json", None, "sha256-abc.sbom", "sbom"),
        ("application/vnd.dev.sigstore.bundle.v0.3+json", None, None, "signature"),
        (
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            {"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"},
            None,
            "signature",
        ),
        (
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            {"dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1"},
            None,
            "attestation",
        ),
        ("application/vnd.dsse.envelope.v1+json", None, None, "attestation"),
        ("application/spdx+json", None, None, "sbom"),
        ("application/vnd.cyclonedx+json; version=1.5", None, None, "sbom"),
        ("application/x-unknown", None, None, None),
        (None, None, None, None),
        (None, None, "latest", None),
    ],
)
def test_kind_of(
    artifact_type: str | None, annotations: dict[str, str] | None, tag: str | None, expected: str | None
) -> None:
    assert kind_of(artifact_type, annotations, tag) == expected
