"""The OCI 1.1 referrers API: support detection (cached per repository) and paged listing.

Support detection follows oras-go, plus the seed's "404 with an OCI index" case:

==========================================  ==============================================
answer to ``GET /v2/<name>/referrers/<d>``  meaning
==========================================  ==============================================
200 with an OCI index                       supported
404 with an OCI index body                  supported (the seed: empty referrers)
404 ``NAME_UNKNOWN``                        the repository is missing: :class:`NotFound`
401 / 403                                   :class:`AuthenticationError` / :class:`PermissionDenied`
any other 404, 400, 405, 406, 501           unsupported: use the fallback
200 (or 404) whose body is not an index     unsupported ("false 200")
anything else (5xx, 429 after retries ...)  the client's typed error
==========================================  ==============================================

The verdict is cached per client and repository for the client's life (the checks and the command
share one answer; concurrent callers share one request).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

import httpx

from doctor_core import get_logger
from doctor_oci.client import RegistryClient
from doctor_oci.client.budget import DEFAULT_MAX_PAGES, PageBudget
from doctor_oci.client.errors import ProtocolError, RegistryError
from doctor_oci.client.link import next_link
from doctor_oci.client.transport import DEFAULT_MAX_BODY_BYTES
from doctor_oci.referrers.descriptors import (
    FILTERS_HEADER,
    OCI_INDEX_MEDIA_TYPE,
    base_media_type,
    error_code,
    filters_applied,
    parse_index,
    referrers_from_index,
)
from doctor_oci.referrers.kinds import kind_of, manifest_artifact_type
from doctor_oci.referrers.models import SOURCE_API, ApiProbe, Referrer

#: Referrers asked for per page (``n=``): the most oras-project/distribution honours (it answers
#: a larger ``n`` with its default of 10); registries that ignore ``n`` page as they like.
PAGE_SIZE = 100
#: The page limit of the default budget (kept as a name for callers of ``MAX_PAGES``): pages are
#: bounded by the listing's :class:`~doctor_oci.client.budget.PageBudget`, not by a fixed cap.
MAX_PAGES = DEFAULT_MAX_PAGES
_UNSUPPORTED_STATUSES = {
    400: "bad request",
    405: "method not allowed",
    406: "not acceptable",
    501: "not implemented",
}


def _log() -> Any:
    """doctor's logger, looked up per event (the CLI configures the pipeline after import)."""
    return get_logger(component="referrers")


@dataclass(eq=False, repr=False)  # internal: never compared or printed
class _RepositoryState:
    """Per-repository knowledge: the verdict once known, and probes (by digest/filter) in flight or done."""

    unsupported: ApiProbe | None = None
    probes: dict[tuple[str, str | None], asyncio.Task[ApiProbe]] = field(default_factory=dict)


_cache: weakref.WeakKeyDictionary[RegistryClient, dict[str, _RepositoryState]] = weakref.WeakKeyDictionary()


def referrers_path(repository: str, digest: str) -> str:
    """``/v2/<name>/referrers/<digest>``."""
    return f"/v2/{repository}/referrers/{digest}"


async def _get(
    client: RegistryClient,
    repository: str,
    url: str,
    params: dict[str, str] | None,
    max_body_bytes: int | None = None,
) -> httpx.Response:
    return await client.request(
        "GET",
        url,
        scopes=(client.scope(repository, "pull"),),
        headers={"Accept": OCI_INDEX_MEDIA_TYPE},
        params=params,
        max_body_bytes=max_body_bytes,
    )


def _link_header(response: httpx.Response) -> str | None:
    """All ``Link`` header values as one (a registry may send several header lines)."""
    return ", ".join(response.headers.get_list("Link")) or None


