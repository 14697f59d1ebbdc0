"""check.integration.oci.pull -- may these credentials pull the test image?

One ``HEAD /v2/<TestRepository>/manifests/<TestTag>`` with the full Accept list (OCI and Docker
manifests and indexes: distribution 2.8 answers 404 to a HEAD whose Accept lacks the OCI type,
which a naive check reports as "not found"). 200 passes with the digest (``Docker-Content-Digest``,
else a GET); 401 is bad credentials; 403 -- or 401 ``insufficient_scope`` for credentials ``/v2/``
accepted -- is "no pull permission"; 404 is INFO (the image is missing, nothing is proven).

Evidence: ``registry_url``, ``test_repository``, ``test_tag``, ``pull_authorized``,
``manifest_digest``, ``http_status``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from doctor_core import CheckContext, CheckOutcome, Status
from doctor_oci.checks._common import (
    NO_PERMISSION_RECOMMENDATION,
    TEST_IMAGE_RECOMMENDATION,
    Verdict,
    error_code,
    failure_status,
    failure_verdict,
    refused_for_permission,
    resolve_test_image,
    run_probe,
    short_digest,
    status_text,
)
from doctor_oci.checks.diagnosis import credentials_recommendation, failure_from_error, failure_from_refusal
from doctor_oci.client import RegistryClient
from doctor_oci.registries import advice
from doctor_oci.runtime import registry_profile
from doctor_oci.settings import OciSettings


def _evidence(settings: OciSettings, client: RegistryClient | None) -> dict[str, Any]:
    return {
        "registry_url": client.base_url if client is not None else settings.RegistryUrl,
        "test_repository": settings.TestRepository,
        "test_tag": settings.TestTag,
        "pull_authorized": False,
        "manifest_digest": None,
        "http_status": None,
    }


async def run(ctx: CheckContext) -> CheckOutcome:
    """HEAD the test image's manifest and judge pull authorization."""
    return await run_probe(ctx, evidence=_evidence, probe=_probe, doing="pulling from", operation="pull")


async def _probe(
    ctx: CheckContext, client: RegistryClient, settings: OciSettings, evidence: dict[str, Any]
) -> Verdict:
    # The ping (who am I?) and the HEAD (may I pull?) are independent: one round trip, not two.
    ping, image = await asyncio.gather(
        client.ping(), resolve_test_image(client, settings.TestRepository, settings.TestTag)
    )
    response = image.response
    evidence["http_status"] = image.status
    profile = registry_profile(client)
    host = client.host
    target = f"{settings.TestRepository}:{settings.TestTag}"
    code = error_code(response)
    if image.status == 200:
        evidence["pull_authorized"] = True
        evidence["manifest_digest"] = image.digest
        return Verdict(Status.PASS, f"Pull authorized ({short_digest(image.digest)})", evidence)
    if image.status in (401, 403):
        failure = failure_from_refusal(client, response, ping, target)
        if failure is not None:
            return failure_verdict("pull", failure, evidence)
        if refused_for_permission(client, response, ping):
            return Verdict(
                failure_status(ctx),
                f"No pull permission for {target} on {host} ({status_text(image.status, code)}): "
                "the credentials are valid but not allowed to pull",
                evidence,
                advice("no_permission", profile, host=host, operation="pull"),
                (NO_PERMISSION_RECOMMENDATION,),
            )
        return Verdict(
            failure_status(ctx),
            f"Pull not authorized ({status_text(image.status, code)}) for {target} on {host}",
            evidence,
            advice("invalid_credentials", profile, host=host),
            credentials_recommendation(host),
        )
    if image.status == 404:
        return Verdict(
            Status.INFO,
            f"Test image not found (can't verify): {target} does not exist on {host}",
            evidence,
            advice(
                "test_image_missing",
                profile,
                host=host,
                repository=settings.TestRepository,
                tag=settings.TestTag,
            ),
            (TEST_IMAGE_RECOMMENDATION,),
        )
    failure = failure_from_error(client, client.error_for(response))
    if failure is not None:
        return failure_verdict("pull", failure, evidence)
    return Verdict(
        failure_status(ctx),
        f"Unexpected answer to HEAD {target} on {host}: {status_text(image.status, code)}",
        evidence,
        advice("unexpected_response", profile, host=host, status=status_text(image.status, code)),
    )
