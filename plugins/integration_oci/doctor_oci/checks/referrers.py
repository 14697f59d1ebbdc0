"""check.integration.oci.referrers -- does the registry serve the OCI 1.1 referrers API?

Resolve the test image's digest (HEAD), then ask :func:`doctor_oci.referrers.probe_referrers_api`
-- the one shared probe, also used by the capabilities check, cached per run -- and count the
referrers with :func:`doctor_oci.referrers.discover_referrers` (never a second implementation).

* supported (200 with an OCI index, or 404 with one) -> PASS "Referrers API supported (OCI 1.1)";
* anything else (404 without an index, 400, 405, 406, 501, a 200 that is not an index) -> WARN
  "Referrers API not supported (using fallback)": discovery falls back to tags automatically, so
  this is never a FAIL;
* test image missing -> probe with :data:`PROBE_DIGEST` (a real-looking digest, not all zeros:
  Quay answers 400 to unknown subjects) and say so; ``referrers_count`` is then null.

Evidence: ``registry_url``, ``referrers_supported``, ``fallback_required``, ``oci_version`` (the
``Docker-Distribution-API-Version`` header value as sent, or null -- no spec defines an
``OCI-Distribution-API-Version`` header), ``referrers_count``; and ``cosign_repository``
(``registry/repository``) only when one is in effect: ``OCI.CosignRepository``, else cosign's
``COSIGN_REPOSITORY`` (see :func:`doctor_oci.referrers.cosign.cosign_repository_in_effect`), where
the count reads the cosign-style tags. The probe itself -- shared with the capabilities check --
does not depend on it. A malformed ``COSIGN_REPOSITORY`` (``OCI.CosignRepository`` is validated
with the configuration) is reported at the check's severity, without probing.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from doctor_core import CheckContext, CheckOutcome, Status
from doctor_oci.checks._common import (
    NO_PERMISSION_RECOMMENDATION,
    PROBE_DIGEST,
    Verdict,
    error_code,
    failure_status,
    failure_verdict,
    resolve_test_image,
    run_probe,
    status_text,
)
from doctor_oci.checks.diagnosis import failure_from_refusal
from doctor_oci.client import NotFound, RegistryClient
from doctor_oci.client.reference import Reference
from doctor_oci.referrers import discover_referrers, probe_referrers_api
from doctor_oci.referrers.cosign import (
    COSIGN_REPOSITORY_ENV,
    CosignRepository,
    InvalidCosignRepository,
    cosign_repository_in_effect,
)
from doctor_oci.registries import advice, recommendations
from doctor_oci.runtime import registry_profile
from doctor_oci.settings import OciSettings


def _evidence(settings: OciSettings, client: RegistryClient | None) -> dict[str, Any]:
    return {
        "registry_url": client.base_url if client is not None else settings.RegistryUrl,
        "referrers_supported": None,
        "fallback_required": None,
        "oci_version": None,
        "referrers_count": None,
    }


async def run(ctx: CheckContext) -> CheckOutcome:
    """Probe the referrers endpoint for the test image and count its referrers."""
    return await run_probe(ctx, evidence=_evidence, probe=_probe, doing="probing the referrers API of")


async def _probe(
    ctx: CheckContext, client: RegistryClient, settings: OciSettings, evidence: dict[str, Any]
) -> Verdict:
    try:
        cosign = cosign_repository_in_effect(settings)
    except InvalidCosignRepository as exc:
        return Verdict(
            failure_status(ctx),
            f"Could not count referrers: {exc}",
            evidence,
            (
                f"Fix or unset {COSIGN_REPOSITORY_ENV} ([registry/]repository, as cosign takes it), "
                "or set OCI__CosignRepository (an empty value ignores it)",
            ),
        )
    if cosign is not None:
        evidence["cosign_repository"] = str(cosign)
    repository = settings.TestRepository
    ping, image = await asyncio.gather(
        client.ping(), resolve_test_image(client, repository, settings.TestTag)
    )
    evidence["oci_version"] = client.api_version or ping.api_version
    host = client.host
    profile = registry_profile(client)
    synthetic = not image.exists
    if image.status in (401, 403):
        # Access failed: the referrers API could not be probed, which is not a fallback verdict.
        target = f"{repository}:{settings.TestTag}"
        failure = failure_from_refusal(client, image.response, ping, target)
        if failure is not None:
            return failure_verdict("referrers", failure, evidence)
        return Verdict(
            Status.FAIL,
            f"Cannot probe the referrers API: no pull permission for {target} "
            f"({status_text(image.status, error_code(image.response))})",
            evidence,
            advice("no_permission", profile, host=host, operation="pull"),
            (NO_PERMISSION_RECOMMENDATION,),
        )
    digest = image.digest if image.exists and image.digest else PROBE_DIGEST
    note = (
        f" (test image {repository}:{settings.TestTag} not found: probed with a synthetic digest)"
        if synthetic
        else ""
    )
    try:
        probe = await probe_referrers_api(client, repository, digest)
    except NotFound as exc:
        return Verdict(
            Status.INFO,
            f"Could not probe the referrers API: repository {repository} not found on {host} "
            f"({status_text(exc.status, exc.code)})",
            evidence,
            advice("test_image_missing", profile, host=host, repository=repository, tag=settings.TestTag),
        )
    if synthetic and probe.status == 400:
        # The digest is valid, so a 400 means "unknown subject" (Quay: 400 MANIFEST_INVALID), not
        # "no API": only a probe with an existing image can tell.
        return Verdict(
            Status.INFO,
            f"Could not verify the referrers API: the registry answered 400 for a subject that does not "
            f"exist{note}",
            evidence,
            (
                f"GET /v2/{repository}/referrers/<digest> answered: {probe.reason}",
                *advice(
                    "test_image_missing", profile, host=host, repository=repository, tag=settings.TestTag
                ),
            ),
        )
    evidence["referrers_supported"] = probe.supported
    evidence["fallback_required"] = not probe.supported
    if probe.supported:
        if not synthetic:
            # "auto" reuses the cached probe and adds the cosign tags beside the API (issue #15)
            evidence["referrers_count"] = await _count(client, settings, repository, digest, "auto", cosign)
        return Verdict(Status.PASS, f"Referrers API supported (OCI 1.1){note}", evidence)
    if not synthetic:
        evidence["referrers_count"] = await _count(client, settings, repository, digest, "fallback", cosign)
    return Verdict(
        Status.WARN,
        f"Referrers API not supported (using fallback){note}",
        evidence,
        (
            f"GET /v2/{repository}/referrers/<digest> answered: {probe.reason}",
            *advice(
                "referrers_unsupported", profile, host=host, status=probe.status, error_code=probe.error_code
            ),
        ),
        recommendations("referrers_unsupported", profile),
    )


async def _count(
    client: RegistryClient,
    settings: OciSettings,
    repository: str,
    digest: str,
    method: Literal["auto", "fallback"],
    cosign: CosignRepository | None,
) -> int:
    """How many referrers the shared discovery module finds for the subject (the cosign-style
    tags read from ``cosign`` when one is in effect)."""
    reference = Reference.parse(f"{client.host}/{repository}@{digest}")
    result = await discover_referrers(
        reference,
        method=method,
        client=client,
        settings=settings,
        cosign_repository=cosign.reference if cosign is not None else None,
    )
    return len(result.referrers)
