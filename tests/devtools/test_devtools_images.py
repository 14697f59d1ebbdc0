"""Pushed test content is retrievable from the real registry by tag and digest with the right Accept."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

import httpx
import pytest

from devtools.images import (
    COSIGN_KINDS,
    DOCKER_CONFIG,
    EMPTY_DIGEST,
    OCI_CONFIG,
    Descriptor,
    PushedImage,
    delete_image,
    push_cosign_tags,
    push_image,
    push_many_tags,
    push_referrer,
    push_tag_schema_index,
    referrers_tag,
)
from devtools.registry import RunningRegistry
from devtools.registry_http import DOCKER_MANIFEST, MANIFEST_ACCEPT, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST

SBOM = "application/spdx+json"
SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"


def _get(
    registry: RunningRegistry, repo: str, reference: str, accept: str = MANIFEST_ACCEPT
) -> httpx.Response:
    return httpx.get(f"{registry.url}/v2/{repo}/manifests/{reference}", headers={"Accept": accept})


def test_oci_image_by_tag_and_digest(open_registry: RunningRegistry, test_image: PushedImage) -> None:
    repo = test_image.repository
    assert test_image.media_type == OCI_MANIFEST
    for reference in ("latest", test_image.digest):
        response = _get(open_registry, repo, reference)
        assert response.status_code == 200
        assert response.headers["content-type"] == OCI_MANIFEST
        assert response.headers["docker-content-digest"] == test_image.digest
        assert "sha256:" + hashlib.sha256(response.content).hexdigest() == test_image.digest
        assert len(response.content) == test_image.size
    manifest = _get(open_registry, repo, "latest").json()
    assert manifest["config"]["digest"] == test_image.config_digest
    assert [layer["digest"] for layer in manifest["layers"]] == list(test_image.layer_digests)
    for digest in (test_image.config_digest, *test_image.layer_digests):
        blob = httpx.get(f"{open_registry.url}/v2/{repo}/blobs/{digest}")
        assert blob.status_code == 200
        assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == digest
    config = json.loads(httpx.get(f"{open_registry.url}/v2/{repo}/blobs/{test_image.config_digest}").content)
    assert config["rootfs"]["type"] == "layers" and len(config["rootfs"]["diff_ids"]) == 1


def test_oci_manifest_is_hidden_without_an_oci_accept(
    open_registry: RunningRegistry, test_image: PushedImage
) -> None:
    # Distribution 2.8's quirk the pull check must avoid: no OCI type in Accept -> 404.
    response = _get(open_registry, test_image.repository, "latest", accept=DOCKER_MANIFEST)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_docker_schema2_image(open_registry: RunningRegistry, unique_repo: str) -> None:
    image = push_image(open_registry, unique_repo, "v2", oci=False)
    assert image.media_type == DOCKER_MANIFEST
    response = _get(open_registry, unique_repo, "v2")
    assert response.headers["content-type"] == DOCKER_MANIFEST
    assert response.headers["docker-content-digest"] == image.digest
    assert response.json()["config"]["mediaType"] == DOCKER_CONFIG


def test_images_differ_per_repository_and_tag_and_are_deterministic(
    open_registry: RunningRegistry, unique_repo: str
) -> None:
    a = push_image(open_registry, unique_repo, "a")
    b = push_image(open_registry, unique_repo, "b")
    again = push_image(open_registry, unique_repo, "a")
    assert a.digest != b.digest and a.layer_digests != b.layer_digests
    assert again == a
    by_digest = push_image(open_registry, unique_repo, None, content=b"x")
    assert by_digest.tag is None and by_digest.reference == f"{unique_repo}@{by_digest.digest}"
    assert _get(open_registry, unique_repo, by_digest.digest).status_code == 200


def test_referrer_artifact_manifest(open_registry: RunningRegistry, test_image: PushedImage) -> None:
    repo = test_image.repository
    ref = push_referrer(open_registry, repo, test_image, SBOM, annotations={"org.example.kind": "sbom"})
    assert ref == Descriptor(OCI_MANIFEST, ref.digest, ref.size, SBOM, {"org.example.kind": "sbom"})
    response = _get(open_registry, repo, ref.digest)
    assert response.status_code == 200 and response.headers["docker-content-digest"] == ref.digest
    manifest = response.json()
    assert manifest["artifactType"] == SBOM
    assert manifest["subject"] == {
        "mediaType": OCI_MANIFEST,
        "digest": test_image.digest,
        "size": test_image.size,
    }
    assert manifest["config"] == {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2}
    assert manifest["annotations"] == {"org.example.kind": "sbom"}
    # Pushed by digest only: no tag appeared.
    assert httpx.get(f"{open_registry.url}/v2/{repo}/tags/list").json()["tags"] == ["latest"]


def test_referrer_pre_1_1_style_and_tagged(open_registry: RunningRegistry, test_image: PushedImage) -> None:
    repo = test_image.repository
    ref = push_referrer(
        open_registry, repo, test_image.descriptor, SIG, artifact_type_in_config=True, tag="sig"
    )
    manifest = _get(open_registry, repo, "sig").json()
    assert "artifactType" not in manifest
    assert manifest["config"]["mediaType"] == SIG
    assert _get(open_registry, repo, "sig").headers["docker-content-digest"] == ref.digest
    with pytest.raises(ValueError, match="artifact_type"):
        push_referrer(open_registry, repo, test_image, "")
    with pytest.raises(ValueError, match="not a descriptor"):
        push_referrer(open_registry, repo, {"digest": test_image.digest}, SBOM)


def test_tag_schema_index(open_registry: RunningRegistry, test_image: PushedImage) -> None:
    repo = test_image.repository
    refs = [
        push_referrer(open_registry, repo, test_image, SBOM, annotations={"n": "1"}),
        push_referrer(open_registry, repo, test_image, SIG),
    ]
    index = push_tag_schema_index(open_registry, repo, test_image.digest, refs)
    tag = "sha256-" + test_image.digest.removeprefix("sha256:")
    assert referrers_tag(test_image.digest) == tag
    response = _get(open_registry, repo, tag)
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    assert response.headers["docker-content-digest"] == index.digest
    body = response.json()
    assert body["mediaType"] == OCI_INDEX
    assert [Descriptor.from_dict(d) for d in body["manifests"]] == refs
    assert body["manifests"][0]["artifactType"] == SBOM and body["manifests"][0]["annotations"] == {"n": "1"}
    # Without the OCI index type in Accept, distribution 2.8 hides the index.
    assert _get(open_registry, repo, tag, accept=OCI_MANIFEST).status_code == 404


def test_referrers_tag_truncation() -> None:
    assert referrers_tag("sha512:" + "a" * 128) == "sha512-" + "a" * 64
    assert referrers_tag("sha256+b64u:abc") == "sha256-b64u-abc"
    with pytest.raises(ValueError, match="not a digest"):
        referrers_tag("latest")


def test_cosign_tags(open_registry: RunningRegistry, test_image: PushedImage) -> None:
    repo = test_image.repository
    pushed = push_cosign_tags(open_registry, repo, test_image.digest)
    assert set(pushed) == set(COSIGN_KINDS)
    hexpart = test_image.digest.removeprefix("sha256:")
    tags = set(httpx.get(f"{open_registry.url}/v2/{repo}/tags/list").json()["tags"])
    assert tags == {"latest", *(f"sha256-{hexpart}.{kind}" for kind in COSIGN_KINDS)}
    for kind, descriptor in pushed.items():
        response = _get(open_registry, repo, f"sha256-{hexpart}.{kind}")
        assert response.status_code == 200
        assert response.headers["docker-content-digest"] == descriptor.digest
        manifest = response.json()
        assert manifest["mediaType"] == OCI_MANIFEST and "subject" not in manifest
        assert manifest["config"]["mediaType"] == OCI_CONFIG
        # the descriptor carries what the manifest holds (its layer's type), as discovery reports it
        assert manifest["layers"][0]["mediaType"] == descriptor.artifact_type
    with pytest.raises(ValueError, match="unknown cosign tag kinds"):
        push_cosign_tags(open_registry, repo, test_image.digest, kinds=("sig", "bogus"))


def test_content_through_tls_and_token_auth(
    tls_registry: RunningRegistry, token_registry: RunningRegistry, unique_repo: str
) -> None:
    for registry in (tls_registry, token_registry):
        image = push_image(registry, unique_repo, "latest")
        ref = push_referrer(registry, unique_repo, image, SBOM)
        push_tag_schema_index(registry, unique_repo, image.digest, [ref])
        reader = registry.http("reader")
        assert reader.get_manifest(unique_repo, "latest").digest == image.digest
        assert reader.get_manifest(unique_repo, referrers_tag(image.digest)).json()["manifests"][0][
            "digest"
        ] == (ref.digest)


def test_push_many_tags_is_fast(registry_factory: Callable[..., RunningRegistry], unique_repo: str) -> None:
    # A registry of its own: 2000 tags in the shared one would slow every later storage snapshot.
    open_registry = registry_factory("open")
    test_image = push_image(open_registry, unique_repo)
    started = time.monotonic()
    tags = push_many_tags(open_registry, test_image.repository, 2000, test_image)
    elapsed = time.monotonic() - started
    print(f"\npush_many_tags(2000) took {elapsed:.2f} s ({2000 / elapsed:.0f} tags/s)")
    assert len(tags) == len(set(tags)) == 2000
    listed = set(httpx.get(f"{open_registry.url}/v2/{test_image.repository}/tags/list").json()["tags"])
    assert listed == {"latest", *tags}
    assert (
        _get(open_registry, test_image.repository, tags[-1]).headers["docker-content-digest"]
        == test_image.digest
    )
    assert elapsed < 60, f"2000 tags took {elapsed:.1f} s"
    assert push_many_tags(open_registry, test_image.repository, 0, test_image) == []
    with pytest.raises(ValueError, match="n must be"):
        push_many_tags(open_registry, test_image.repository, -1, test_image)


def test_delete_image(
    open_registry: RunningRegistry,
    nodelete_registry: RunningRegistry,
    test_image: PushedImage,
    unique_repo: str,
) -> None:
    assert delete_image(open_registry, test_image.repository, test_image.digest) == 202
    assert _get(open_registry, test_image.repository, test_image.digest).status_code == 404
    assert delete_image(open_registry, test_image.repository, test_image.digest) == 404
    kept = push_image(nodelete_registry, unique_repo, "latest")
    assert delete_image(nodelete_registry, unique_repo, kept.digest) == 405
    with pytest.raises(ValueError, match="not a digest"):
        delete_image(open_registry, unique_repo, "latest")
