"""Descriptor validation, index parsing and fallback tag names (pure functions, no I/O)."""

from __future__ import annotations

import json

import pytest
from doctor_oci.referrers.descriptors import (
    FILTERS_ANNOTATION,
    OCI_INDEX_MEDIA_TYPE,
    cosign_tags,
    filters_applied,
    is_valid_digest,
    parse_index,
    referrer_from_descriptor,
    referrers_from_index,
    referrers_tag,
)

SHA256 = "sha256:" + "ab" * 32
SHA512 = "sha512:" + "0123456789abcdef" * 8
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def test_referrers_tag_for_sha256_is_the_whole_digest() -> None:
    assert referrers_tag(SHA256) == "sha256-" + "ab" * 32


def test_referrers_tag_for_sha512_keeps_the_first_64_hex_characters() -> None:
    tag = referrers_tag(SHA512)
    assert tag == "sha512-" + ("0123456789abcdef" * 8)[:64]
    assert len(tag) == len("sha512-") + 64


def test_referrers_tag_truncates_a_long_algorithm_and_replaces_characters_not_allowed_in_tags() -> None:
    digest = "a" * 40 + "+b:" + "C=d_" * 20
    tag = referrers_tag(digest)
    algorithm, _, encoded = tag.partition("-")
    assert algorithm == "a" * 32
    assert encoded == ("C-d_" * 20)[:64]


@pytest.mark.parametrize("bad", ["", "sha256:abc", "sha256:" + "AB" * 32, "nocolon", "sha512:" + "a" * 64])
def test_referrers_tag_rejects_malformed_digests(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid digest"):
        referrers_tag(bad)


def test_cosign_tags_are_the_three_suffixes_of_the_full_digest() -> None:
    stem = "sha256-" + "ab" * 32
    assert cosign_tags(SHA256) == {f"{stem}.sig", f"{stem}.att", f"{stem}.sbom"}


def test_cosign_tags_for_sha512_include_the_truncated_form() -> None:
    tags = cosign_tags(SHA512)
    assert f"{referrers_tag(SHA512)}.sig" in tags
    assert len(tags) == 6


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (SHA256, True),
        (SHA512, True),
        ("sha256:" + "a" * 63, False),
        (None, False),
        (42, False),
        ("blake3:" + "a" * 64, True),
        ("Sha256:" + "a" * 64, False),
    ],
)
def test_is_valid_digest(value: object, valid: bool) -> None:
    assert is_valid_digest(value) is valid


def test_a_full_descriptor_becomes_a_referrer() -> None:
    entry = {
        "mediaType": MANIFEST,
        "digest": SHA256,
        "size": 12,
        "artifactType": "application/spdx+json",
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
    }
    referrer = referrer_from_descriptor(entry, "referrers-api")
    assert referrer is not None
    assert referrer.model_dump() == {
        "digest": SHA256,
        "media_type": MANIFEST,
        "artifact_type": "application/spdx+json",
        "size": 12,
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
        "source": "referrers-api",
        "kind": "sbom",
        "tag": None,
    }


@pytest.mark.parametrize(
    "entry",
    [
        "not a mapping",
        None,
        {"digest": SHA256, "size": 1},
        {"mediaType": "", "digest": SHA256, "size": 1},
        {"mediaType": MANIFEST, "digest": "sha256:short", "size": 1},
        {"mediaType": MANIFEST, "digest": SHA256, "size": -1},
        {"mediaType": MANIFEST, "digest": SHA256, "size": "12"},
        {"mediaType": MANIFEST, "digest": SHA256, "size": True},
        {"mediaType": MANIFEST, "digest": SHA256, "size": 1.5},
        {"mediaType": MANIFEST, "digest": SHA256, "size": 1, "artifactType": 7},
        {"mediaType": MANIFEST, "digest": SHA256, "size": 1, "annotations": ["a"]},
        {"mediaType": MANIFEST, "digest": SHA256, "size": 1, "annotations": {"a": 1}},
        {"mediaType": 5, "digest": SHA256, "size": 1},
    ],
)
def test_entries_that_are_not_descriptors_are_rejected(entry: object) -> None:
    assert referrer_from_descriptor(entry, "tag-schema") is None


def test_index_parsing_skips_and_counts_malformed_entries_and_filters_by_artifact_type() -> None:
    good_sbom = {"mediaType": MANIFEST, "digest": SHA256, "size": 3, "artifactType": "application/spdx+json"}
    good_sig = {"mediaType": MANIFEST, "digest": "sha256:" + "cd" * 32, "size": 4, "artifactType": "sig"}
    index = {"manifests": [good_sbom, {"digest": 1}, "junk", good_sig, None]}
    parsed = referrers_from_index(index, "tag-schema")
    assert [r.digest for r in parsed.referrers] == [SHA256, "sha256:" + "cd" * 32]
    assert parsed.skipped == 3
    filtered = referrers_from_index(index, "tag-schema", artifact_type="sig")
    assert [r.digest for r in filtered.referrers] == ["sha256:" + "cd" * 32]


def test_index_without_a_manifests_list_has_no_referrers() -> None:
    assert referrers_from_index({"manifests": {"a": 1}}, "tag-schema").referrers == ()


@pytest.mark.parametrize(
    ("body", "content_type", "is_index"),
    [
        (json.dumps({"mediaType": OCI_INDEX_MEDIA_TYPE, "manifests": []}).encode(), "application/json", True),
        (json.dumps({"schemaVersion": 2, "manifests": []}).encode(), OCI_INDEX_MEDIA_TYPE, True),
        (json.dumps({"schemaVersion": 2, "manifests": []}).encode(), "application/json", False),
        (json.dumps({"mediaType": MANIFEST, "manifests": []}).encode(), OCI_INDEX_MEDIA_TYPE, False),
        (json.dumps({"mediaType": OCI_INDEX_MEDIA_TYPE}).encode(), OCI_INDEX_MEDIA_TYPE, False),
        (b"{not json", OCI_INDEX_MEDIA_TYPE, False),
        (b"\xff\xfe", OCI_INDEX_MEDIA_TYPE, False),
        (b"[]", OCI_INDEX_MEDIA_TYPE, False),
        (b"<html>ok</html>", "text/html", False),
    ],
)
def test_parse_index(body: bytes, content_type: str, is_index: bool) -> None:
    assert (parse_index(body, content_type) is not None) is is_index


def test_filters_applied_reads_the_header_and_the_rc1_annotation() -> None:
    assert filters_applied(["artifactType, other"], None) == ("artifactType", "other")
    index = {"annotations": {FILTERS_ANNOTATION: "artifactType"}}
    assert filters_applied([], index) == ("artifactType",)
    assert filters_applied([], {"annotations": {FILTERS_ANNOTATION: 3}}) == ()
