"""The fallback against the real Debian ``docker-registry`` (distribution 2.8: no referrers API).

One repository holds an image whose referrers were pushed in both fallback styles -- artifact
manifests with ``subject`` listed in the ``sha256-<hex>`` index, and cosign-style tags -- next to
another image with its own referrers and thousands of unrelated tags. Discovery must find exactly
the expected set.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from doctor_oci.client import RegistryClient
from doctor_oci.client.errors import NotFound
from doctor_oci.referrers import ReferrersApiUnsupported, discover_referrers
from doctor_oci.settings import OciSettings

from devtools.images import (
    ATTESTATION_ARTIFACT,
    OCI_CONFIG,
    PushedImage,
    push_cosign_tags,
    push_image,
    push_many_tags,
    push_referrer,
    push_tag_schema_index,
)
from devtools.registry import RunningRegistry

SBOM = "application/spdx+json"
SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
LEGACY = "application/vnd.example.legacy.config.v1+json"
UNRELATED_TAGS = 2000
_numbers = itertools.count(1)


@dataclass(frozen=True)
class Populated:
    registry: RunningRegistry
    repository: str
    image: PushedImage
    #: digest -> (artifact type, source) discovery must report
    expected: dict[str, tuple[str, str]]

    @property
    def settings(self) -> OciSettings:
        return OciSettings(**self.registry.oci_config())

    def ref(self, suffix: str = ":v1") -> str:
        return f"{self.registry.host}/{self.repository}{suffix}"


@pytest.fixture(scope="module")
def populated(open_registry: RunningRegistry) -> Populated:
    repository = f"test/referrers-fallback-{next(_numbers)}"
    image = push_image(open_registry, repository, "v1")
    other = push_image(open_registry, repository, "other")
    sbom = push_referrer(open_registry, repository, image, SBOM, annotations={"org.example.kind": "sbom"})
    sig = push_referrer(open_registry, repository, image, SIG)
    legacy = push_referrer(open_registry, repository, image, LEGACY, artifact_type_in_config=True)
    cosign = push_cosign_tags(open_registry, repository, image.digest)
    # the index also lists the cosign signature: found twice, reported once (tag-schema first)
    push_tag_schema_index(open_registry, repository, image.digest, [sbom, sig, legacy, cosign["sig"]])
    # the other image's referrers must not leak into the first image's answer
    other_sbom = push_referrer(open_registry, repository, other, SBOM)
    push_tag_schema_index(open_registry, repository, other.digest, [other_sbom])
    push_cosign_tags(open_registry, repository, other.digest, ["sig"])
    push_many_tags(open_registry, repository, UNRELATED_TAGS, image)
    expected = {
        sbom.digest: (SBOM, "tag-schema"),
        sig.digest: (SIG, "tag-schema"),
        legacy.digest: (LEGACY, "tag-schema"),
        # cosign's legacy manifests: the artifact type is what their layer holds (issue #15)
        cosign["sig"].digest: (COSIGN_SIMPLE_SIGNING, "tag-schema"),
        cosign["att"].digest: (ATTESTATION_ARTIFACT, "cosign-tags"),
        cosign["sbom"].digest: (COSIGN_SPDX, "cosign-tags"),
    }
    return Populated(open_registry, repository, image, expected)


COSIGN_SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SPDX = "text/spdx+json"


def _found(result_referrers: list) -> dict[str, tuple[str | None, str]]:  # type: ignore[type-arg]
    return {r.digest: (r.artifact_type, r.source) for r in result_referrers}


async def test_auto_finds_exactly_the_expected_set_among_thousands_of_tags(populated: Populated) -> None:
    result = await discover_referrers(populated.ref(), settings=populated.settings)
    assert result.subject.digest == populated.image.digest
    assert result.method == "tag-schema+cosign-tags"
    assert result.referrers_api_supported is False
    assert _found(result.referrers) == populated.expected
    assert len(result.referrers) == len(populated.expected)
    sbom = next(r for r in result.referrers if r.artifact_type == SBOM)
    assert sbom.annotations == {"org.example.kind": "sbom"}
    kinds = {r.digest: (r.kind, r.tag) for r in result.referrers}
    stem = populated.image.digest.replace(":", "-")
    assert kinds[sbom.digest] == ("sbom", None)
    signature = next(d for d, found in populated.expected.items() if found[0] == COSIGN_SIMPLE_SIGNING)
    # listed by the index first, its cosign tag still named
    assert kinds[signature] == ("signature", f"{stem}.sig")


@pytest.mark.parametrize(
    "artifact_type", [SBOM, ATTESTATION_ARTIFACT, COSIGN_SPDX, OCI_CONFIG, "application/none"]
)
async def test_an_artifact_type_filter_keeps_exactly_the_matching_referrers(
    populated: Populated, artifact_type: str
) -> None:
    result = await discover_referrers(populated.ref(), artifact_type, settings=populated.settings)
    wanted = {d: found for d, found in populated.expected.items() if found[0] == artifact_type}
    assert _found(result.referrers) == wanted


async def test_a_digest_reference_and_method_fallback(populated: Populated) -> None:
    result = await discover_referrers(
        populated.ref(f"@{populated.image.digest}"), method="fallback", settings=populated.settings
    )
    assert result.referrers_api_supported is None
    assert result.subject.reference.endswith(f"@{populated.image.digest}")
    assert _found(result.referrers) == populated.expected


async def test_method_api_fails_with_the_probe_reason(populated: Populated) -> None:
    with pytest.raises(ReferrersApiUnsupported, match=r"404 without an OCI index \(text/plain\)"):
        await discover_referrers(populated.ref(), method="api", settings=populated.settings)


async def test_an_image_without_referrers_and_a_missing_tag(populated: Populated) -> None:
    async with RegistryClient(populated.settings) as client:
        lonely = push_image(populated.registry, populated.repository, "lonely")
        result = await discover_referrers(populated.ref(":lonely"), client=client)
        assert result.referrers == []
        assert result.subject.digest == lonely.digest
        with pytest.raises(NotFound):
            await discover_referrers(populated.ref(":no-such-tag"), client=client)
