"""The registry profiles and the compatibility matrix, as data (nothing here does I/O).

Two seeds describe registry support and they disagree. Each :class:`RegistryProfile` keeps both
seed values verbatim (``seed_004`` = the registry-diagnostics document, ``seed_000`` = the
export-center compatibility matrix), the reconciled value the checks act on (``referrers_api``),
and the sources behind the reconciliation, so the docs can render all three.

* :data:`MATRIX` is every known profile, in display order (docs/registry-compatibility.md is
  generated from it); :func:`profile` looks one up by key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ReferrersSupport = Literal["native", "partial", "none", "unknown"]

SEED_004 = "seed 004: Stella Doctor registry diagnostics, compatibility matrix"
SEED_000 = "seed 000: ExportCenter registry compatibility matrix"

#: How long distribution keeps an abandoned upload session by default (``storage.maintenance.
#: uploadpurging``: age 168h, checked every 24h) -- distribution/distribution docs/configuration.md.
DISTRIBUTION_UPLOAD_PURGE = "168h (checked every 24h) by default"


@dataclass(frozen=True)
class RegistryProfile:
    """What is known about one registry product.

    ``referrers_api`` is the reconciled support the checks use ("native", "partial" = varies by
    version or configuration, "none" = tag fallback only, "unknown" = reports conflict or product
    unknown: the referrers check's probe decides). ``chunked_upload``/``cross_mount``/``delete``
    are seed 004's columns ("yes", "limited", "unknown"); ``artifact_type_filter`` is seed 000's.
    ``min_referrers_version`` is the first version with a working API where one is known.
    """

    key: str
    name: str
    referrers_api: ReferrersSupport
    fallback_tags: bool
    artifact_type_filter: str
    chunked_upload: str
    cross_mount: str
    delete: str
    recommended: str
    seed_004: str
    seed_000: str
    reconciliation: str
    min_referrers_version: str | None = None
    known_issues: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for docs and ``--format json`` consumers)."""
        return {
            "key": self.key,
            "name": self.name,
            "referrers_api": self.referrers_api,
            "fallback_tags": self.fallback_tags,
            "artifact_type_filter": self.artifact_type_filter,
            "chunked_upload": self.chunked_upload,
            "cross_mount": self.cross_mount,
            "delete": self.delete,
            "recommended": self.recommended,
            "seed_004": self.seed_004,
            "seed_000": self.seed_000,
            "reconciliation": self.reconciliation,
            "min_referrers_version": self.min_referrers_version,
            "known_issues": list(self.known_issues),
            "sources": list(self.sources),
        }


DOCKERHUB = RegistryProfile(
    key="dockerhub",
    name="Docker Hub",
    referrers_api="none",
    fallback_tags=True,
    artifact_type_filter="limited",
    chunked_upload="yes",
    cross_mount="limited",
    delete="limited",
    recommended="With fallback",
    seed_004="Fallback",
    seed_000="Partial",
    reconciliation="No referrers API is served; discovery uses the tag fallback (docker/roadmap#724 "
    "is still open). Seed 000's 'Partial' reflects that subject manifests are stored.",
    known_issues=(
        "Rate limiting can affect capability probes: probes may time out or return 429 "
        "(ratelimit-limit / ratelimit-remaining headers show the budget; HEAD requests are not counted).",
        "Subject manifest pushes were refused in 2022 to early 2023 (issues since closed).",
    ),
    sources=(
        SEED_004,
        SEED_000,
        "docker/roadmap#724",
        "docker/hub-feedback#2307",
        "oras-project/oras#666",
        "docker/docs content/manuals/docker-hub/usage/pulls.md",
    ),
)

GHCR = RegistryProfile(
    key="ghcr",
    name="GitHub Container Registry (GHCR)",
    referrers_api="none",
    fallback_tags=True,
    artifact_type_filter="n/a",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="With fallback",
    seed_004="Fallback",
    seed_000="No",
    reconciliation="Both seeds agree: the referrers endpoint answers 404 MANIFEST_UNKNOWN without an "
    "OCI index; only the tag fallback works.",
    known_issues=(
        "Referrers API not implemented (returns 404 without OCI index); referrers must be pushed with "
        "the tag-schema pattern.",
        "A token exchange is needed even for public images; for a non-public package the anonymous "
        "token request itself returns 401.",
        "Requests over 4 MiB are answered 416 ('exceeds 4.00MiB').",
    ),
    sources=(
        SEED_004,
        SEED_000,
        "NVIDIA/aicr#1957",
        "actions/attest-build-provenance#91",
        "oras-project/oras-java#178",
        "ocx-sh/ocx#237",
    ),
)

GCR = RegistryProfile(
    key="gcr",
    name="Google Container Registry (GCR)",
    referrers_api="unknown",
    fallback_tags=True,
    artifact_type_filter="yes",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="Yes",
    seed_004="Native (GCR/Artifact Registry)",
    seed_000="Yes",
    reconciliation="Seeds say native; gcr.io is served by Artifact Registry, for which no referrers "
    "API was reported in 2024. The referrers check's probe decides.",
    known_issues=(
        "Artifact Registry also offers an attachments model (gcloud artifacts attachments list); "
        "doctor uses the standard OCI API only.",
    ),
    sources=(SEED_004, SEED_000, "actions/attest-build-provenance#80"),
)

GAR = RegistryProfile(
    key="gar",
    name="Google Artifact Registry",
    referrers_api="unknown",
    fallback_tags=True,
    artifact_type_filter="yes",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="Yes",
    seed_004="Native (GCR/Artifact Registry)",
    seed_000="Yes",
    reconciliation="Seeds say native; no referrers API was reported in 2024 "
    "(actions/attest-build-provenance#80). The referrers check's probe decides.",
    known_issues=(
        "Artifact Registry also offers an attachments model (gcloud artifacts attachments list); "
        "doctor uses the standard OCI API only.",
        "Some non-Docker formats are in public preview; Docker/OCI artifact discovery is stable.",
    ),
    sources=(
        SEED_004,
        SEED_000,
        "actions/attest-build-provenance#80",
        "cloud.google.com/artifact-registry/docs/docker/authentication",
    ),
)

ECR = RegistryProfile(
    key="ecr",
    name="Amazon Elastic Container Registry (ECR)",
    referrers_api="native",
    fallback_tags=True,
    artifact_type_filter="yes",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="Yes",
    seed_004="Native",
    seed_000="Yes",
    reconciliation="Native today (verified on ECR Public, 2026). In 2024 ECR sent OCI-Subject without "
    "serving the API, so a client must not trust OCI-Subject alone.",
    known_issues=(
        "Requires IAM permissions for OCI operations; cross-account referrer discovery needs IAM policies.",
        "405 is also used for manifest-validation failures; some referrer pushes got 405 (2026).",
        "Sent OCI-Subject without the referrers API (2024).",
    ),
    sources=(
        SEED_004,
        SEED_000,
        "sigstore/sigstore-js#1183",
        "awslabs/soci-snapshotter#1327",
        "aws/containers-roadmap#2783",
        "falcosecurity/falcoctl#302",
    ),
)

ACR = RegistryProfile(
    key="acr",
    name="Azure Container Registry (ACR)",
    referrers_api="native",
    fallback_tags=True,
    artifact_type_filter="yes",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="Yes",
    seed_004="Native",
    seed_000="Yes",
    reconciliation="Native, except registries encrypted with customer-managed keys (CMK), which may "
    "use the tag fallback.",
    known_issues=(
        "ACR with CMK encryption: customer-managed key encrypted registries may use tag fallback; "
        "automatic fallback detection handles this transparently "
        "(https://learn.microsoft.com/azure/container-registry/).",
    ),
    sources=(
        SEED_004,
        SEED_000,
        "regclient/regclient#417",
        "MicrosoftDocs container-registry-tutorial-sign-build-push.md",
    ),
)

HARBOR = RegistryProfile(
    key="harbor",
    name="Harbor",
    referrers_api="native",
    fallback_tags=True,
    artifact_type_filter="yes",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="Yes",
    seed_004="Native (2.6+)",
    seed_000="Yes (2.0+); Harbor 1.x: No",
    min_referrers_version="2.8",
    reconciliation="The seeds name 2.6+ and 2.0+; the referrers API shipped in Harbor 2.8 "
    "(goharbor/harbor#17928) and OCI-Subject was fixed in 2.9 (#18865). Older versions need the "
    "tag fallback.",
    known_issues=(
        "Harbor < 2.8 (seeds: < 2.6 / 1.x): referrers API not available; requires tag-based fallback.",
        "Project-level permissions are required; robot users are named robot$name (quote the $ in shells).",
        "The UI may show OCI 1.1 cosign signatures or SBOM referrers as UNKNOWN; "
        "API discovery is unaffected.",
    ),
    sources=(
        SEED_004,
        SEED_000,
        "goharbor/harbor#17928",
        "goharbor/harbor#18865",
        "goharbor/harbor#20068",
        "goharbor/harbor#22592",
        "goharbor/harbor#7464",
    ),
)

QUAY = RegistryProfile(
    key="quay",
    name="Quay.io / Red Hat Quay",
    referrers_api="partial",
    fallback_tags=True,
    artifact_type_filter="limited",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="Yes",
    seed_004="Native (3.12+)",
    seed_000="Partial",
    min_referrers_version="3.12",
    reconciliation="FEATURE_REFERRERS_API is on by default since July 2024 (3.12); self-hosted "
    "deployments can turn it off (then 404). Quay never sends OCI-Subject and answers an unknown "
    "subject with 400 MANIFEST_INVALID instead of an empty index.",
    known_issues=(
        "Support varies by version; some deployments have the referrers API disabled "
        "(FEATURE_REFERRERS_API in the Quay config).",
        "An unknown subject digest is answered 400 MANIFEST_INVALID, not an empty index.",
        "The token endpoint returns no expires_in although tokens last 1 h.",
    ),
    sources=(
        SEED_004,
        SEED_000,
        "quay/quay config.py (commit edf159007)",
        "quay/quay endpoints/v2/referrers.py",
        "opencontainers/distribution-spec#563",
    ),
)

ARTIFACTORY = RegistryProfile(
    key="artifactory",
    name="JFrog Artifactory",
    referrers_api="partial",
    fallback_tags=True,
    artifact_type_filter="limited",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="Yes",
    seed_004="Native (7.x+)",
    seed_000="Partial (requires OCI layout)",
    min_referrers_version="7.117.21",
    reconciliation="Native support reported in 7.117.21 (oras-project/oras#2047); seed 000 notes the "
    "repository must be a Docker repository with OCI layout.",
    known_issues=(
        "The repository must be configured as Docker with OCI layout; the referrers API requires 7.x+.",
    ),
    sources=(SEED_004, SEED_000, "oras-project/oras#2047"),
)

GITLAB = RegistryProfile(
    key="gitlab",
    name="GitLab Container Registry",
    referrers_api="none",
    fallback_tags=True,
    artifact_type_filter="n/a",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="With fallback",
    seed_004="(not listed)",
    seed_000="No",
    reconciliation="The referrers endpoint answers 404; GET manifests/sha256-<hex> returns the subject "
    "itself, which discovery must not mistake for a fallback index.",
    known_issues=(
        "Stores OCI artifacts with a subject field but does not expose a referrers endpoint; use the "
        "tag-schema fallback.",
        "The fallback tag can resolve to the subject manifest itself (oras-project/oras-go#1396).",
    ),
    sources=(SEED_000, "oras-project/oras-go#1396", "oras-project/oras-go#1403"),
)

ZOT = RegistryProfile(
    key="zot",
    name="Zot",
    referrers_api="native",
    fallback_tags=True,
    artifact_type_filter="yes",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="Yes",
    seed_004="Native",
    seed_000="Yes",
    reconciliation="Both seeds agree; OCI-Subject implemented (project-zot/zot#1410).",
    sources=(SEED_004, SEED_000, "project-zot/zot#1410", "project-zot/zot#936"),
)

DISTRIBUTION = RegistryProfile(
    key="distribution",
    name="CNCF Distribution (registry:2)",
    referrers_api="none",
    fallback_tags=True,
    artifact_type_filter="n/a",
    chunked_upload="yes",
    cross_mount="yes",
    delete="yes",
    recommended="For testing",
    seed_004="registry:2 2.8+: Fallback; Distribution edge: Partial",
    seed_000="No",
    reconciliation="No referrers route (GET .../referrers/<digest> is a plain-text 404 before auth); "
    "distribution/distribution#4828 is still open.",
    known_issues=(
        "No referrers API: discovery uses the tag fallback.",
        "Deletes are disabled unless storage.delete.enabled is true (then DELETE answers 405 UNSUPPORTED).",
        "A cancelled upload leaves _uploads/<uuid>/hashstates/sha256/0 in storage until upload "
        "purging removes it (168 h by default), and creates the repository directory when it did "
        "not exist.",
    ),
    sources=(
        SEED_004,
        SEED_000,
        "distribution/distribution#4828",
        "iximiuz/labs#27",
        "shared notes: distribution-2.8-facts.md",
    ),
)

UNKNOWN = RegistryProfile(
    key="unknown",
    name="Unidentified registry",
    referrers_api="unknown",
    fallback_tags=True,
    artifact_type_filter="unknown",
    chunked_upload="unknown",
    cross_mount="unknown",
    delete="unknown",
    recommended="Unknown",
    seed_004="-",
    seed_000="-",
    reconciliation="Not identified from its host or headers; the checks' probes are the only evidence.",
)

#: Every profile, in the order the docs show them.
MATRIX: tuple[RegistryProfile, ...] = (
    ACR,
    ECR,
    GCR,
    GAR,
    HARBOR,
    QUAY,
    ARTIFACTORY,
    GHCR,
    DOCKERHUB,
    GITLAB,
    ZOT,
    DISTRIBUTION,
    UNKNOWN,
)
_BY_KEY = {profile.key: profile for profile in MATRIX}


def profile(key: str) -> RegistryProfile:
    """The profile for a product key (``KeyError`` naming the known keys when it does not exist)."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown registry key {key!r}; known: {', '.join(_BY_KEY)}") from None
