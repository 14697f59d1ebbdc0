"""What a referrer is (signature, attestation, SBOM) and which artifact type a cosign tag holds.

cosign's legacy tags (``sha256-<hex>.sig`` / ``.att`` / ``.sbom``) hold ordinary image manifests:
no ``artifactType``, the generic image config, and layers whose media type says what they are
[sigstore/cosign ``pkg/types/media.go``, ``pkg/oci/static``]. Reporting the config type
(``application/vnd.oci.image.config.v1+json``) for all three makes them indistinguishable and
unselectable with ``--artifact-type``, so :func:`manifest_artifact_type` reads what the manifest
really holds: its ``artifactType`` when set, else -- when the config is a generic image config or
the empty descriptor -- the media type of its layers (simple signing, DSSE envelope, SPDX,
CycloneDX), else the config media type (the image-spec's rule for pre-1.1 artifacts).

:func:`kind_of` names the kind from the cosign tag suffix when there is one, else from the artifact
type; Sigstore bundles (cosign v3, ``application/vnd.dev.sigstore.bundle.v0.3+json``) are
signatures, or attestations when their ``dev.sigstore.bundle.predicateType`` annotation names a
predicate other than cosign's signing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Kind = Literal["signature", "attestation", "sbom"]

#: cosign's legacy tag suffixes and what they hold.
SUFFIX_KINDS: dict[str, Kind] = {"sig": "signature", "att": "attestation", "sbom": "sbom"}

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
SIGSTORE_BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
#: The annotation cosign v3 puts on bundle referrers; its signing predicate marks a signature.
BUNDLE_PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"

_KINDS_BY_TYPE: dict[str, Kind] = {
    SIMPLE_SIGNING: "signature",
    "application/vnd.dev.cosign.artifact.sig.v1+json": "signature",
    "application/vnd.cncf.notary.signature": "signature",
    DSSE_ENVELOPE: "attestation",
    "application/vnd.in-toto+json": "attestation",
    "application/vnd.dev.cosign.artifact.att.v1+json": "attestation",
    "application/spdx+json": "sbom",
    "text/spdx+json": "sbom",
    "text/spdx": "sbom",
    "text/spdx+xml": "sbom",
    "application/vnd.cyclonedx+json": "sbom",
    "application/vnd.cyclonedx+xml": "sbom",
    "application/vnd.cyclonedx": "sbom",
    "application/vnd.dev.cosign.artifact.sbom.v1+json": "sbom",
}

#: Config media types that say nothing about the artifact (cosign's legacy manifests use them).
GENERIC_CONFIG_TYPES = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.oci.empty.v1+json",
    }
)


def _media_type(value: object) -> str | None:
    if isinstance(value, Mapping):
        media_type = value.get("mediaType")
        if isinstance(media_type, str) and media_type:
            return media_type
    return None


def manifest_artifact_type(manifest: Mapping[str, Any]) -> str | None:
    """The artifact type ``manifest`` really holds (see the module docstring for the order)."""
    declared = manifest.get("artifactType")
    if isinstance(declared, str) and declared:
        return declared
    config_type = _media_type(manifest.get("config"))
    if config_type is None or config_type in GENERIC_CONFIG_TYPES:
        layers = manifest.get("layers")
        layer_types = [_media_type(layer) for layer in layers] if isinstance(layers, list) else []
        known = [t for t in layer_types if t]
        if known:
            return known[0]
    return config_type


def kind_of(
    artifact_type: str | None, annotations: Mapping[str, str] | None = None, tag: str | None = None
) -> Kind | None:
    """``signature``, ``attestation``, ``sbom`` or ``None`` (unknown): from the cosign ``tag``
    suffix when given, else from ``artifact_type`` (and a bundle's predicate annotation)."""
    if tag is not None:
        suffix = tag.rpartition(".")[2]
        if suffix in SUFFIX_KINDS:
            return SUFFIX_KINDS[suffix]
    if not artifact_type:
        return None
    base = artifact_type.split(";", 1)[0].strip().lower()
    if base.startswith(SIGSTORE_BUNDLE_PREFIX):
        predicate = (annotations or {}).get(BUNDLE_PREDICATE_ANNOTATION)
        return "signature" if predicate in (None, COSIGN_SIGN_PREDICATE) else "attestation"
    return _KINDS_BY_TYPE.get(base)