def classify(client: RegistryClient, response: httpx.Response) -> ApiProbe:
    """The support verdict one referrers response stands for (raises for the error rows of the table)."""
    status = response.status_code
    content_type = response.headers.get("Content-Type")
    shown_type = base_media_type(content_type) or "no content type"
    code = error_code(response.content) if response.content else None
    index = parse_index(response.content, content_type) if status in (200, 404) else None
    filters = filters_applied(response.headers.get_list(FILTERS_HEADER), index)
    common = {
        "status": status,
        "content_type": content_type,
        "error_code": code,
        "filters_applied": filters,
        "url": str(response.url),
        "link": _link_header(response),
        "size": len(response.content),
    }
    if status == 200 and index is not None:
        return ApiProbe(supported=True, reason="200 with an OCI index", index=index, **common)
    if status == 404 and index is not None:
        reason = "404 with an OCI index (empty referrers)"
        return ApiProbe(supported=True, reason=reason, index=index, **common)
    if status == 404 and code == "NAME_UNKNOWN":
        raise client.error_for(response)
    if status in (200, 404):
        said = f" {code}" if code else ""
        reason = f"{status}{said} without an OCI index ({shown_type})"
        return ApiProbe(supported=False, reason=reason, index=None, **common)
    if status in _UNSUPPORTED_STATUSES:
        said = f" {code}" if code else ""
        reason = f"{status}{said} ({_UNSUPPORTED_STATUSES[status]})"
        return ApiProbe(supported=False, reason=reason, index=None, **common)
    raise client.error_for(response)


def _state(client: RegistryClient, repository: str) -> _RepositoryState:
    per_client = _cache.get(client)
    if per_client is None:
        per_client = {}
        _cache[client] = per_client
    return per_client.setdefault(repository, _RepositoryState())


async def probe_referrers_api(
    client: RegistryClient, repository: str, digest: str, *, artifact_type: str | None = None
) -> ApiProbe:
    """Ask the registry's referrers API about ``digest`` once and say whether it is usable.

    Cached per ``(client, repository)`` for the client's life: once a repository is known to be
    unsupported no further request is made; concurrent callers for the same digest (and filter)
    share one request. ``artifact_type`` is sent as ``?artifactType=`` so that the probe is also
    the first page of a filtered listing.

    Raises :class:`NotFound` for ``404 NAME_UNKNOWN`` (the repository is missing),
    :class:`AuthenticationError` / :class:`PermissionDenied` for 401/403, and transport errors as
    the client raises them; none of these is cached.
    """
    state = _state(client, repository)
    if state.unsupported is not None:
        return state.unsupported
    key = (digest, artifact_type)
    task = state.probes.get(key)
    if task is None:
        task = asyncio.ensure_future(_probe(client, repository, digest, artifact_type, state))
        state.probes[key] = task
    return await asyncio.shield(task)


async def _probe(
    client: RegistryClient, repository: str, digest: str, artifact_type: str | None, state: _RepositoryState
) -> ApiProbe:
    params = {"n": str(PAGE_SIZE), **({"artifactType": artifact_type} if artifact_type else {})}
    path = referrers_path(repository, digest)
    try:
        response = await _get(client, repository, path, params)
        probe = classify(client, response)
    except BaseException:
        state.probes.pop((digest, artifact_type), None)
        raise
    if not probe.supported:
        state.unsupported = probe
    _log().debug(
        "referrers api probed",
        repository=repository,
        status=probe.status,
        supported=probe.supported,
        reason=probe.reason,
    )
    return probe


