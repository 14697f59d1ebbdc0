"""The five checks against a real, open Debian ``docker-registry`` (distribution 2.8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from oci_checkkit import Runner

from devtools.images import PushedImage, push_referrer, push_tag_schema_index
from devtools.ports import free_port
from devtools.registry import RunningRegistry
from devtools.storage import diff, live_uploads, snapshot, upload_residue
from doctor_core.models import Status

SEED_KEYS = {
    "credentials": {"registry_url", "auth_method", "username", "credentials_valid", "auth_challenge"},
    "pull": {
        "registry_url",
        "test_repository",
        "test_tag",
        "pull_authorized",
        "manifest_digest",
        "http_status",
    },
    "push": {
        "registry_url",
        "test_repository",
        "push_authorized",
        "upload_session_cancelled",
        "http_status",
        "credentials_valid",
    },
    "referrers": {
        "registry_url",
        "referrers_supported",
        "fallback_required",
        "oci_version",
        "referrers_count",
    },
    "capabilities": {
        "registry_url",
        "distribution_version",
        "supports_referrers_api",
        "supports_chunked_upload",
        "supports_cross_repo_mount",
        "supports_manifest_delete",
        "supports_blob_delete",
        "capability_score",
    },
}
EXTRA = {"credentials": {"credentials_source"}}
COMMON = {"registry_type"}


def assert_keys(name: str, evidence: dict[str, Any]) -> None:
    """Exactly the seed's keys, plus the documented common ones (rate limits only when sent)."""
    expected = SEED_KEYS[name] | EXTRA.get(name, set()) | COMMON
    assert set(evidence) - {"rate_limit_limit", "rate_limit_remaining", "tls_verified"} == expected


@pytest.fixture
def runner_for(oci_checks: Callable[..., Runner]) -> Callable[..., Runner]:
    def make(registry: RunningRegistry, repository: str, **overrides: Any) -> Runner:
        return oci_checks(registry.oci_config(TestRepository=repository, **overrides))

    return make


async def test_open_registry_all_checks(
    open_registry: RunningRegistry, test_image: PushedImage, runner_for: Callable[..., Runner]
) -> None:
    runner = runner_for(open_registry, test_image.repository)
    before = snapshot(open_registry.storage)

    credentials = await runner.run("credentials")
    assert credentials.status is Status.PASS, credentials
    # Nothing was verified: the message says anonymous access was accepted, not "Credentials valid".
    expected = f"Anonymous access accepted by {open_registry.host} (no credentials configured)"
    assert credentials.message == expected
    assert credentials.evidence["auth_method"] == "anonymous"
    assert credentials.evidence["credentials_valid"] is True
    assert credentials.evidence["auth_challenge"] is None
    assert credentials.evidence["registry_type"] == "distribution"
    assert_keys("credentials", credentials.evidence)

    pull = await runner.run("pull")
    assert pull.status is Status.PASS, pull
    assert pull.evidence["manifest_digest"] == test_image.digest
    assert pull.evidence["http_status"] == 200 and pull.evidence["pull_authorized"] is True
    assert pull.message == f"Pull authorized ({test_image.digest[:19]}...)"
    assert_keys("pull", pull.evidence)

    push = await runner.run("push")
    assert push.status is Status.PASS, push
    assert push.evidence["push_authorized"] is True
    assert push.evidence["upload_session_cancelled"] is True
    assert push.evidence["credentials_valid"] is True
    assert push.message == "Push authorization verified"  # the seed's line
    assert_keys("push", push.evidence)
    # The test image exists: the mount probe proves push rights without writing anything.
    assert diff(before, snapshot(open_registry.storage)).empty, diff(before, snapshot(open_registry.storage))

    referrers = await runner.run("referrers")
    assert referrers.status is Status.WARN, referrers
    assert referrers.message == "Referrers API not supported (using fallback)"
    assert referrers.evidence["referrers_supported"] is False
    assert referrers.evidence["fallback_required"] is True
    assert referrers.evidence["referrers_count"] == 0
    assert referrers.evidence["oci_version"] == "registry/2.0"
    fallback_line = "Referrers API: referrer discovery uses tag-based fallback automatically"
    assert fallback_line in referrers.recommendations
    assert any("distribution/distribution#4828" in step for step in referrers.remediation)
    assert_keys("referrers", referrers.evidence)

    capabilities = await runner.run("capabilities")
    evidence = capabilities.evidence
    assert evidence["distribution_version"] == "registry/2.0"
    assert evidence["supports_referrers_api"] is False
    assert evidence["supports_chunked_upload"] is True
    assert evidence["supports_cross_repo_mount"] is True
    assert evidence["supports_manifest_delete"] is True
    assert evidence["supports_blob_delete"] is True
    assert evidence["capability_score"] == "5/6"
    assert capabilities.status is Status.WARN  # the referrers API is missing
    assert capabilities.message == "Partial capability support (5/6): unsupported: referrers_api"
    assert_keys("capabilities", evidence)

    assert live_uploads(open_registry.storage) == []
    for outcome in (credentials, pull, push, referrers, capabilities):
        assert outcome.metrics["http_requests"] >= 1, outcome


