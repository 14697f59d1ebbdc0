"""``discover_referrers``: the one implementation behind the referrers check, the capabilities
check, ``doctor oci referrers`` and library users.

Flow: resolve the subject's digest (HEAD, GET when HEAD does not tell), then

* ``method="auto"``: probe the referrers API (cached per repository); supported -> page through
  it; unsupported -> the fallback;
* ``method="api"``: the API only; unsupported -> :class:`ReferrersApiUnsupported`;
* ``method="fallback"``: the referrers tag schema and cosign-style tags, merged and de-duplicated
  by digest (first source wins, in the order tag-schema, cosign-tags), without probing the API.
"""

from __future__ import annotations

import asyncio
from typing import Any, get_args

import httpx

from doctor_oci.client import RegistryClient
from doctor_oci.client.errors import Unsupported
from doctor_oci.client.reference import Reference, RegistryEndpoint
from doctor_oci.referrers.api import list_api_referrers, probe_referrers_api
from doctor_oci.referrers.descriptors import is_valid_digest
from doctor_oci.referrers.fallback import cosign_referrers, tag_schema_referrers
from doctor_oci.referrers.models import (
    SOURCE_API,
    SOURCE_COSIGN,
    SOURCE_TAG_SCHEMA,
    Method,
    Referrer,
    ReferrersResult,
    Subject,
)
from doctor_oci.settings import OciSettings

#: Upper bound for ``concurrency`` (more only adds load on the registry).
MAX_CONCURRENCY = 64


class ReferrersApiUnsupported(Unsupported):
    """``method="api"`` was asked for but the registry's referrers API is not usable here.

    ``reason`` is the probe's sentence (e.g. ``"404 without an OCI index (text/plain)"``).
    """

    def __init__(self, reason: str, *, status: int | None = None, request: str | None = None) -> None:
        self.reason = reason
        super().__init__(f"the registry's referrers API is not supported: {reason}", status=status,
                         request=request)


def _check_arguments(artifact_type: str | None, method: str, concurrency: int) -> None:
    if method not in get_args(Method):
        raise ValueError(f"method must be one of {', '.join(get_args(Method))}, got {method!r}")
    if type(concurrency) is not int or not 0 < concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be an integer from 1 to {MAX_CONCURRENCY}, got {concurrency!r}")
    if artifact_type is not None and (not isinstance(artifact_type, str) or not artifact_type.strip()):
        raise ValueError("artifact_type must be a non-empty media type such as 'application/spdx+json'")


def _as_reference(reference: str | Reference) -> Reference:
    if isinstance(reference, Reference):
        return reference
    if not isinstance(reference, str):
        raise TypeError(f"reference must be a string or a Reference, got {type(reference).__name__}")
    return Reference.parse(reference)


async def resolve_subject_digest(client: RegistryClient, reference: Reference) -> str:
    """The manifest digest of ``reference``, proving that the manifest exists.

    HEAD first (cheap, not counted by Docker Hub's pull limit); when HEAD fails or does not carry a
    valid ``Docker-Content-Digest``, GET, which raises the typed error (NotFound, ...). A digest
    reference resolves to its own digest.
    """
    target = reference.digest or reference.tag or "latest"
    response = await client.resolve_manifest(reference.repository, target)
    if response.status_code in (401, 403):
        raise client.error_for(response)
    header = response.headers.get("Docker-Content-Digest")
    if response.status_code == 200 and (reference.digest or is_valid_digest(header)):
        return reference.digest or str(header)
    manifest = await client.get_manifest(reference.repository, target)
    return reference.digest or manifest.digest


def _merge(*sources: list[Referrer]) -> list[Referrer]:
    """Concatenate, keeping each digest's first occurrence (deterministic: source order, then list order)."""
    seen: set[str] = set()
    merged: list[Referrer] = []
    for referrers in sources:
        for referrer in referrers:
            if referrer.digest not in seen:
                seen.add(referrer.digest)
                merged.append(referrer)
    return merged


