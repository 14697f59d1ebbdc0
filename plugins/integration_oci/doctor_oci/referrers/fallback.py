"""Tag-based referrer discovery, for registries without a usable referrers API.

Two styles exist in the wild and both are read:

* the **referrers tag schema** (distribution-spec §Unavailable Referrers API): the tag
  ``<alg>-<hex>`` (truncated, see :func:`referrers_tag`) holds an OCI image index of the
  referrers. 404 means none; a tag that is not an index, or that is the subject itself (GitLab
  answers ``manifests/sha256-<hex>`` with the subject), means none from this source -- it is never
  modified here;
* **cosign-style tags** ``<alg>-<hex>.sig`` / ``.att`` / ``.sbom``: single manifests, found by
  listing the repository's tags and resolved to descriptors.

Requests run concurrently, bounded by the semaphore the caller passes (discovery shares one
semaphore between both styles).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from doctor_core import get_logger
from doctor_oci.client import RegistryClient
from doctor_oci.client.errors import NotFound, ProtocolError
from doctor_oci.referrers.descriptors import (
    OCI_INDEX_MEDIA_TYPE,
    cosign_tags,
    referrer_from_descriptor,
    referrers_from_index,
    referrers_tag,
)
from doctor_oci.referrers.kinds import kind_of, manifest_artifact_type
from doctor_oci.referrers.models import SOURCE_COSIGN, SOURCE_TAG_SCHEMA, Referrer

#: Requests in flight at once when the caller passes no semaphore.
DEFAULT_CONCURRENCY = 8


def _log() -> Any:
    """doctor's logger, looked up per event (the CLI configures the pipeline after import)."""
    return get_logger(component="referrers")


async def tag_schema_referrers(
    client: RegistryClient,
    repository: str,
    subject_digest: str,
    *,
    artifact_type: str | None = None,
    limit: asyncio.Semaphore | None = None,
) -> list[Referrer]:
    """The referrers listed in the subject's referrers-tag index (``[]`` when there is none)."""
    tag = referrers_tag(subject_digest)
    try:
        async with limit or asyncio.Semaphore(1):
            manifest = await client.get_manifest(repository, tag)
    except NotFound:
        return []
    except ProtocolError as exc:
        _log().warning("referrers tag is not a valid manifest; no referrers from it", tag=tag, error=str(exc))
        return []
    if manifest.digest == subject_digest:
        _log().info("referrers tag resolves to the subject itself (GitLab); no referrers from it", tag=tag)
        return []
    data = manifest.data
    declared = data.get("mediaType")
    is_index = isinstance(data.get("manifests"), list) and (
        declared == OCI_INDEX_MEDIA_TYPE or (declared is None and manifest.media_type == OCI_INDEX_MEDIA_TYPE)
    )
    if not is_index:
        _log().info(
            "referrers tag does not hold an OCI index; no referrers from it",
            tag=tag,
            media_type=manifest.media_type,
        )
        return []
    parsed = referrers_from_index(data, SOURCE_TAG_SCHEMA, artifact_type=artifact_type)
    if parsed.skipped:
        _log().warning("referrers tag index: malformed descriptors skipped", tag=tag, skipped=parsed.skipped)
    return [referrer for referrer in parsed.referrers if referrer.digest != subject_digest]


async def cosign_referrers(
    client: RegistryClient,
    repository: str,
    subject_digest: str,
    *,
    artifact_type: str | None = None,
    limit: asyncio.Semaphore | None = None,
    tags: Sequence[str] | None = None,
) -> list[Referrer]:
    """The artifacts under the subject's cosign-style tags, in tag order (``.att``, ``.sbom``, ``.sig``).

    Each known tag is fetched directly, concurrently (bounded by ``limit``); a 404 (tag or
    repository missing) means none. ``tags``, when the caller already holds the repository's tag
    list, restricts the fetches to the tags it contains. ``artifact_type`` keeps only entries of
    that (manifest-derived) artifact type.
    """
    limit = limit or asyncio.Semaphore(DEFAULT_CONCURRENCY)
    wanted = cosign_tags(subject_digest)
    if tags is not None:
        wanted = wanted.intersection(tags)
    resolved = await asyncio.gather(*(_resolve_tag(client, repository, tag, limit) for tag in sorted(wanted)))
    return [
        referrer
        for referrer in resolved
        if referrer is not None
        and referrer.digest != subject_digest
        and (artifact_type is None or referrer.artifact_type == artifact_type)
    ]


async def _resolve_tag(
    client: RegistryClient, repository: str, tag: str, limit: asyncio.Semaphore
) -> Referrer | None:
    """One cosign-style tag as a descriptor (``None`` if absent or not a usable manifest)."""
    try:
        async with limit:
            manifest = await client.get_manifest(repository, tag)
    except NotFound:
        return None
    except ProtocolError as exc:
        _log().warning("cosign-style tag skipped: not a valid manifest", tag=tag, error=str(exc))
        return None
    annotations = manifest.data.get("annotations")
    artifact_type = manifest_artifact_type(manifest.data)
    entry = {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": manifest.size,
        "artifactType": artifact_type,
        "annotations": annotations if isinstance(annotations, dict) else None,
    }
    referrer = referrer_from_descriptor(entry, SOURCE_COSIGN)
    if referrer is None:
        _log().warning("cosign-style tag skipped: not a descriptor", tag=tag)
        return None
    return referrer.model_copy(update={"tag": tag, "kind": kind_of(artifact_type, referrer.annotations, tag)})


async def verify_referrers(
    client: RegistryClient,
    repository: str,
    referrers: Sequence[Referrer],
    *,
    limit: asyncio.Semaphore | None = None,
) -> tuple[list[Referrer], list[Referrer]]:
    """``(live, stale)``: whether each listed manifest still exists (a HEAD by digest each,
    concurrently, bounded by ``limit``). 404 is stale; any other failure is the client's typed
    error (a verification that could not be done is not reported as "all fine")."""
    limit = limit or asyncio.Semaphore(DEFAULT_CONCURRENCY)

    async def exists(referrer: Referrer) -> bool:
        async with limit:
            response = await client.resolve_manifest(repository, referrer.digest)
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise client.error_for(response)

    found = await asyncio.gather(*(exists(referrer) for referrer in referrers))
    live = [referrer for referrer, ok in zip(referrers, found, strict=True) if ok]
    stale = [referrer for referrer, ok in zip(referrers, found, strict=True) if not ok]
    return live, stale
