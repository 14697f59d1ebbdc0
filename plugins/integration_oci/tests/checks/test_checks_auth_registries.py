"""The checks against real registries with authentication: htpasswd over TLS, and token auth."""

from __future__ import annotations

from collections.abc import Callable

from oci_checkkit import Runner

from devtools.images import PushedImage
from devtools.registry import RunningRegistry
from devtools.storage import diff, live_uploads, snapshot
from doctor_core.models import Status


async def test_tls_basic_auth_right_password_passes(
    tls_registry: RunningRegistry,
    unique_repo: str,
    push_test_image: Callable[..., PushedImage],
    oci_checks: Callable[..., Runner],
) -> None:
    image = push_test_image(tls_registry, unique_repo)
    runner = oci_checks(tls_registry.oci_config(TestRepository=unique_repo))
    credentials = await runner.run("credentials")
    assert credentials.status is Status.PASS, credentials
    assert credentials.message == f"Credentials valid for {tls_registry.host}"
    assert credentials.evidence["auth_method"] == "basic"
    assert credentials.evidence["username"] == "admin"
    assert credentials.evidence["credentials_valid"] is True
    challenge = credentials.evidence["auth_challenge"]
    assert isinstance(challenge, str) and challenge.startswith("Basic realm=")
    assert credentials.evidence["credentials_source"] == "config"
    pull = await runner.run("pull")
    assert pull.status is Status.PASS and pull.evidence["manifest_digest"] == image.digest
    push = await runner.run("push")
    assert push.status is Status.PASS, push
    password = tls_registry.users["admin"]
    for outcome in (credentials, pull, push):
        assert password not in repr(outcome.model_dump())
    assert live_uploads(tls_registry.storage) == []


async def test_tls_basic_auth_wrong_password_fails(
    tls_registry: RunningRegistry, unique_repo: str, oci_checks: Callable[..., Runner]
) -> None:
    wrong = "not-the-password-123"
    runner = oci_checks(tls_registry.oci_config(TestRepository=unique_repo, Password=wrong))
    outcome = await runner.run("credentials")
    assert outcome.status is Status.FAIL, outcome
    assert outcome.message.startswith("Invalid credentials (401")
    assert outcome.evidence["credentials_valid"] is False
    assert outcome.remediation[0] == "Verify username and password are correct"
    assert wrong not in repr(outcome.model_dump())
    push = await runner.run("push")
    assert push.status is Status.FAIL and push.evidence["credentials_valid"] is False
    assert "invalid credentials" in push.message


async def test_tls_without_ca_bundle_is_a_clear_tls_failure(
    tls_registry: RunningRegistry, unique_repo: str, oci_checks: Callable[..., Runner]
) -> None:
    runner = oci_checks(tls_registry.oci_config(TestRepository=unique_repo, CaBundle=None))
    outcome = await runner.run("credentials")
    assert outcome.status is Status.FAIL, outcome
    assert outcome.message == "Cannot verify credentials: registry unreachable (TLS certificate not verified)"
    assert outcome.cause is not None and "certificate verification failed" in outcome.cause.summary
    steps = " ".join(outcome.remediation)
    assert "OCI__CaBundle" in steps and "--insecure" in steps


async def test_insecure_mode_says_so(
    tls_registry: RunningRegistry, unique_repo: str, oci_checks: Callable[..., Runner]
) -> None:
    runner = oci_checks(tls_registry.oci_config(TestRepository=unique_repo, CaBundle=None, Insecure=True))
    outcome = await runner.run("credentials")
    assert outcome.status is Status.PASS, outcome
    assert "TLS verification is disabled" in outcome.message
    assert outcome.evidence["tls_verified"] is False


async def test_token_auth_reader_may_pull_but_not_push(
    token_registry: RunningRegistry,
    unique_repo: str,
    push_test_image: Callable[..., PushedImage],
    oci_checks: Callable[..., Runner],
) -> None:
    image = push_test_image(token_registry, unique_repo)
    user, password = token_registry.credentials("reader")
    runner = oci_checks(
        token_registry.oci_config(TestRepository=unique_repo, Username=user, Password=password)
    )
    credentials = await runner.run("credentials")
    assert credentials.status is Status.PASS, credentials
    assert credentials.evidence["auth_method"] == "bearer"
    challenge = credentials.evidence["auth_challenge"]
    assert isinstance(challenge, str) and challenge.lower().startswith("bearer realm=")
    pull = await runner.run("pull")
    assert pull.status is Status.PASS, pull
    assert pull.evidence["manifest_digest"] == image.digest
    push = await runner.run("push")
    assert push.status is Status.FAIL, push
    assert push.message.startswith("No push permission")
    assert "(401" in push.message  # distribution answers 401 insufficient_scope, never 403
    assert push.evidence["credentials_valid"] is True
    assert push.evidence["push_authorized"] is False
    assert push.evidence["http_status"] == 401
    assert "For push: Contributor/Writer role is required" in push.remediation
    assert live_uploads(token_registry.storage) == []
    metrics = push.metrics
    assert metrics["http_requests"] >= 1 and "token_fetches" in metrics


async def test_token_auth_admin_pushes_and_cancels(
    token_registry: RunningRegistry,
    unique_repo: str,
    push_test_image: Callable[..., PushedImage],
    oci_checks: Callable[..., Runner],
) -> None:
    runner = oci_checks(token_registry.oci_config(TestRepository=unique_repo))
    push = await runner.run("push")
    assert push.status is Status.PASS, push
    assert push.evidence["http_status"] == 202  # no test image yet: POST + DELETE
    assert push.evidence["upload_session_cancelled"] is True
    push_test_image(token_registry, unique_repo)
    before = snapshot(token_registry.storage)
    mounted = await oci_checks(token_registry.oci_config(TestRepository=unique_repo)).run("push")
    assert mounted.status is Status.PASS, mounted
    assert mounted.evidence["http_status"] == 201  # the mount probe, with a pull,push token
    assert diff(before, snapshot(token_registry.storage)).empty
    capabilities = await runner.run("capabilities")
    assert capabilities.evidence["supports_chunked_upload"] is True
    assert capabilities.evidence["supports_manifest_delete"] is True
    assert live_uploads(token_registry.storage) == []
