"""``discover_referrers``: the one implementation behind the referrers check, the capabilities
check, ``doctor oci referrers`` and library users.

Flow: resolve the subject's digest (HEAD, GET when HEAD does not tell), then

* ``method="auto"``: probe the referrers API (cached per repository), and -- in the same round --
  read the tag-schema index and fetch the cosign-style tags. API supported -> its pages plus the
  cosign tags (cosign v2 writes tags also where the API exists); unsupported -> the tag-schema
  index plus the cosign tags. Merged and de-duplicated by digest, first source wins in the order
  referrers-api, tag-schema, cosign-tags;
* ``method="api"``: the API only; unsupported -> :class:`ReferrersApiUnsupported`;
* ``method="fallback"``: the referrers tag schema and cosign-style tags, without probing the API.

Round trips: with a tag reference, HEAD, then one round of reads (then the API's further pages);
with a digest reference, the HEAD joins that round. With token auth the challenge and the token
come first, once per client.

``cosign_repository`` (cosign's ``COSIGN_REPOSITORY``) moves only the cosign-style tags: they are
read there *instead of* the subject's repository; the API and the ``<alg>-<hex>`` index stay on the
subject's repository. On the subject's registry the same client reads them; on another registry a
second client is opened for the lookup and closed after it.

Credentials stay with their host: a client opened here for a registry other than the configured
one (``OCI.RegistryUrl``, Docker Hub when unset) never gets ``Username``/``Password``/``Token``;
it resolves that host's own credentials (docker config, credential helper, containers auth.json)
or none (the rule lives in :func:`~doctor_oci.client.resolve_credentials`, for every client).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, get_args

import httpx

from doctor_core import get_logger, redact
from doctor_oci.client import RegistryClient
from doctor_oci.client.errors import NotFound, RegistryError, Unsupported
from doctor_oci.client.options import ClientSettings
from doctor_oci.client.reference import Reference, RegistryEndpoint
from doctor_oci.client.transport import RequestMetrics
from doctor_oci.referrers.api import (
    correct_listed_artifact_types,
    list_api_referrers,
    probe_referrers_api,
)
from doctor_oci.referrers.cosign import parse_cosign_repository
from doctor_oci.referrers.descriptors import is_valid_digest
from doctor_oci.referrers.fallback import cosign_referrers, tag_schema_referrers, verify_referrers
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
        super().__init__(
            f"the registry's referrers API is not supported: {reason}", status=status, request=request
        )


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
    """Concatenate, keeping each digest's first occurrence (deterministic: source order, then list
    order); a later cosign-tag occurrence lends its ``tag`` and ``kind`` to the kept entry."""
    kept: dict[str, Referrer] = {}
    for referrers in sources:
        for referrer in referrers:
            first = kept.get(referrer.digest)
            if first is None:
                kept[referrer.digest] = referrer
            elif referrer.tag is not None and first.tag is None:
                kept[referrer.digest] = first.model_copy(
                    update={"tag": referrer.tag, "kind": first.kind or referrer.kind}
                )
    return list(kept.values())


async def _first_error_cancels(*awaitables: Awaitable[Any]) -> list[Any]:
    """Run ``awaitables`` together; their results in order. The first failure cancels the rest
    and is raised (``asyncio.gather`` would leave them running)."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _speculative(awaitable: Awaitable[list[Referrer]]) -> list[Referrer] | RegistryError:
    """A read whose result may not be needed (the tag-schema index while the API is probed): its
    registry error is returned, to be raised only if the result is used."""
    try:
        return await awaitable
    except RegistryError as exc:
        return exc


async def _discover(
    client: RegistryClient,
    reference: Reference,
    artifact_type: str | None,
    method: Method,
    concurrency: int,
    cosign: Reference | None = None,
    settings: OciSettings | None = None,
    verify: bool = False,
) -> ReferrersResult:
    """One round of independent reads once the subject digest is known (with a digest reference,
    the subject's HEAD joins that round): the API probe, the tag-schema index and the cosign tags
    start together; then only the API's further pages (and ``verify``'s HEADs) follow."""
    repository = reference.repository
    limit = asyncio.Semaphore(concurrency)
    moved = cosign if cosign is not None and not _same_repository(client, reference, cosign) else None
    if reference.digest is not None:
        digest = reference.digest
        subject_read: Awaitable[Any] = resolve_subject_digest(client, reference)
    else:
        digest = await resolve_subject_digest(client, reference)
        subject_read = asyncio.sleep(0)
    subject = Subject(reference=str(reference), digest=digest)

    async def nothing() -> None:
        return None

    probe_read = (
        probe_referrers_api(client, repository, digest, artifact_type=artifact_type)
        if method != "fallback"
        else nothing()
    )
    index_read: Awaitable[Any]
    cosign_read: Awaitable[Any]
    if method == "api":
        index_read, cosign_read = nothing(), nothing()
    else:
        index_read = tag_schema_referrers(
            client, repository, digest, artifact_type=artifact_type, limit=limit
        )
        if method == "auto":
            index_read = _speculative(index_read)
        cosign_read = (
            cosign_referrers(client, repository, digest, artifact_type=artifact_type, limit=limit)
            if moved is None
            else _moved_cosign_referrers(client, moved, settings, digest, artifact_type, limit)
        )
    _, probe, from_index, from_cosign = await _first_error_cancels(
        subject_read, probe_read, index_read, cosign_read
    )
    supported: bool | None = None
    if probe is not None:
        supported = probe.supported
        if probe.supported:
            from_api = await list_api_referrers(client, repository, probe, artifact_type=artifact_type)
            from_api = await correct_listed_artifact_types(
                client, repository, from_api, limit, artifact_type=artifact_type
            )
            sources = [SOURCE_API] + ([SOURCE_COSIGN] if method == "auto" else [])
            return ReferrersResult(
                subject=subject,
                method="+".join(sources),
                referrers_api_supported=True,
                referrers=_merge(from_api, from_cosign or []),
                cosign_repository=str(moved) if moved is not None and method == "auto" else None,
            )
        if method == "api":
            request = f"GET {httpx.URL(probe.url)}" if probe.url else None
            raise ReferrersApiUnsupported(probe.reason, status=probe.status, request=request)
    if isinstance(from_index, RegistryError):
        raise from_index
    stale: list[Referrer] | None = None
    if verify:
        from_index, stale = await verify_referrers(client, repository, from_index, limit=limit)
    return ReferrersResult(
        subject=subject,
        method=f"{SOURCE_TAG_SCHEMA}+{SOURCE_COSIGN}",
        referrers_api_supported=supported,
        referrers=_merge(from_index, from_cosign),
        cosign_repository=str(moved) if moved is not None else None,
        stale=stale,
    )


