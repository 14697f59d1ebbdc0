"""Referrer discovery: the artifacts (signatures, SBOMs, attestations) linked to an image.

One implementation serves the referrers check, the capabilities check, ``doctor oci referrers``
and library users::

    from doctor_oci.referrers import discover_referrers_sync
    result = discover_referrers_sync("registry.example.com/app:1.0", "application/spdx+json")
    for referrer in result.referrers:
        print(referrer.digest, referrer.artifact_type, referrer.source)

The OCI 1.1 referrers API is used where the registry supports it (:mod:`.api`), the referrers tag
schema and cosign-style tags where it does not (:mod:`.fallback`); :mod:`.models` holds the
result, a public JSON contract. ``cosign_repository=`` reads the cosign-style tags from another
repository, as cosign's ``COSIGN_REPOSITORY`` does (:mod:`.cosign`).
"""

from __future__ import annotations

from doctor_oci.referrers.api import MAX_PAGES, list_api_referrers, probe_referrers_api
from doctor_oci.referrers.cosign import (
    COSIGN_REPOSITORY_ENV,
    InvalidCosignRepository,
    parse_cosign_repository,
)
from doctor_oci.referrers.descriptors import cosign_tags, is_valid_digest, referrers_tag
from doctor_oci.referrers.discovery import (
    ReferrersApiUnsupported,
    discover_referrers,
    discover_referrers_sync,
    resolve_subject_digest,
)
from doctor_oci.referrers.fallback import cosign_referrers, tag_schema_referrers, verify_referrers
from doctor_oci.referrers.kinds import Kind, kind_of, manifest_artifact_type
from doctor_oci.referrers.models import ApiProbe, Method, Referrer, ReferrersResult, Subject

__all__ = [
    "COSIGN_REPOSITORY_ENV",
    "MAX_PAGES",
    "ApiProbe",
    "InvalidCosignRepository",
    "Kind",
    "Method",
    "Referrer",
    "ReferrersApiUnsupported",
    "ReferrersResult",
    "Subject",
    "cosign_referrers",
    "cosign_tags",
    "discover_referrers",
    "discover_referrers_sync",
    "is_valid_digest",
    "kind_of",
    "list_api_referrers",
    "manifest_artifact_type",
    "parse_cosign_repository",
    "probe_referrers_api",
    "referrers_tag",
    "resolve_subject_digest",
    "tag_schema_referrers",
    "verify_referrers",
]
