"""Push test content into a registry with plain httpx (via :class:`~devtools.registry_http.RegistryHttp`).

What the tests, the demo and the benchmarks need:

* :func:`push_image` -- a tiny image (config + one small gzip'd tar layer), OCI by default,
  Docker schema 2 with ``oci=False``.
* :func:`push_referrer` -- an OCI 1.1 artifact manifest with ``subject`` and ``artifactType``, pushed
  by digest (distribution 2.8 stores it and answers without ``OCI-Subject``).
* :func:`push_tag_schema_index` -- the OCI referrers tag schema: tag ``sha256-<hex>`` holding an image
  index of referrer descriptors, as clients maintain it when the registry has no referrers API.
* :func:`push_cosign_tags` -- cosign's legacy tags ``sha256-<hex>.sig`` / ``.att`` / ``.sbom``.
* :func:`push_many_tags` -- thousands of unrelated tags, reusing one manifest's bytes, in parallel.

``registry`` is a :class:`~devtools.registry.RunningRegistry` (acting as ``user``, default ``admin``)
or a :class:`RegistryHttp` (e.g. for a test server at another URL). Content is deterministic: the
same arguments give the same digests.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devtools.registry_http import (
    DOCKER_MANIFEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    RegistryHttp,
    sha256_digest,
)

if TYPE_CHECKING:
    from devtools.registry import RunningRegistry

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
EMPTY_JSON = b"{}"
EMPTY_DIGEST = sha256_digest(EMPTY_JSON)
#: Layer type of referrer payloads pushed by :func:`push_referrer`.
TEST_PAYLOAD = "application/vnd.doctor.test.payload.v1+json"

SBOM_ARTIFACT = "application/spdx+json"
SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
ATTESTATION_ARTIFACT = "application/vnd.dsse.envelope.v1+json"

_COSIGN_LAYERS: dict[str, tuple[str, dict[str, str]]] = {
    "sig": (
        "application/vnd.dev.cosign.simplesigning.v1+json",
        {"dev.cosignproject.cosign/signature": base64.b64encode(b"not-a-real-signature").decode()},
    ),
    "att": (ATTESTATION_ARTIFACT, {"predicateType": "https://slsa.dev/provenance/v0.2"}),
    "sbom": ("text/spdx+json", {}),
}
COSIGN_KINDS: tuple[str, ...] = tuple(_COSIGN_LAYERS)

_DIGEST = re.compile(r"^(?P<alg>[a-z0-9]+(?:[.+_-][a-z0-9]+)*):(?P<hex>[a-zA-Z0-9=_-]+)$")
_TAG_INVALID = re.compile(r"[^a-zA-Z0-9._-]")


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor, with the referrer fields (``artifactType``, ``annotations``)."""

    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used in manifests and indexes (optional fields only when set)."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Descriptor:
        try:
            return cls(
                media_type=str(data["mediaType"]),
                digest=str(data["digest"]),
                size=int(data["size"]),
                artifact_type=data.get("artifactType"),
                annotations=data.get("annotations"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a descriptor (mediaType, digest, size needed): {data!r}") from exc


@dataclass(frozen=True)
class PushedImage:
    """An image pushed by :func:`push_image`: its manifest digest, type, size and parts."""

    repository: str
    tag: str | None
    digest: str
    media_type: str
    size: int
    config_digest: str
    layer_digests: tuple[str, ...]
    manifest: bytes = field(repr=False)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size)

    @property
    def reference(self) -> str:
        """``repository:tag`` (or ``repository@digest`` when pushed without a tag)."""
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"


def _http(registry: RunningRegistry | RegistryHttp, user: str | None) -> RegistryHttp:
    return registry if isinstance(registry, RegistryHttp) else registry.http(user)


def _json_bytes(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _split_digest(digest: str) -> tuple[str, str]:
    match = _DIGEST.match(digest)
    if match is None:
        raise ValueError(f"not a digest: {digest!r} (expected e.g. 'sha256:<hex>')")
    return match.group("alg"), match.group("hex")


def referrers_tag(digest: str) -> str:
    """The referrers tag-schema tag for ``digest``: ``<alg>-<hex>``, truncated to 32/64 characters."""
    alg, hexpart = _split_digest(digest)
    return _TAG_INVALID.sub("-", f"{alg[:32]}-{hexpart[:64]}")


def _layer(content: bytes) -> tuple[bytes, str]:
    """A deterministic gzip'd tar holding one file; returns (blob, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256_digest(tar_bytes)


def push_image(
    registry: RunningRegistry | RegistryHttp,
    repository: str,
    tag: str | None = "latest",
    *,
    oci: bool = True,
    content: bytes | None = None,
    user: str | None = "admin",
) -> PushedImage:
    """Push a tiny image (config + one layer) and tag it (``tag=None``: by digest only).

    ``content`` is the layer's single file (default ``"<repository>:<tag>"``, so images differ
    per repository and tag).
    """
    http = _http(registry, user)
    layer, diff_id = _layer(content if content is not None else f"{repository}:{tag}\n".encode())
    config = _json_bytes(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    )
    config_type, layer_type, manifest_type = (
        (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST) if oci else (DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST)
    )
    config_digest = http.put_blob(repository, config)
    layer_digest = http.put_blob(repository, layer)
    manifest = _json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": layer_type, "digest": layer_digest, "size": len(layer)}],
        }
    )
    digest = http.put_manifest(repository, tag or sha256_digest(manifest), manifest, manifest_type)
    return PushedImage(
        repository=repository,
        tag=tag,
        digest=digest,
        media_type=manifest_type,
        size=len(manifest),
        config_digest=config_digest,
        layer_digests=(layer_digest,),
        manifest=manifest,
    )


def _subject_descriptor(subject: PushedImage | Descriptor | Mapping[str, Any]) -> Descriptor:
    if isinstance(subject, PushedImage):
        return subject.descriptor
    if isinstance(subject, Descriptor):
        return Descriptor(subject.media_type, subject.digest, subject.size)
    found = Descriptor.from_dict(subject)
    return Descriptor(found.media_type, found.digest, found.size)


def push_referrer(
    registry: RunningRegistry | RegistryHttp,
    repository: str,
    subject: PushedImage | Descriptor | Mapping[str, Any],
    artifact_type: str,
    *,
    annotations: Mapping[str, str] | None = None,
    tag: str | None = None,
    payload: bytes | None = None,
    artifact_type_in_config: bool = False,
    user: str | None = "admin",
) -> Descriptor:
    """Push an artifact manifest referring to ``subject``; return its descriptor as a referrer.

    The manifest is an OCI image manifest with ``subject``, ``artifactType`` and the empty config
    (OCI 1.1 style); ``artifact_type_in_config=True`` writes the pre-1.1 style instead (no
    ``artifactType``, the type as the config's media type). Pushed by digest, and also under ``tag``
    when given. The returned descriptor carries ``artifact_type`` and ``annotations`` -- what a
    referrers index lists for it.
    """
    if not artifact_type:
        raise ValueError("artifact_type must be a media type, e.g. 'application/spdx+json'")
    http = _http(registry, user)
    subject_desc = _subject_descriptor(subject)
    body = (
        payload
        if payload is not None
        else _json_bytes({"artifactType": artifact_type, "subject": subject_desc.digest})
    )
    layer_digest = http.put_blob(repository, body)
    manifest_doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type_in_config:
        config = _json_bytes({"artifactType": artifact_type})
        manifest_doc["config"] = {
            "mediaType": artifact_type,
            "digest": http.put_blob(repository, config),
            "size": len(config),
        }
    else:
        manifest_doc["artifactType"] = artifact_type
        http.put_blob(repository, EMPTY_JSON)
        manifest_doc["config"] = {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": len(EMPTY_JSON)}
    manifest_doc["layers"] = [{"mediaType": TEST_PAYLOAD, "digest": layer_digest, "size": len(body)}]
    manifest_doc["subject"] = subject_desc.to_dict()
    if annotations:
        manifest_doc["annotations"] = dict(annotations)
    manifest = _json_bytes(manifest_doc)
    digest = http.put_manifest(repository, sha256_digest(manifest), manifest, OCI_MANIFEST)
    if tag is not None:
        http.put_manifest(repository, tag, manifest, OCI_MANIFEST)
    return Descriptor(
        OCI_MANIFEST, digest, len(manifest), artifact_type, dict(annotations) if annotations else None
    )


def push_tag_schema_index(
    registry: RunningRegistry | RegistryHttp,
    repository: str,
    subject_digest: str,
    referrer_descriptors: Iterable[Descriptor | Mapping[str, Any]],
    *,
    user: str | None = "admin",
) -> Descriptor:
    """Push the referrers tag-schema index for ``subject_digest`` under tag ``referrers_tag(subject)``.

    The index lists ``referrer_descriptors`` (with their ``artifactType`` and annotations) in order;
    an empty iterable pushes an empty index. Returns the index's descriptor.
    """
    http = _http(registry, user)
    entries = [d if isinstance(d, Descriptor) else Descriptor.from_dict(d) for d in referrer_descriptors]
    index = _json_bytes(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [d.to_dict() for d in entries]}
    )
    digest = http.put_manifest(repository, referrers_tag(subject_digest), index, OCI_INDEX)
    return Descriptor(OCI_INDEX, digest, len(index))


def push_cosign_tags(
    registry: RunningRegistry | RegistryHttp,
    repository: str,
    subject_digest: str,
    kinds: Sequence[str] = COSIGN_KINDS,
    *,
    user: str | None = "admin",
) -> dict[str, Descriptor]:
    """Push cosign-style single manifests under ``sha256-<hex>.<kind>``; return kind -> descriptor.

    The manifests look like cosign's legacy ones: an OCI image manifest with an image config and one
    layer of the kind's media type (simple signing, DSSE envelope, SPDX) -- no ``artifactType``, no
    ``subject``. The descriptors' ``artifact_type`` is the layer's media type (simple signing, DSSE
    envelope, SPDX): what the manifest holds, as discovery reports it.
    """
    unknown = [k for k in kinds if k not in _COSIGN_LAYERS]
    if unknown:
        raise ValueError(f"unknown cosign tag kinds {unknown}; known: {list(COSIGN_KINDS)}")
    alg, hexpart = _split_digest(subject_digest)
    http = _http(registry, user)
    pushed: dict[str, Descriptor] = {}
    for kind in kinds:
        layer_type, layer_annotations = _COSIGN_LAYERS[kind]
        payload = _json_bytes({"kind": kind, "subject": subject_digest, "repository": repository})
        layer_digest = http.put_blob(repository, payload)
        config = _json_bytes(
            {
                "architecture": "",
                "os": "",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            }
        )
        config_digest = http.put_blob(repository, config)
        layer: dict[str, Any] = {"mediaType": layer_type, "digest": layer_digest, "size": len(payload)}
        if layer_annotations:
            layer["annotations"] = layer_annotations
        manifest = _json_bytes(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [layer],
            }
        )
        digest = http.put_manifest(repository, f"{alg}-{hexpart}.{kind}", manifest, OCI_MANIFEST)
        pushed[kind] = Descriptor(OCI_MANIFEST, digest, len(manifest), layer_type)
    return pushed


def push_many_tags(
    registry: RunningRegistry | RegistryHttp,
    repository: str,
    n: int,
    manifest: PushedImage | Manifest,
    *,
    prefix: str = "unrelated-",
    workers: int = 8,
    user: str | None = "admin",
) -> list[str]:
    """Tag ``manifest`` (already in ``repository``) ``n`` times as ``<prefix>00000`` ...; return the tags.

    Reuses the manifest bytes, so the registry only writes tag links; PUTs run on ``workers``
    threads over one keep-alive connection pool (2000 tags take a few seconds).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    body = manifest.manifest if isinstance(manifest, PushedImage) else manifest.body
    media_type = manifest.media_type
    http = _http(registry, user)
    tags = [f"{prefix}{i:05d}" for i in range(n)]
    if not tags:
        return tags
    http.put_manifest(repository, tags[0], body, media_type)  # authenticates once for the pool
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda t: http.put_manifest(repository, t, body, media_type), tags[1:]))
    return tags


def delete_image(
    registry: RunningRegistry | RegistryHttp, repository: str, digest: str, *, user: str | None = "admin"
) -> int:
    """DELETE a manifest by digest; return the status (202 deleted, 404 unknown, 405 delete disabled)."""
    _split_digest(digest)
    return _http(registry, user).delete_manifest(repository, digest)
