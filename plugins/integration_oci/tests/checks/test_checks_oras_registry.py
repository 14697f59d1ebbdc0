"""The referrers and capabilities checks against a real registry *with* the referrers API
(oras-project/distribution): the seed's healthy answer, and cosign tags counted beside the API."""

from __future__ import annotations

from collections.abc import Callable

from oci_checkkit import Runner

from devtools.images import push_cosign_tags, push_image, push_referrer
from devtools.registry import RunningRegistry
from doctor_core.models import Status

SBOM = "application/spdx+json"


async def test_referrers_check_passes_and_counts_cosign_tags_beside_the_api(
    referrers_registry: RunningRegistry, oci_checks: Callable[..., Runner]
) -> None:
    repo = "test/oras-check"
    image = push_image(referrers_registry, repo, "latest")
    push_referrer(referrers_registry, repo, image, SBOM, artifact_type_in_config=True)
    push_cosign_tags(referrers_registry, repo, image.digest, ["sig"])
    runner = oci_checks(referrers_registry.oci_config(TestRepository=repo))
    outcome = await runner.run("referrers")
    assert outcome.status is Status.PASS, outcome
    assert outcome.message == "Referrers API supported (OCI 1.1)"
    assert outcome.evidence["referrers_supported"] is True
    assert outcome.evidence["fallback_required"] is False
    # the API's referrer and the cosign v2 signature tag (issue #15: it counted 1 before)
    assert outcome.evidence["referrers_count"] == 2
    capabilities = await runner.run("capabilities")
    assert capabilities.status is Status.PASS, capabilities
    assert capabilities.evidence["capability_score"] == "6/6"
