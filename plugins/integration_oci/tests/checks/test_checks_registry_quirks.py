"""respx tests for registry behaviour no local registry shows (GHCR, Docker Hub, Quay, Harbor ...).

Each test mocks only the HTTP a real registry of that kind was reported to send (sources in
``doctor_oci.registries``); the checks themselves run unmodified.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from doctor_oci.client import RegistryClient, RetryPolicy
from doctor_oci.settings import OciSettings
from oci_checkkit import Runner

from doctor_core.models import Status

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LAYER = "sha256:" + hashlib.sha256(b"layer").hexdigest()
CONFIG = "sha256:" + hashlib.sha256(b"{}").hexdigest()
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": CONFIG, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": LAYER, "size": 5}],
    }
).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def registry_error(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"errors": [{"code": code, "message": code.lower().replace("_", " ")}]}
    return httpx.Response(status, json=body, headers=headers)


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def quirk_runner(oci_checks: Callable[..., Runner]) -> Callable[..., Runner]:
    """A runner whose client never sleeps between retries (the retries still happen)."""

    def make(**config: Any) -> Runner:
        settings = OciSettings.model_validate(config)
        client = RegistryClient(settings, retry_policy=RetryPolicy(sleep=_no_sleep))
        return oci_checks(config, client=client)

    return make


def serve_image(mock: respx.MockRouter, base: str, repository: str, tag: str = "latest") -> None:
    headers = {"Docker-Content-Digest": DIGEST, "Content-Type": OCI_MANIFEST}
    for reference in (tag, DIGEST):
        mock.head(f"{base}/v2/{repository}/manifests/{reference}").respond(200, headers=headers)
        mock.get(f"{base}/v2/{repository}/manifests/{reference}").respond(
            200, headers=headers, content=MANIFEST
        )


def no_fallback_tags(mock: respx.MockRouter, base: str, repository: str) -> None:
    """No referrers tag, no cosign tags: the tag fallback finds nothing."""
    mock.get(f"{base}/v2/{repository}/tags/list").respond(200, json={"name": repository, "tags": ["latest"]})
    mock.get(url__regex=rf"{base}/v2/{repository}/manifests/sha256-.*").mock(
        return_value=registry_error(404, "MANIFEST_UNKNOWN")
    )


async def test_ghcr_404_manifest_unknown_warns_with_ghcr_advice(
    mock: respx.MockRouter, quirk_runner: Callable[..., Runner]
) -> None:
    base, repo = "https://ghcr.io", "acme/app"
    mock.get(f"{base}/v2/").respond(200)
    serve_image(mock, base, repo)
    no_fallback_tags(mock, base, repo)
    mock.get(f"{base}/v2/{repo}/referrers/{DIGEST}").mock(
        return_value=registry_error(404, "MANIFEST_UNKNOWN")
    )
    outcome = await quirk_runner(RegistryUrl="ghcr.io", TestRepository=repo).run("referrers")
    assert outcome.status is Status.WARN, outcome
    assert outcome.message == "Referrers API not supported (using fallback)"
    assert outcome.evidence["registry_type"] == "ghcr"
    assert outcome.evidence["fallback_required"] is True and outcome.evidence["referrers_supported"] is False
    assert outcome.evidence["referrers_count"] == 0
    assert outcome.evidence["oci_version"] is None
    steps = " ".join(outcome.remediation)
    assert "GHCR does not implement the referrers API" in steps and "MANIFEST_UNKNOWN" in steps
    assert "GHCR: no action required; push referrers with the tag-schema pattern" in outcome.recommendations


async def test_docker_hub_429_gives_rate_limit_advice(
    mock: respx.MockRouter, quirk_runner: Callable[..., Runner]
) -> None:
    base, repo = "https://registry-1.docker.io", "library/alpine"
    mock.get(f"{base}/v2/").respond(200)
    limited = mock.head(f"{base}/v2/{repo}/manifests/latest").mock(
        return_value=httpx.Response(
            429,
            headers={
                "ratelimit-limit": "100;w=21600",
                "ratelimit-remaining": "0;w=21600",
                "docker-ratelimit-source": "203.0.113.7",
            },
        )
    )
    outcome = await quirk_runner(RegistryUrl="docker.io", TestRepository=repo).run("pull")
    assert limited.call_count >= 2  # retried with back-off before giving up
    assert outcome.status is Status.FAIL, outcome
    assert "rate limited (429)" in outcome.message
    assert outcome.evidence["registry_type"] == "dockerhub"
    assert outcome.evidence["http_status"] == 429
    assert outcome.evidence["rate_limit_limit"] == 100 and outcome.evidence["rate_limit_remaining"] == 0
    assert "Use authenticated requests to increase rate limits" in outcome.remediation
    assert "Consider using a pull-through cache" in outcome.remediation
    assert outcome.recommendations


async def test_quay_400_on_an_unknown_subject_is_not_called_unsupported(
    mock: respx.MockRouter, quirk_runner: Callable[..., Runner]
) -> None:
    base, repo = "https://quay.io", "acme/app"
    mock.get(f"{base}/v2/").respond(200)
    mock.head(f"{base}/v2/{repo}/manifests/latest").respond(404)
    probe = mock.get(url__regex=rf"{base}/v2/{repo}/referrers/sha256:[0-9a-f]{{64}}").mock(
        return_value=registry_error(400, "MANIFEST_INVALID")
    )
    outcome = await quirk_runner(RegistryUrl="quay.io", TestRepository=repo).run("referrers")
    assert probe.called
    probed = probe.calls.last.request.url.path.rsplit("/", 1)[1]
    assert probed == "sha256:" + hashlib.sha256(b"doctor referrers probe").hexdigest()
    assert outcome.status is Status.INFO, outcome
    assert "synthetic digest" in outcome.message
    assert outcome.evidence["referrers_supported"] is None and outcome.evidence["referrers_count"] is None
    assert any("OCI__TestRepository" in step for step in outcome.remediation)


async def test_native_api_passes_and_counts(
    mock: respx.MockRouter, quirk_runner: Callable[..., Runner]
) -> None:
    base, repo = "https://quay.io", "acme/app"
    mock.get(f"{base}/v2/").respond(200)
    serve_image(mock, base, repo)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": LAYER, "size": 10, "artifactType": "application/spdx+json"}
        ],
    }
    mock.get(f"{base}/v2/{repo}/referrers/{DIGEST}").respond(
        200, json=index, headers={"Content-Type": OCI_INDEX}
    )
    # the cosign tags (and the speculative referrers tag) read beside the API: none pushed
    mock.get(url__regex=rf"^{base}/v2/{repo}/manifests/sha256-[0-9a-f]+(\.(sig|att|sbom))?$").respond(
        404, json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
    )
    outcome = await quirk_runner(RegistryUrl="quay.io", TestRepository=repo).run("referrers")
    assert outcome.status is Status.PASS, outcome
    assert outcome.message == "Referrers API supported (OCI 1.1)"
    assert outcome.evidence["referrers_count"] == 1
    assert outcome.evidence["fallback_required"] is False


async def test_false_200_that_is_not_an_index_means_fallback(
    mock: respx.MockRouter, quirk_runner: Callable[..., Runner]
) -> None:
    base, repo = "https://registry.example.com", "acme/app"
    mock.get(f"{base}/v2/").respond(200, headers={"Docker-Distribution-Api-Version": "registry/2.0"})
    serve_image(mock, base, repo)
    no_fallback_tags(mock, base, repo)
    mock.get(f"{base}/v2/{repo}/referrers/{DIGEST}").respond(
        200, text="<html>welcome</html>", headers={"Content-Type": "text/html"}
    )
    outcome = await quirk_runner(RegistryUrl="registry.example.com", TestRepository=repo).run("referrers")
    assert outcome.status is Status.WARN, outcome
    assert outcome.evidence["fallback_required"] is True
    assert outcome.evidence["oci_version"] == "registry/2.0"


async def test_harbor_without_the_api_gets_upgrade_advice(
    mock: respx.MockRouter, quirk_runner: Callable[..., Runner]
) -> None:
    base, repo = "https://harbor.example.com", "library/app"
    challenge = 'Bearer realm="https://harbor.example.com/service/token",service="harbor-registry"'
    mock.get(f"{base}/v2/").mock(
        side_effect=lambda request: (
            httpx.Response(200)
            if "authorization" in request.headers
            else httpx.Response(401, headers={"WWW-Authenticate": challenge})
        )
    )
    mock.get(url__startswith=f"{base}/service/token").respond(200, json={"token": "harbor-test-token-value"})
    serve_image(mock, base, repo)
    no_fallback_tags(mock, base, repo)
    mock.get(f"{base}/v2/{repo}/referrers/{DIGEST}").respond(404, text="404 page not found")
    runner = quirk_runner(RegistryUrl="harbor.example.com", TestRepository=repo)
    credentials = await runner.run("credentials")
    assert credentials.status is Status.PASS, credentials
    outcome = await runner.run("referrers")
    assert outcome.status is Status.WARN, outcome
    assert outcome.evidence["registry_type"] == "harbor"
    assert any("Upgrade Harbor to 2.8 or later" in step for step in outcome.remediation)
    assert "Upgrade Harbor to 2.8+ for the native referrers API" in outcome.recommendations
    assert "harbor-test-token-value" not in repr(outcome.model_dump())


async def test_delete_405_and_the_full_capability_path(
    mock: respx.MockRouter, quirk_runner: Callable[..., Runner]
) -> None:
    base, repo = "https://registry.example.com", "acme/app"
    mock.get(f"{base}/v2/").respond(200, headers={"Docker-Distribution-Api-Version": "registry/2.0"})
    serve_image(mock, base, repo)
    mock.get(f"{base}/v2/{repo}/referrers/{DIGEST}").respond(
        200,
        json={"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []},
        headers={"Content-Type": OCI_INDEX},
    )
    session = f"{base}/v2/{repo}/blobs/uploads/u1?_state=abc"

    def uploads(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("mount"):
            return httpx.Response(201, headers={"Location": f"/v2/{repo}/blobs/{LAYER}"})
        return httpx.Response(202, headers={"Location": session, "Range": "0-0"})

    mock.post(f"{base}/v2/{repo}/blobs/uploads/").mock(side_effect=uploads)
    patch = mock.patch(session).mock(
        side_effect=lambda request: httpx.Response(
            202,
            headers={
                "Location": f"{base}/v2/{repo}/blobs/uploads/u1?_state=def",
                "Range": f"0-{int(request.headers['content-range'].split('-')[1])}",
            },
        )
    )
    cancel = mock.delete(f"{base}/v2/{repo}/blobs/uploads/u1?_state=def").respond(204)
    mock.delete(url__regex=rf"{base}/v2/{repo}/(manifests|blobs)/sha256:[0-9a-f]{{64}}").mock(
        return_value=registry_error(405, "UNSUPPORTED")
    )
    outcome = await quirk_runner(RegistryUrl="registry.example.com", TestRepository=repo).run("capabilities")
    evidence = outcome.evidence
    assert patch.called and cancel.called  # the chunk went to the session, the newest Location was cancelled
    assert evidence["supports_referrers_api"] is True
    assert evidence["supports_chunked_upload"] is True
    assert evidence["supports_cross_repo_mount"] is True
    assert evidence["supports_manifest_delete"] is False
    assert evidence["supports_blob_delete"] is False
    assert evidence["capability_score"] == "4/6"
    assert outcome.status is Status.INFO, outcome  # only non-critical capabilities are missing
    assert outcome.message.startswith("Partial capability support (4/6)")
    assert any("storage.delete.enabled" in step for step in outcome.remediation)


async def test_push_403_is_no_permission_with_valid_credentials(
    mock: respx.MockRouter, quirk_runner: Callable[..., Runner]
) -> None:
    base, repo = "https://myregistry.azurecr.io", "acme/app"
    mock.get(f"{base}/v2/").respond(200)
    mock.head(f"{base}/v2/{repo}/manifests/latest").respond(404)
    mock.post(f"{base}/v2/{repo}/blobs/uploads/").mock(return_value=registry_error(403, "DENIED"))
    # Credentials are configured (an anonymous 403 is "anonymous access refused", see test_diagnosis).
    runner = quirk_runner(
        RegistryUrl="myregistry.azurecr.io", TestRepository=repo, Username="svc", Password="pw-123"
    )
    outcome = await runner.run("push")
    assert outcome.status is Status.FAIL, outcome
    assert outcome.message.startswith("No push permission") and "403 DENIED" in outcome.message
    assert outcome.evidence["credentials_valid"] is True
    assert outcome.evidence["upload_session_cancelled"] is None
    assert any("AcrPush" in step for step in outcome.remediation)


async def test_refused_upload_cancel_warns(
    mock: respx.MockRouter, quirk_runner: Callable[..., Runner]
) -> None:
    base, repo = "https://registry.example.com", "acme/app"
    mock.get(f"{base}/v2/").respond(200, headers={"Docker-Distribution-Api-Version": "registry/2.0"})
    mock.head(f"{base}/v2/{repo}/manifests/latest").respond(404)
    location = f"/v2/{repo}/blobs/uploads/u2?_state=xyz"
    mock.post(f"{base}/v2/{repo}/blobs/uploads/").respond(202, headers={"Location": location})
    cancel = mock.delete(f"{base}{location}").mock(return_value=registry_error(405, "UNSUPPORTED"))
    outcome = await quirk_runner(RegistryUrl="registry.example.com", TestRepository=repo).run("push")
    assert cancel.called  # relative Location resolved, query kept
    assert outcome.status is Status.WARN, outcome
    assert outcome.evidence["push_authorized"] is True
    assert outcome.evidence["upload_session_cancelled"] is False
    assert any("168h" in step for step in outcome.remediation)