async def _discover(
    client: RegistryClient, reference: Reference, artifact_type: str | None, method: Method, concurrency: int
) -> ReferrersResult:
    digest = await resolve_subject_digest(client, reference)
    subject = Subject(reference=str(reference), digest=digest)
    repository = reference.repository
    supported: bool | None = None
    if method != "fallback":
        probe = await probe_referrers_api(client, repository, digest, artifact_type=artifact_type)
        supported = probe.supported
        if probe.supported:
            referrers = await list_api_referrers(client, repository, probe, artifact_type=artifact_type)
            return ReferrersResult(subject=subject, method=SOURCE_API, referrers_api_supported=True,
                                   referrers=referrers)
        if method == "api":
            request = f"GET {httpx.URL(probe.url)}" if probe.url else None
            raise ReferrersApiUnsupported(probe.reason, status=probe.status, request=request)
    limit = asyncio.Semaphore(concurrency)
    from_tag, from_cosign = await asyncio.gather(
        tag_schema_referrers(client, repository, digest, artifact_type=artifact_type, limit=limit),
        cosign_referrers(client, repository, digest, artifact_type=artifact_type, limit=limit),
    )
    return ReferrersResult(
        subject=subject,
        method=f"{SOURCE_TAG_SCHEMA}+{SOURCE_COSIGN}",
        referrers_api_supported=supported,
        referrers=_merge(from_tag, from_cosign),
    )


async def discover_referrers(
    reference: str | Reference,
    artifact_type: str | None = None,
    *,
    method: Method = "auto",
    settings: OciSettings | None = None,
    client: RegistryClient | None = None,
    concurrency: int = 8,
) -> ReferrersResult:
    """The artifacts (signatures, SBOMs, attestations, ...) whose ``subject`` is ``reference``.

    ``reference``: a tag or digest reference (``registry/repo:tag``, ``registry/repo@sha256:...``);
    a string is parsed with :meth:`Reference.parse` (``InvalidReference`` when malformed).
    ``artifact_type``: keep only referrers of this artifact type (sent to the registry, applied
    here when the registry does not say it filtered). ``method``: see the module docstring.

    ``client``: an open :class:`RegistryClient` for the reference's registry (it decides the host,
    credentials and TLS; the probe cache lives as long as it). Without one, a client is created
    from ``settings`` (default: an empty ``OciSettings``) for the reference's registry and closed
    afterwards. ``concurrency`` bounds the fallback's parallel requests.

    Raises the client's typed errors (:class:`NotFound` for a missing image or repository,
    :class:`AuthenticationError`, :class:`PermissionDenied`, :class:`ConnectError`, ...),
    :class:`ProtocolError` for hostile pagination, :class:`ReferrersApiUnsupported` for
    ``method="api"`` on a registry without the API, ``ValueError`` for bad arguments.
    """
    _check_arguments(artifact_type, method, concurrency)
    ref = _as_reference(reference)
    if client is not None:
        return await _discover(client, ref, artifact_type, method, concurrency)
    settings = settings or OciSettings()
    async with await RegistryClient.open(settings, registry=_registry_override(settings, ref)) as own:
        return await _discover(own, ref, artifact_type, method, concurrency)


def _registry_override(settings: OciSettings, reference: Reference) -> str | None:
    """``None`` when the reference names the configured registry (keeping ``RegistryUrl``'s scheme),
    else the reference's registry."""
    if settings.RegistryUrl and RegistryEndpoint.parse(settings.RegistryUrl).host == reference.registry:
        return None
    return reference.registry


def discover_referrers_sync(*args: Any, **kwargs: Any) -> ReferrersResult:
    """:func:`discover_referrers` for callers without an event loop (same arguments).

    Runs its own event loop with ``asyncio.run``; from async code, ``await discover_referrers``.
    Pass no ``client`` here unless it was created for this call: a client is bound to the loop
    it is used in.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(discover_referrers(*args, **kwargs))
    raise RuntimeError(
        "discover_referrers_sync() cannot run inside an event loop; await discover_referrers() instead"
    )