def _same_registry(client: RegistryClient, registry: str) -> bool:
    return RegistryEndpoint.parse(registry).host == client.host


def _same_repository(client: RegistryClient, subject: Reference, cosign: Reference) -> bool:
    return cosign.repository == subject.repository and _same_registry(client, cosign.registry)


async def _moved_cosign_referrers(
    client: RegistryClient,
    cosign: Reference,
    settings: OciSettings | None,
    digest: str,
    artifact_type: str | None,
    limit: asyncio.Semaphore,
) -> list[Referrer]:
    """cosign-style tags read from ``cosign`` instead of the subject's repository.

    With ``client`` when ``cosign`` is on its registry; else with a client opened for that
    registry like any other (:func:`open_client`: no configured credentials unless it is the
    configured registry) from ``settings`` (else ``client``'s), closed afterwards. A missing
    repository holds no tags (nothing was signed there yet). Any other error is the client's typed
    error, its message saying which repository was being read.
    """
    try:
        if _same_registry(client, cosign.registry):
            return await cosign_referrers(
                client, cosign.repository, digest, artifact_type=artifact_type, limit=limit
            )
        async with await open_client(settings or client.settings, cosign, metrics=client.metrics) as other:
            return await cosign_referrers(
                other, cosign.repository, digest, artifact_type=artifact_type, limit=limit
            )
    except NotFound as exc:
        get_logger(component="referrers").info(
            "cosign repository not found; no cosign-style tags from it",
            repository=str(cosign),
            error=str(exc),
        )
        return []
    except RegistryError as exc:
        exc.message = redact(f"reading cosign-style tags from {cosign}: {exc.message}")
        raise


async def discover_referrers(
    reference: str | Reference,
    artifact_type: str | None = None,
    *,
    method: Method = "auto",
    settings: OciSettings | None = None,
    client: RegistryClient | None = None,
    concurrency: int = 8,
    cosign_repository: str | Reference | None = None,
    verify: bool = False,
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

    ``cosign_repository``: ``[registry/]repository`` as cosign's ``COSIGN_REPOSITORY`` takes it
    (no registry part means Docker Hub; see :func:`~doctor_oci.referrers.cosign.parse_cosign_repository`);
    the fallback then reads the cosign-style tags there instead of in the subject's repository
    (a missing repository means none) and the result's ``cosign_repository`` names it. On another
    registry it is read with a second client that gets no configured credentials unless that
    registry is the configured one (see the module docstring); ``settings`` (else the client's)
    decide its TLS and timeouts.

    ``verify``: check that every manifest the tag-schema index lists still exists (one HEAD
    each); the missing ones go to the result's ``stale`` instead of ``referrers``. (API listings
    are the registry's live view and cosign tags are fetched themselves: nothing to verify.)

    Raises the client's typed errors (:class:`NotFound` for a missing image or repository,
    :class:`AuthenticationError`, :class:`PermissionDenied`, :class:`ConnectError`, ...),
    :class:`ProtocolError` for hostile pagination, :class:`ReferrersApiUnsupported` for
    ``method="api"`` on a registry without the API, ``ValueError`` for bad arguments (an
    ``InvalidReference``, also a ``ValueError``, for a malformed ``cosign_repository``).
    """
    _check_arguments(artifact_type, method, concurrency)
    ref = _as_reference(reference)
    cosign = parse_cosign_repository(cosign_repository) if cosign_repository is not None else None
    if client is not None:
        return await _discover(client, ref, artifact_type, method, concurrency, cosign, settings, verify)
    settings = settings or OciSettings()
    async with await open_client(settings, ref) as own:
        return await _discover(own, ref, artifact_type, method, concurrency, cosign, settings, verify)


def _registry_override(settings: ClientSettings, registry: str) -> str | None:
    """``None`` when ``registry`` is the configured one (keeping ``RegistryUrl``'s scheme), else
    ``registry``."""
    if settings.RegistryUrl and (
        RegistryEndpoint.parse(settings.RegistryUrl).host == RegistryEndpoint.parse(registry).host
    ):
        return None
    return registry


async def open_client(
    settings: ClientSettings, reference: Reference, *, metrics: RequestMetrics | None = None
) -> RegistryClient:
    """An open :class:`RegistryClient` for ``reference``'s registry; the caller closes it. It gets
    that registry's credentials only (the rule is :func:`~doctor_oci.client.resolve_credentials`'s);
    with ``metrics`` its requests count in another client's counters."""
    return await RegistryClient.open(
        settings,
        metrics=metrics,
        registry=_registry_override(settings, reference.registry),
        repository=reference.repository,
    )


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
