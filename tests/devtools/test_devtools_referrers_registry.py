"""The referrers-API registry (oras-project/distribution) is found or built, starts like docker-registry
and serves the OCI 1.1 referrers API with the deviations its README documents."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from devtools.images import push_image, push_referrer
from devtools.naming import repository_name
from devtools.referrers_registry import (
    ENV_BINARY,
    ReferrersRegistryUnavailable,
    find_referrers_registry,
)
from devtools.registry import RunningRegistry

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def test_env_variable_names_the_binary(
    monkeypatch: pytest.MonkeyPatch, referrers_registry_binary: Path
) -> None:
    monkeypatch.setenv(ENV_BINARY, str(referrers_registry_binary))
    assert find_referrers_registry() == referrers_registry_binary


def test_env_variable_pointing_nowhere_is_an_error_not_a_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_BINARY, str(tmp_path / "missing"))
    with pytest.raises(ReferrersRegistryUnavailable, match=ENV_BINARY):
        find_referrers_registry()


def test_open_referrers_registry_pages_by_ten_and_honours_n(referrers_registry: RunningRegistry) -> None:
    repo = repository_name("devtools-referrers", os.getpid())
    image = push_image(referrers_registry, repo)
    pushed = {
        push_referrer(referrers_registry, repo, image, "application/x-a", annotations={"i": str(i)}).digest
        for i in range(12)
    }
    http = referrers_registry.http()
    first = http.request("GET", f"/v2/{repo}/referrers/{image.digest}")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith(OCI_INDEX)
    assert len(first.json()["manifests"]) == 10
    assert 'rel="next"' in first.headers["link"]
    whole = http.request("GET", f"/v2/{repo}/referrers/{image.digest}", params={"n": "100"})
    assert {m["digest"] for m in whole.json()["manifests"]} == pushed
    assert "link" not in whole.headers


def test_token_referrers_registry_challenges(referrers_token_registry: RunningRegistry) -> None:
    repo = repository_name("devtools-referrers-token", os.getpid())
    image = push_image(referrers_token_registry, repo)
    anonymous = httpx.get(f"{referrers_token_registry.url}/v2/{repo}/referrers/{image.digest}")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer realm=")
    reader = referrers_token_registry.http("reader")
    answer = reader.request("GET", f"/v2/{repo}/referrers/{image.digest}")
    assert answer.status_code == 200 and answer.json()["manifests"] == []
