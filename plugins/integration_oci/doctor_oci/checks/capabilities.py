"""check.integration.oci.capabilities -- which of six registry capabilities work, probed harmlessly.

1. distribution API: ``GET /v2/`` answered 200 (the shared ping); ``Docker-Distribution-API-Version``
   is reported as ``distribution_version`` as sent;
2. referrers API: the shared, per-run cached :func:`doctor_oci.referrers.probe_referrers_api`;
3. chunked upload: POST with an empty body (``Content-Length: 0``), PATCH a small chunk with
   ``Content-Range`` and verify the ``Range`` reply, then cancel (the cancel runs on every path);
4. cross-repository mount: mount a blob of the test image within the test repository: 201 ->
   supported, 202 -> not (the session it opened is cancelled);
5./6. manifest and blob delete: ``DELETE`` of a random digest that cannot exist -- 404 ->
   supported, 405 or 400 ``UNSUPPORTED`` -> not, 401/403 -> "unknown". Nothing is deleted.

Probes 2-6 run concurrently. Each value is true, false or "unknown". Severity: PASS when all six
are true; WARN when the referrers API is missing (critical for referrer discovery); INFO otherwise.

Evidence: ``registry_url``, ``distribution_version``, ``supports_referrers_api``,
``supports_chunked_upload``, ``supports_cross_repo_mount``, ``supports_manifest_delete``,
``supports_blob_delete``, ``capability_score`` ("5/6").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from doctor_core import CheckContext, CheckOutcome, Status
from doctor_oci.checks._common import (
    NO_PERMISSION_RECOMMENDATION,
    PROBE_DIGEST,
    TestImage,
    Verdict,
    blob_of_image,
    error_code,
    failure_verdict,
    random_digest,
    resolve_test_image,
    run_probe,
    status_text,
)
from doctor_oci.checks._uploads import mount_probe, request_in_session, upload_session
from doctor_oci.checks.diagnosis import failure_from_error, failure_from_refusal
from doctor_oci.client import (
    AuthenticationError,
    NotFound,
    PermissionDenied,
    RateLimited,
    RegistryClient,
    RegistryError,
)
from doctor_oci.referrers import probe_referrers_api
from doctor_oci.registries import advice, recommendations
from doctor_oci.runtime import registry_profile
from doctor_oci.settings import OciSettings

Capability = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"

#: The chunk PATCHed by the chunked-upload probe (never committed: the session is cancelled).
CHUNK = b"doctor chunked upload probe"

_KEYS = (
    "supports_referrers_api",
    "supports_chunked_upload",
    "supports_cross_repo_mount",
    "supports_manifest_delete",
    "supports_blob_delete",
)


def _evidence(settings: OciSettings, client: RegistryClient | None) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "registry_url": client.base_url if client is not None else settings.RegistryUrl,
        "distribution_version": None,
    }
    evidence.update(dict.fromkeys(_KEYS, UNKNOWN))
    evidence["capability_score"] = "0/6"
    return evidence


async def run(ctx: CheckContext) -> CheckOutcome:
    """Probe the six capabilities (five of them concurrently) and score them."""
    return await run_probe(ctx, evidence=_evidence, probe=_probe, doing="probing the capabilities of")


def _refused(status: int) -> bool:
    return status in (401, 403, 429)


@dataclass(frozen=True)
class _Refusal:
    """A write probe the registry refused (401/403/429): the capability is "unknown", and the
    message says why -- a pull-only account must not read as four unexplained unknowns."""

    status: int
    code: str | None

    @classmethod
    def of(cls, response: httpx.Response) -> _Refusal:
        return cls(response.status_code, error_code(response))


Outcome = Capability | _Refusal | BaseException


async def _referrers(client: RegistryClient, repository: str, image: TestImage) -> Capability:
    if _refused(image.status):
        # Reading the test image was refused: not probed, as the referrers check does not either
        # (one run never reports the API unknown in one check and unsupported in the other).
        return UNKNOWN
    digest = image.digest if image.exists and image.digest else PROBE_DIGEST
    try:
        probe = await probe_referrers_api(client, repository, digest)
    except (NotFound, AuthenticationError, PermissionDenied, RateLimited):
        return UNKNOWN
    return probe.supported


async def _chunked(client: RegistryClient, repository: str, scopes: tuple[str, ...]) -> Capability | _Refusal:
    async with upload_session(client, repository, scopes=scopes, content=b"") as session:
        if session.response.status_code != 202 or session.location is None:
            return _Refusal.of(session.response) if _refused(session.response.status_code) else False
        end = len(CHUNK) - 1
        patch = await request_in_session(
            client,
            session,
            "PATCH",
            scopes=scopes,
            headers={"Content-Range": f"0-{end}", "Content-Type": "application/octet-stream"},
            content=CHUNK,
        )
        if _refused(patch.status_code):
            return _Refusal.of(patch)
        return patch.status_code == 202 and patch.headers.get("range") == f"0-{end}"


async def _mount(
    client: RegistryClient, repository: str, blob: str | None, scopes: tuple[str, ...]
) -> Capability | _Refusal:
    if blob is None:
        return UNKNOWN
    session = await mount_probe(client, repository, blob, scopes=scopes)
    status = session.response.status_code
    if status == 201:
        return True
    return _Refusal.of(session.response) if _refused(status) else False


async def _delete(client: RegistryClient, repository: str, kind: str) -> Capability | _Refusal:
    response = await client.request(
        "DELETE", f"/v2/{repository}/{kind}/{random_digest()}", scopes=(client.scope(repository, "delete"),)
    )
    code = error_code(response)
    if response.status_code == 404:
        return True
    if response.status_code == 405 or (response.status_code == 400 and code == "UNSUPPORTED"):
        return False
    return _Refusal(response.status_code, code) if _refused(response.status_code) else UNKNOWN


def _settled(outcome: Outcome) -> Capability:
    """A probe's value; a refusal or a client error makes that one capability "unknown", anything
    else propagates."""
    if isinstance(outcome, RegistryError | _Refusal):
        return UNKNOWN
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _first(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    first = failures.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


async def _settle(probe: Awaitable[Capability | _Refusal]) -> Outcome:
    """A probe's value, or the registry error it raised (so one failing probe stops no other)."""
    try:
        return await probe
    except RegistryError as exc:
        return exc