async def test_referrers_counted_through_the_fallback(
    open_registry: RunningRegistry, test_image: PushedImage, runner_for: Callable[..., Runner]
) -> None:
    sbom = push_referrer(open_registry, test_image.repository, test_image, "application/vnd.example.sbom")
    push_tag_schema_index(open_registry, test_image.repository, test_image.digest, [sbom])
    outcome = await runner_for(open_registry, test_image.repository).run("referrers")
    assert outcome.status is Status.WARN
    assert outcome.evidence["referrers_count"] == 1


async def test_push_without_test_image_cancels_its_session(
    open_registry: RunningRegistry, unique_repo: str, runner_for: Callable[..., Runner]
) -> None:
    runner = runner_for(open_registry, unique_repo)
    before = snapshot(open_registry.storage)
    push = await runner.run("push")
    assert push.status is Status.PASS, push
    assert push.evidence["http_status"] == 202
    assert push.evidence["upload_session_cancelled"] is True
    assert live_uploads(open_registry.storage) == []
    # What distribution 2.8 keeps of a cancelled upload (documented residue, not a live session):
    # the repository directory (it did not exist) and _uploads/<uuid>/hashstates/sha256/0.
    changes = diff(before, snapshot(open_registry.storage))
    print(changes)
    repo_dir = f"docker/registry/v2/repositories/{unique_repo}"
    assert not changes.removed and not changes.changed
    assert changes.added and all(path.startswith(repo_dir) for path in changes.added)
    residue = [path for path in upload_residue(open_registry.storage) if path.startswith(repo_dir)]
    assert len(residue) == 1


async def test_missing_test_image(
    open_registry: RunningRegistry, unique_repo: str, runner_for: Callable[..., Runner]
) -> None:
    runner = runner_for(open_registry, unique_repo, TestTag="nope")
    pull = await runner.run("pull")
    assert pull.status is Status.INFO, pull
    assert pull.message.startswith("Test image not found (can't verify)")
    assert pull.evidence["http_status"] == 404 and pull.evidence["manifest_digest"] is None
    assert any("OCI__TestRepository" in step for step in pull.remediation)

    referrers = await runner.run("referrers")
    assert referrers.status is Status.WARN
    assert "synthetic digest" in referrers.message
    assert referrers.evidence["referrers_count"] is None
    assert referrers.evidence["fallback_required"] is True

    capabilities = await runner.run("capabilities")
    assert capabilities.evidence["supports_cross_repo_mount"] == "unknown"
    assert live_uploads(open_registry.storage) == []


async def test_capabilities_on_a_registry_without_delete(
    nodelete_registry: RunningRegistry, unique_repo: str, runner_for: Callable[..., Runner]
) -> None:
    outcome = await runner_for(nodelete_registry, unique_repo).run("capabilities")
    assert outcome.evidence["supports_manifest_delete"] is False
    assert outcome.evidence["supports_blob_delete"] is False
    assert outcome.evidence["supports_chunked_upload"] is True
    assert any("storage.delete.enabled" in step for step in outcome.remediation)
    assert live_uploads(nodelete_registry.storage) == []


async def test_unreachable_registry_fails_naming_the_fault(oci_checks: Callable[..., Runner]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    runner = oci_checks({"RegistryUrl": url})
    outcome = await runner.run("credentials")
    assert outcome.status is Status.FAIL
    assert outcome.message == "Cannot verify credentials: registry unreachable (connection refused)"
    # The hand-run step names the registry as configured: a plain-http registry is not told to try https.
    assert f"Verify network connectivity: curl -v {url}/v2/" in outcome.remediation
    assert not any("https://" in step for step in outcome.remediation)
    # A Warn/Info default severity grades the registry's answers; an unreachable registry gave
    # none, so every check fails (a CI run of just one of them must not exit 0).
    for name in ("pull", "push", "referrers", "capabilities"):
        other = await runner.run(name)
        assert other.status is Status.FAIL, (name, other.message)
        assert other.message.endswith(": registry unreachable (connection refused)")
        assert other.cause == outcome.cause and outcome.cause is not None  # one cause, stated alike


async def test_not_configured(oci_checks: Callable[..., Runner]) -> None:
    runner = oci_checks({})
    credentials = await runner.run("credentials")
    assert credentials.status is Status.FAIL
    assert credentials.message == "OCI.RegistryUrl is not configured"
    assert any("OCI__RegistryUrl" in step for step in credentials.remediation)
    for name in ("pull", "push", "referrers", "capabilities"):
        outcome = await runner.run(name)
        assert outcome.status is Status.SKIP
        assert outcome.message == "not run: OCI.RegistryUrl is not configured"
        assert_keys(name, outcome.evidence)


async def test_username_without_password_fails_before_any_request(oci_checks: Callable[..., Runner]) -> None:
    runner = oci_checks({"RegistryUrl": "https://registry.invalid", "Username": "svc"})
    outcome = await runner.run("credentials")
    assert outcome.status is Status.FAIL
    assert "without a password" in outcome.message
    assert outcome.metrics["http_requests"] == 0
