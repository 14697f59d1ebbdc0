"""The referrers check with a cosign repository (``OCI.CosignRepository``, else ``COSIGN_REPOSITORY``),
against the real, open Debian ``docker-registry``: ``referrers_count`` comes from discovery, which
reads the cosign-style tags there; the evidence names it only when one is in effect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from oci_checkkit import Runner

from devtools.images import PushedImage, push_cosign_tags, push_image, push_referrer, push_tag_schema_index
from devtools.registry import RunningRegistry
from doctor_core.models import Status

SEED_KEYS = {"registry_url", "referrers_supported", "fallback_required", "oci_version", "referrers_count"}
COMMON = {"registry_type"}


@dataclass(frozen=True)
class Signed:
    registry: RunningRegistry
    repo: str
    sigs: str
    image: PushedImage

    def runner(self, oci_checks: Callable[..., Runner], **overrides: Any) -> Runner:
        return oci_checks(self.registry.oci_config(TestRepository=self.repo, TestTag="v1", **overrides))


@pytest.fixture
def signed(open_registry: RunningRegistry, unique_repo: str) -> Signed:
    """One SBOM in the image's tag-schema index and one own ``.sig``; ``.sig/.att/.sbom`` in ``sigs``."""
    image = push_image(open_registry, unique_repo, "v1")
    sbom = push_referrer(open_registry, unique_repo, image, "application/spdx+json")
    push_tag_schema_index(open_registry, unique_repo, image.digest, [sbom])
    push_cosign_tags(open_registry, unique_repo, image.digest, ["sig"])
    sigs = f"{unique_repo}-signatures"
    push_cosign_tags(open_registry, sigs, image.digest)
    return Signed(open_registry, unique_repo, sigs, image)


def keys(evidence: dict[str, Any]) -> set[str]:
    return set(evidence) - {"rate_limit_limit", "rate_limit_remaining", "tls_verified"}


async def test_without_a_cosign_repository_the_evidence_is_the_seeds(
    signed: Signed, oci_checks: Callable[..., Runner]
) -> None:
    outcome = await signed.runner(oci_checks).run("referrers")
    assert outcome.status is Status.WARN, outcome
    assert outcome.evidence["referrers_count"] == 2  # the index's SBOM and the image's own .sig
    assert keys(outcome.evidence) == SEED_KEYS | COMMON


async def test_oci_cosign_repository_moves_the_count_and_is_in_the_evidence(
    signed: Signed, oci_checks: Callable[..., Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_REPOSITORY", f"{signed.registry.host}/{signed.repo}-elsewhere")
    outcome = await signed.runner(oci_checks, CosignRepository=signed.sigs).run("referrers")
    assert outcome.status is Status.WARN, outcome
    assert outcome.message == "Referrers API not supported (using fallback)"
    assert outcome.evidence["cosign_repository"] == f"{signed.registry.host}/{signed.sigs}"
    assert outcome.evidence["referrers_count"] == 4  # the index's SBOM and the three tags in sigs
    assert keys(outcome.evidence) == SEED_KEYS | COMMON | {"cosign_repository"}


async def test_cosign_repository_from_the_environment(
    signed: Signed, oci_checks: Callable[..., Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_REPOSITORY", f"{signed.registry.host}/{signed.sigs}")
    outcome = await signed.runner(oci_checks).run("referrers")
    assert outcome.evidence["cosign_repository"] == f"{signed.registry.host}/{signed.sigs}"
    assert outcome.evidence["referrers_count"] == 4
    # an empty OCI.CosignRepository ignores the environment variable
    ignored = await signed.runner(oci_checks, CosignRepository="").run("referrers")
    assert "cosign_repository" not in ignored.evidence
    assert ignored.evidence["referrers_count"] == 2


async def test_a_malformed_environment_value_is_reported_by_the_check(
    signed: Signed, oci_checks: Callable[..., Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_REPOSITORY", "team/signatures:v1")
    outcome = await signed.runner(oci_checks).run("referrers")
    assert outcome.status is Status.WARN
    assert outcome.message.startswith(
        "Could not count referrers: invalid COSIGN_REPOSITORY 'team/signatures:v1': "
        "a repository cannot have a tag"
    )
    assert "cosign_repository" not in outcome.evidence
    assert any("COSIGN_REPOSITORY" in step for step in outcome.remediation)


async def test_the_capabilities_check_does_not_depend_on_it(
    signed: Signed, oci_checks: Callable[..., Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = await signed.runner(oci_checks).run("capabilities")
    monkeypatch.setenv("COSIGN_REPOSITORY", f"{signed.registry.host}/{signed.sigs}")
    moved = await signed.runner(oci_checks, CosignRepository=signed.sigs).run("capabilities")
    assert (moved.status, moved.message) == (plain.status, plain.message)
    assert moved.evidence == plain.evidence
    assert "cosign_repository" not in moved.evidence


def test_a_malformed_configuration_key_is_exit_2_naming_it(doctor_cli: Callable[..., Any]) -> None:
    result = doctor_cli(
        "--check",
        "check.integration.oci.referrers",
        environ={"OCI__RegistryUrl": "http://127.0.0.1:9", "OCI__CosignRepository": "Team/Signatures"},
    )
    assert result.exit_code == 2
    assert "OCI.CosignRepository" in result.stderr and "OCI__CosignRepository" in result.stderr
    assert "must be lowercase" in result.stderr
    assert "Traceback" not in result.stderr