async def _image_probes(
    client: RegistryClient, repository: str, tag: str, scopes: tuple[str, ...]
) -> tuple[TestImage, Outcome, Outcome]:
    """The probes that need the test image (referrers, mount), started as soon as it is resolved."""
    image = await resolve_test_image(client, repository, tag)
    blob = await blob_of_image(client, repository, image.digest) if image.exists and image.digest else None
    referrers, mount = await asyncio.gather(
        _settle(_referrers(client, repository, image)), _settle(_mount(client, repository, blob, scopes))
    )
    return image, referrers, mount


async def _probe(
    ctx: CheckContext, client: RegistryClient, settings: OciSettings, evidence: dict[str, Any]
) -> Verdict:
    repository = settings.TestRepository
    scopes = (client.scope(repository, "pull", "push", "delete"),)
    # Everything independent starts at once: the probes that do not need the test image do not
    # wait for it, and none waits for the authenticated ping (only for the shared /v2/ challenge).
    # A TaskGroup cancels and awaits every probe if the check is cancelled, so each upload
    # session's cleanup has run before the check ends.
    try:
        async with asyncio.TaskGroup() as group:
            ping_task = group.create_task(client.ping())
            image_task = group.create_task(_image_probes(client, repository, settings.TestTag, scopes))
            chunked_task = group.create_task(_settle(_chunked(client, repository, scopes)))
            manifest_delete_task = group.create_task(_settle(_delete(client, repository, "manifests")))
            blob_delete_task = group.create_task(_settle(_delete(client, repository, "blobs")))
    except BaseExceptionGroup as failures:
        # The ping or the image lookup failed (a transport error, the registry unreachable): the
        # first failure is the verdict, as if the probes had run one after another.
        raise _first(failures) from None
    ping = ping_task.result()
    image, referrers, mount = image_task.result()
    evidence["distribution_version"] = client.api_version or ping.api_version
    distribution: Capability = True if ping.status == 200 else UNKNOWN
    outcomes = (
        referrers,
        chunked_task.result(),
        mount,
        manifest_delete_task.result(),
        blob_delete_task.result(),
    )
    results = [_settled(outcome) for outcome in outcomes]
    evidence.update(dict(zip(_KEYS, results, strict=True)))
    values: list[Capability] = [distribution, *results]
    score = sum(1 for value in values if value is True)
    evidence["capability_score"] = f"{score}/6"
    profile = registry_profile(client)
    host = client.host
    if score == 6:
        return Verdict(Status.PASS, "Full capability support (6/6)", evidence)
    if all(value == UNKNOWN for value in results):
        # No probe got an answer: the matrix is not established, whatever /v2/ said.
        errors = [outcome for outcome in outcomes if isinstance(outcome, RegistryError)]
        failure = None
        if image.status in (401, 403):
            failure = failure_from_refusal(client, image.response, ping, repository)
        elif image.status == 429 or image.status >= 500:
            failure = failure_from_error(client, client.error_for(image.response))
        elif errors:
            failure = failure_from_error(client, errors[0])
        if failure is not None:
            return failure_verdict("capabilities", failure, evidence)
        reason = f": {errors[0].message}" if errors else ""
        return Verdict(
            Status.FAIL,
            f"Cannot probe capabilities: no probe was answered ({score}/6){reason}",
            evidence,
            advice("no_permission", profile, host=host, operation="push"),
            (NO_PERMISSION_RECOMMENDATION,),
        )
    # What the registry refused is said apart from what no probe could establish: "not confirmed"
    # for a capability measured as absent would understate it.
    unsupported = [
        name.removeprefix("supports_") for name, value in zip(_KEYS, results, strict=True) if value is False
    ]
    unconfirmed = [
        name.removeprefix("supports_")
        for name, value in zip(_KEYS, results, strict=True)
        if value is not True and value is not False
    ]
    if distribution is not True:
        unconfirmed.insert(0, "distribution_api")
    missing = "; ".join(
        f"{label}: {', '.join(names)}"
        for label, names in (("unsupported", unsupported), ("not confirmed", unconfirmed))
        if names
    )
    remediation: list[str] = []
    recs: list[str] = []
    if evidence["supports_referrers_api"] is False:
        remediation += advice("referrers_unsupported", profile, host=host)
        recs += recommendations("referrers_unsupported", profile)
    if False in (evidence["supports_manifest_delete"], evidence["supports_blob_delete"]):
        remediation += advice("delete_unsupported", profile, host=host)
        recs += recommendations("delete_unsupported", profile)
    if image.status == 404:
        remediation += advice(
            "test_image_missing", profile, host=host, repository=repository, tag=settings.TestTag
        )
    status = Status.WARN if evidence["supports_referrers_api"] is False else Status.INFO
    # When probes could not get an answer, say what the registry did instead (the first error):
    # "not confirmed" alone would hide a 503 or a rate limit behind a capability verdict.
    errors = [ping.error] if ping.status != 200 and ping.error is not None else []
    errors += [outcome for outcome in outcomes if isinstance(outcome, RegistryError)]
    refusals = [outcome for outcome in outcomes if isinstance(outcome, _Refusal)]
    cause = f"; {host} answered: {errors[0]}" if errors else ""
    if not errors and refusals:
        first = refusals[0]
        answer = status_text(first.status, first.code)
        if first.status == 429:
            cause = f"; {host} rate-limited the probes ({answer})"
        elif ping.status == 200:
            cause = (
                f"; {host} refused the write probes ({answer}): the credentials are valid but not "
                f"allowed to push or delete in {repository}"
            )
        else:
            cause = f"; {host} refused the write probes ({answer})"
        if first.status != 429:
            remediation += advice("no_permission", profile, host=host, operation="push")
            recs.append(NO_PERMISSION_RECOMMENDATION)
    return Verdict(
        status,
        f"Partial capability support ({score}/6): {missing}{cause}",
        evidence,
        tuple(remediation),
        tuple(recs),
    )
