"""Media types the client and the checks speak, and the manifest ``Accept`` list.

Always send the whole :data:`MANIFEST_ACCEPT` list: distribution answers 404 ``MANIFEST_UNKNOWN``
for an OCI manifest when the OCI type is not accepted, and silently converts Docker schema 2
manifests to schema 1 (another digest) when no Accept header is sent.
"""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
#: The empty descriptor's media type (``{}``, digest sha256:44136fa3...), used by artifacts.
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

#: Accept list for manifest GET/HEAD: OCI manifest, OCI index, Docker v2 manifest, Docker manifest list.
MANIFEST_ACCEPT: tuple[str, ...] = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)

#: Media types that are indexes (lists of manifests).
INDEX_TYPES: frozenset[str] = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})


def base_media_type(content_type: str | None) -> str:
    """``Content-Type`` without parameters, lower-cased (``"a/b; charset=utf-8"`` -> ``"a/b"``)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()
