"""The native path against a real registry with the referrers API: oras-project/distribution.

Beside the spec-following test server (``devtools/oci_server.py``, final-spec semantics), this is
a registry as shipped, with its drift (pages of 10, ``n`` up to 100, the draft filter annotation,
``artifactType`` listed as the config media type): paging, the filter, cosign tags beside the API,
1,000+ referrers, deletions and token auth (the referrers check: tests/checks/test_checks_oras_registry.py).
"""

from __future__ import annotations

import itertools
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from doctor_oci.client import RegistryClient
from doctor_oci.referrers import api, discover_referrers
from doctor_oci.settings import OciSettings

from devtools.images import (
    ATTESTATION_ARTIFACT,
    EMPTY_DIGEST,
    EMPTY_JSON,
    PushedImage,
    delete_image,
    push_cosign_tags,
    push_image,
    push_referrer,
)
from devtools.registry import RunningRegistry
from devtools.registry_http import OCI_EMPTY, OCI_MANIFEST, sha256_digest

SBOM = "application/spdx+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
_numbers = itertools.count(1)


def _repo(prefix: str) -> str:
    return f"test/oras-{prefix}-{next(_numbers)}"


def _push_many_referrers(
    registry: RunningRegistry, repository: str, image: PushedImage, count: int
) -> set[str]:
    """``count`` distinct tiny referrers (pre-1.1 style: the type in the config, which this registry
    lists and filters by), sharing one config blob; PUTs on 8 threads. Returns their digests."""
    http = registry.http()
    config = json.dumps({"bulk": True}).encode()
    config_digest = http.put_blob(repository, config)
    http.put_blob(repository, EMPTY_JSON)

    def put(number: int) -> str:
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": SBOM, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": len(EMPTY_JSON)}],
                "subject": image.descriptor.to_dict(),
                "annotations": {"n": str(number)},
            },
            separators=(",", ":"),
        ).encode()
        return http.put_manifest(repository, sha256_digest(manifest), manifest, OCI_MANIFEST)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return set(pool.map(put, range(count)))


def _settings(registry: RunningRegistry) -> OciSettings:
    return OciSettings(**registry.oci_config())


async def test_cosign_tags_are_found_beside_the_api_with_kinds_and_real_artifact_types(
    referrers_registry: RunningRegistry,
) -> None:
    """Issue #15: cosign v2 tags on a registry with the API used to vanish (``Referrers: 0``)."""
    repo = _repo("cosign")
    image = push_image(referrers_registry, repo, "v1")
    bundle = push_referrer(
        referrers_registry,
        repo,
        image,
        BUNDLE,
        annotations={"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"},
    )
    cosign = push_cosign_tags(referrers_registry, repo, image.digest)
    result = await discover_referrers(
        f"{referrers_registry.host}/{repo}:v1", settings=_settings(referrers_registry)
    )
    assert (result.method, result.referrers_api_supported) == ("referrers-api+cosign-tags", True)
    stem = image.digest.replace(":", "-")
    found = {r.digest: (r.source, r.kind, r.artifact_type, r.tag) for r in result.referrers}
    assert found == {
        # listed by the API as the empty config type (draft semantics): corrected from the manifest
        bundle.digest: ("referrers-api", "signature", BUNDLE, None),
        cosign["sig"].digest: ("cosign-tags", "signature", SIMPLE_SIGNING, f"{stem}.sig"),
        cosign["att"].digest: ("cosign-tags", "attestation", ATTESTATION_ARTIFACT, f"{stem}.att"),
        cosign["sbom"].digest: ("cosign-tags", "sbom", "text/spdx+json", f"{stem}.sbom"),
    }
    # --artifact-type selects a cosign entry like any other referrer
    only_att = await discover_referrers(
        f"{referrers_registry.host}/{repo}:v1", ATTESTATION_ARTIFACT, settings=_settings(referrers_registry)
    )
    assert [r.digest for r in only_att.referrers] == [cosign["att"].digest]
    # --method api: the API alone
    only_api = await discover_referrers(
        f"{referrers_registry.host}/{repo}:v1", method="api", settings=_settings(referrers_registry)
    )
    assert [r.digest for r in only_api.referrers] == [bundle.digest]


async def test_a_thousand_referrers_in_pages_of_a_hundred_and_pages_of_ten(
    referrers_registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #15: 1,010 referrers on a registry paging by 10 failed at a 100-page cap."""
    repo = _repo("bulk")
    image = push_image(referrers_registry, repo, "v1")
    pushed = _push_many_referrers(referrers_registry, repo, image, 1010)
    reference = f"{referrers_registry.host}/{repo}@{image.digest}"
    async with RegistryClient(_settings(referrers_registry)) as client:
        before = client.metrics.requests
        result = await discover_referrers(reference, client=client)
        big_pages = client.metrics.requests - before
    assert {r.digest for r in result.referrers} == pushed and len(result.referrers) == 1010
    assert all(r.kind == "sbom" and r.artifact_type == SBOM for r in result.referrers)
    # n=100 honoured: 11 pages, plus the subject HEAD, the referrers tag and three cosign tags
    assert big_pages == 11 + 1 + 1 + 3
    # at the registry's own page size (10; it rereads every referrer per page, so 1,010 at 10 a
    # page take ~30 s here: that size is covered against a loopback server in tests/reliability)
    monkeypatch.setattr(api, "PAGE_SIZE", 10)
    few = _repo("pages")
    subject = push_image(referrers_registry, few, "v1")
    some = _push_many_referrers(referrers_registry, few, subject, 35)
    async with RegistryClient(_settings(referrers_registry)) as client:
        before = client.metrics.requests
        small = await discover_referrers(f"{referrers_registry.host}/{few}@{subject.digest}", client=client)
        pages = client.metrics.requests - before - (1 + 1 + 3)
    assert {r.digest for r in small.referrers} == some and len(small.referrers) == 35
    assert pages == 4


async def test_the_registry_filter_and_deletions(referrers_registry: RunningRegistry) -> None:
    repo = _repo("filter")
    image = push_image(referrers_registry, repo, "v1")
    sbom = push_referrer(referrers_registry, repo, image, SBOM, artifact_type_in_config=True)
    other = push_referrer(
        referrers_registry, repo, image, "application/x-other", artifact_type_in_config=True
    )
    settings = _settings(referrers_registry)
    reference = f"{referrers_registry.host}/{repo}:v1"
    filtered = await discover_referrers(reference, SBOM, settings=settings)
    assert [r.digest for r in filtered.referrers] == [sbom.digest]
    assert delete_image(referrers_registry, repo, sbom.digest) == 202
    after = await discover_referrers(reference, settings=settings)
    assert [r.digest for r in after.referrers] == [other.digest]


async def test_a_pull_only_token_user_lists_referrers(
    referrers_token_registry: RunningRegistry,
) -> None:
    repo = _repo("token")
    image = push_image(referrers_token_registry, repo, "v1")
    sbom = push_referrer(referrers_token_registry, repo, image, SBOM, artifact_type_in_config=True)
    user, password = referrers_token_registry.credentials("reader")
    settings = OciSettings.model_validate(
        {"RegistryUrl": referrers_token_registry.url, "Username": user, "Password": password}
    )
    async with RegistryClient(settings) as client:
        result = await discover_referrers(
            f"{referrers_token_registry.host}/{repo}@{image.digest}", client=client
        )
        assert [r.digest for r in result.referrers] == [sbom.digest]
        assert client.metrics.token_fetches >= 1