async def list_api_referrers(
    client: RegistryClient,
    repository: str,
    probe: ApiProbe,
    *,
    artifact_type: str | None = None,
    max_pages: int | None = None,
    budget: PageBudget | None = None,
) -> list[Referrer]:
    """All referrers from a supported probe's first page and the pages its ``Link`` headers lead to.

    Links are resolved relative to the page they came in; a link to another host, a link back to
    a page already read (a loop) or a page that is not an OCI index raise :class:`ProtocolError`.
    The whole listing, the probe's page included, runs under one
    :class:`~doctor_oci.client.budget.PageBudget` (default a fresh one; ``max_pages`` lowers its
    page limit): bytes, entries, pages and wall time across all pages, past which
    :class:`~doctor_oci.client.budget.BudgetExceeded` is raised -- memory stays bounded however
    many distinct pages a registry serves. When ``artifact_type`` is given and a page does not say
    (``OCI-Filters-Applied`` or the rc1 annotation) that the registry filtered by it, the page is
    filtered here. Malformed entries are skipped and counted in the log.
    """
    if not probe.supported or probe.index is None or probe.url is None:
        raise ValueError("list_api_referrers needs a probe that found the referrers API supported")
    budget = budget or PageBudget("the referrers list")
    if max_pages is not None:
        budget.max_pages = min(budget.max_pages, max_pages)
    referrers: list[Referrer] = []
    skipped = 0
    index, filters, url, link = probe.index, probe.filters_applied, probe.url, probe.link
    entries = probe.index.get("manifests")
    budget.charge(probe.size, len(entries) if isinstance(entries, list) else 0, request=f"GET {url}")
    visited = {str(httpx.URL(url))}
    while True:
        wanted = artifact_type if artifact_type and "artifactType" not in filters else None
        parsed = referrers_from_index(index, SOURCE_API, artifact_type=wanted)
        referrers.extend(parsed.referrers)
        skipped += parsed.skipped
        following = next_link(link, url)
        if following is None:
            break
        following = str(httpx.URL(following))
        if following in visited:
            raise ProtocolError(
                f"the referrers list pages in a loop (page {budget.pages + 1} links back to an earlier page)",
                request=f"GET {following}",
            )
        visited.add(following)

        async def fetch(cap: int, target: str = following) -> httpx.Response:
            return await _get(client, repository, target, None, max_body_bytes=cap)

        response = await budget.read_page(fetch, DEFAULT_MAX_BODY_BYTES, request=f"GET {following}")
        if response.status_code != 200:
            raise client.error_for(response)
        content_type = response.headers.get("Content-Type")
        page = parse_index(response.content, content_type)
        if page is None:
            raise ProtocolError(
                f"page {budget.pages + 1} of the referrers list is not an OCI index "
                f"({base_media_type(content_type) or 'no content type'})",
                status=response.status_code,
                request=f"GET {following}",
            )
        budget.charge(len(response.content), len(page["manifests"]), request=f"GET {following}")
        index, url, link = page, str(response.url), _link_header(response)
        filters = filters_applied(response.headers.get_list(FILTERS_HEADER), page)
    if skipped:
        _log().warning("referrers api: malformed descriptors skipped", repository=repository, skipped=skipped)
    return referrers


#: What a draft-era registry lists as ``artifactType`` for an OCI 1.1 artifact (its config's
#: media type, the empty descriptor's): it names no artifact, so the manifest itself is read.
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
#: Most manifests read per listing to correct such entries (beyond, entries stay as listed).
MAX_ARTIFACT_TYPE_READS = 64


async def correct_listed_artifact_types(
    client: RegistryClient,
    repository: str,
    referrers: list[Referrer],
    limit: asyncio.Semaphore,
    *,
    artifact_type: str | None = None,
    max_reads: int = MAX_ARTIFACT_TYPE_READS,
) -> list[Referrer]:
    """``referrers`` with each entry listed as the empty media type (a registry following the
    draft spec repeats the config type: oras-project/distribution, early Harbor/Zot) replaced by
    the artifact type its manifest declares, read by digest (at most ``max_reads`` manifests,
    concurrently under ``limit``). An entry whose manifest cannot be read stays as listed. With
    ``artifact_type`` (a filter), a corrected entry of another type is dropped."""
    wanted = [i for i, r in enumerate(referrers) if r.artifact_type == EMPTY_MEDIA_TYPE][:max_reads]
    if not wanted:
        return referrers

    async def read(referrer: Referrer) -> Referrer:
        try:
            async with limit:
                manifest = await client.get_manifest(repository, referrer.digest)
        except RegistryError as exc:
            _log().info(
                "referrer manifest not readable; artifact type kept as listed",
                digest=referrer.digest,
                error=str(exc),
            )
            return referrer
        artifact_type = manifest_artifact_type(manifest.data)
        if not artifact_type or artifact_type == referrer.artifact_type:
            return referrer
        return referrer.model_copy(
            update={"artifact_type": artifact_type, "kind": kind_of(artifact_type, referrer.annotations)}
        )

    corrected = await asyncio.gather(*(read(referrers[i]) for i in wanted))
    out: list[Referrer | None] = list(referrers)
    for index, referrer in zip(wanted, corrected, strict=True):
        changed = referrer is not referrers[index]
        keep = not changed or artifact_type is None or referrer.artifact_type == artifact_type
        out[index] = referrer if keep else None
    return [referrer for referrer in out if referrer is not None]
