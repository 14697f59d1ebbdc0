"""Registry identification, the compatibility matrix and every piece of advice the OCI plugin gives.

This module is *data*: the checks, the ``doctor oci`` command and the documentation all read the
same facts from here, so advice never drifts between them. Nothing in it does I/O.

Two seeds describe registry support and they disagree. Each :class:`RegistryProfile` keeps both
seed values verbatim (``seed_004`` = the registry-diagnostics document, ``seed_000`` = the
export-center compatibility matrix), the reconciled value the checks act on (``referrers_api``),
and the sources behind the reconciliation, so the docs can render all three.

* :func:`identify` names the product from the host and the ``/v2/`` response headers.
* :func:`advice` returns ordered remediation steps for a topic, tailored to the registry.
* :func:`recommendations` returns short report-level lines (the ``Recommendations:`` block).
* :data:`MATRIX` is every known profile, in display order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ReferrersSupport = Literal["native", "partial", "none", "unknown"]
Topic = Literal[
    "not_configured",
    "credentials_incomplete",
    "auth_required",
    "invalid_credentials",
    "no_permission",
    "referrers_unsupported",
    "tls",
    "network",
    "rate_limited",
    "test_image_missing",
    "upload_cancel_refused",
    "delete_unsupported",
    "insecure",
    "unexpected_response",
]
TOPICS: tuple[str, ...] = Topic.__args__  # type: ignore[attr-defined]

SEED_004 = "seed 004: Stella Doctor registry diagnostics, compatibility matrix"
SEED_000 = "seed 000: ExportCenter registry compatibility matrix"

#: How long distribution keeps an abandoned upload session by default (``storage.maintenance.
#: uploadpurging``: age 168h, checked every 24h) -- distribution/distribution docs/configuration.md.
DISTRIBUTION_UPLOAD_PURGE = "168h (checked every 24h) by default"


class UnknownAdviceTopic(ValueError):
    """:func:`advice` or :func:`recommendations` was asked for a topic this module does not know."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"unknown advice topic {topic!r}; known topics: {', '.join(TOPICS)}")
        self.topic = topic


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


# ------------------------------------------------------------------------------ identification

# Host patterns, checked in order against the lower-cased host without port.
_HOST_PATTERNS: tuple[tuple[re.Pattern[str], RegistryProfile], ...] = (
    (
        re.compile(r"^(docker\.io|index\.docker\.io|registry-1\.docker\.io|registry\.hub\.docker\.com)$"),
        DOCKERHUB,
    ),
    (re.compile(r"^ghcr\.io$"), GHCR),
    (re.compile(r"^([a-z0-9-]+\.)?gcr\.io$"), GCR),
    (re.compile(r"^[a-z0-9-]+-docker\.pkg\.dev$"), GAR),
    (re.compile(r"^[0-9]+\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"), ECR),
    (re.compile(r"^public\.ecr\.aws$"), ECR),
    (re.compile(r"^[a-z0-9-]+\.azurecr\.(io|cn|us)$"), ACR),
    (re.compile(r"^quay\.io$"), QUAY),
    (re.compile(r"^[a-z0-9-]+\.jfrog\.io$"), ARTIFACTORY),
    (re.compile(r"^registry\.gitlab\.com$"), GITLAB),
)

_REALM = re.compile(r'realm="?([^",]*)"?', re.IGNORECASE)
_SERVICE = re.compile(r'service="?([^",]*)"?', re.IGNORECASE)


def _host_only(host: str) -> str:
    host = host.strip().lower()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _header(headers: Mapping[str, str] | Any, name: str) -> str:
    """A header value, case-insensitively, from an ``httpx.Headers`` or any mapping."""
    if headers is None:
        return ""
    getter = getattr(headers, "get", None)
    if getter is not None:
        value = getter(name)
        if value is not None:
            return str(value)
    lowered = name.lower()
    for key, value in dict(headers).items():
        if str(key).lower() == lowered:
            return str(value)
    return ""


def _from_headers(headers: Mapping[str, str] | Any) -> RegistryProfile | None:
    """Identify a product from distinctive ``/v2/`` response headers.

    What is relied on (and where it is documented):

    * Artifactory: ``X-Artifactory-Id`` / ``X-JFrog-Version`` on every response.
    * Harbor: the token realm ``.../service/token`` with ``service="harbor-registry"`` (Harbor's
      generated registry config, ``auth.token.service: harbor-registry``).
    * GitLab: the token realm ``.../jwt/auth`` with ``service="container_registry"`` (GitLab's
      registry integration defaults).
    * Quay: the token realm ``.../v2/auth`` (quay/quay ``endpoints/v2/v2auth.py``).
    * Zot: a ``Basic realm="zot"`` challenge (zot's documented example configurations).
    * ACR: the realm ``.../oauth2/token`` on an ``*.azurecr.io`` service.
    * Anything else sending ``Docker-Distribution-Api-Version: registry/2.0`` is treated as CNCF
      distribution (the reference registry sends it on every response); this is last because
      Harbor and GitLab run distribution behind their own front end and send it too.
    """
    if _header(headers, "x-artifactory-id") or "artifactory" in _header(headers, "x-jfrog-version").lower():
        return ARTIFACTORY
    challenge = _header(headers, "www-authenticate")
    realm_match = _REALM.search(challenge)
    service_match = _SERVICE.search(challenge)
    realm = realm_match.group(1).lower() if realm_match else ""
    service = service_match.group(1).lower() if service_match else ""
    if service == "harbor-registry" or realm.endswith("/service/token"):
        return HARBOR
    if service == "container_registry" or realm.endswith("/jwt/auth"):
        return GITLAB
    if realm.endswith("/v2/auth"):
        return QUAY
    if challenge.lower().startswith("basic") and realm == "zot":
        return ZOT
    if realm.endswith("/oauth2/token") and service.endswith(".azurecr.io"):
        return ACR
    if _header(headers, "docker-distribution-api-version").lower().startswith("registry/2"):
        return DISTRIBUTION
    return None


def identify(host: str, headers: Mapping[str, str] | Any = None) -> RegistryProfile:
    """Name the registry product from its host and (optionally) the headers of its ``/v2/`` reply.

    Host patterns win (they are unambiguous); then distinctive headers; else :data:`UNKNOWN`.
    ``headers`` may be an ``httpx.Headers`` or any mapping (matched case-insensitively).
    """
    if not isinstance(host, str):
        raise TypeError(f"host must be a string, not {type(host).__name__}")
    bare = _host_only(host)
    for pattern, found in _HOST_PATTERNS:
        if pattern.match(bare):
            return found
    return _from_headers(headers) or UNKNOWN


# ------------------------------------------------------------------------------------- advice

_SEED_401 = (
    "Verify username and password are correct",
    "Check if credentials have expired",
    "For OAuth2 registries, ensure token refresh is working",
)
_SEED_403 = (
    "Verify the service account has required permissions",
    "For pull: Reader/Viewer role is typically sufficient",
    "For push: Contributor/Writer role is required",
    "Check repository-level permissions (some registries have repo-specific ACLs)",
)
_SEED_REFERRERS = (
    "Check registry version against compatibility matrix",
    "Upgrade registry if possible (Harbor 2.8+, Quay 3.12+: the releases that serve the referrers API)",
    "If upgrade not possible, referrer discovery uses the tag-based fallback automatically",
    "Monitor for performance impact with large artifact counts",
)

_LOGIN_HINTS: dict[str, str] = {
    "dockerhub": "Docker Hub: use a personal access token as the password (docker login docker.io).",
    "ghcr": "GHCR: the password is a GitHub personal access token (read:packages; write:packages to push) "
    "or GITHUB_TOKEN in Actions.",
    "ecr": "ECR: user 'AWS' with the output of 'aws ecr get-login-password' as the password; it expires "
    "after 12 hours.",
    "gcr": "GCR: user 'oauth2accesstoken' with 'gcloud auth print-access-token', or '_json_key' with a "
    "service-account key.",
    "gar": "Artifact Registry: user 'oauth2accesstoken' with 'gcloud auth print-access-token', or "
    "'_json_key' / '_json_key_base64' with a service-account key.",
    "acr": "ACR: user 00000000-0000-0000-0000-000000000000 with a token from 'az acr login --expose-token', "
    "or a service principal.",
    "harbor": "Harbor: robot accounts are named robot$name -- quote the '$' in shells and YAML.",
    "quay": "Quay: use a robot account (org+name) and its token.",
    "gitlab": "GitLab: a deploy token, personal access token or CI job token with read_registry "
    "(write_registry to push).",
    "artifactory": "Artifactory: an access token or API key for a user with access to the Docker repository.",
}
_PERMISSION_HINTS: dict[str, str] = {
    "ecr": "ECR: grant the IAM actions ecr:BatchGetImage/ecr:GetDownloadUrlForLayer (pull) and "
    "ecr:InitiateLayerUpload/ecr:UploadLayerPart/ecr:CompleteLayerUpload/ecr:PutImage (push).",
    "acr": "ACR: assign the AcrPull role (pull) or AcrPush role (push) to the identity.",
    "gcr": "GCR: grant roles/storage.objectViewer (pull) or roles/storage.admin on the bucket (push).",
    "gar": "Artifact Registry: grant roles/artifactregistry.reader (pull) or "
    "roles/artifactregistry.writer (push).",
    "harbor": "Harbor: permissions are per project: make the user or robot a project member with the "
    "Guest (pull) or Developer (push) role.",
    "ghcr": "GHCR: give the token's owner access to the package (package settings > Manage access).",
    "quay": "Quay: give the robot account read (pull) or write (push) permission on the repository.",
    "gitlab": "GitLab: the token needs read_registry (pull) or write_registry (push) and project access.",
    "dockerhub": "Docker Hub: the account must be a member of the organization/team "
    "with access to the repository.",
}
_REFERRERS_HINTS: dict[str, tuple[str, ...]] = {
    "ghcr": (
        "GHCR does not implement the referrers API (404 without an OCI index). Referrer discovery "
        "detects this and uses the tag fallback automatically: no action required.",
        "Push referrers with the tag-schema pattern (sha256-<digest>) so the fallback finds them.",
    ),
    "dockerhub": (
        "Docker Hub serves no referrers API; discovery uses the tag fallback automatically.",
        "Tag-based discovery counts against the pull rate limit: authenticate to raise it.",
    ),
    "harbor": (
        "Upgrade Harbor to 2.8 or later for the native referrers API (the seeds say 2.6+ and 2.0+; the "
        "API shipped in 2.8, goharbor/harbor#17928; OCI-Subject fixed in 2.9).",
    ),
    "quay": (
        "Quay 3.12+ serves the referrers API when FEATURE_REFERRERS_API is enabled in the Quay config "
        "(on by default since July 2024); ask the administrator to enable it.",
    ),
    "artifactory": (
        "Artifactory needs 7.x+ (native support reported in 7.117.21) and a Docker repository configured "
        "with OCI layout.",
    ),
    "acr": (
        "ACR registries encrypted with customer-managed keys (CMK) may not serve the referrers API; "
        "automatic fallback detection handles this transparently.",
    ),
    "gitlab": (
        "GitLab stores subject manifests but exposes no referrers endpoint; discovery uses the tag "
        "fallback automatically.",
    ),
    "distribution": (
        "CNCF distribution (registry:2) has no referrers API (distribution/distribution#4828 is open); "
        "the tag fallback is used. Use Zot, Harbor 2.8+ or a cloud registry for native support.",
    ),
    "gcr": ("Google registries were reported without the referrers API in 2024; the tag fallback is used.",),
    "gar": (
        "Google Artifact Registry was reported without the referrers API in 2024; the tag fallback is used.",
    ),
}


def _facts(facts: Mapping[str, Any], name: str, default: str = "") -> str:
    value = facts.get(name)
    return default if value is None else str(value)


def advice(topic: str, registry: RegistryProfile, **facts: Any) -> tuple[str, ...]:
    """Ordered remediation steps for ``topic`` on ``registry``.

    Facts used when given: ``host``, ``operation`` ("pull"/"push"), ``status``, ``error_code``,
    ``reason`` (network: "dns"/"refused"/"reset"/"timeout"/"other"), ``retry_after`` (seconds),
    ``repository``, ``tag``.
    """
    host = _facts(facts, "host", "<registry>")
    key = registry.key
    if topic == "not_configured":
        return (
            "Set the registry to check: export OCI__RegistryUrl=https://registry.example.com",
            "or in the YAML config file: a top-level 'OCI:' section with 'RegistryUrl: https://registry.example.com'",
            "Credentials: OCI__Username with OCI__PasswordSecretRef=env:NAME (or OCI__Token); without "
            "them doctor uses your docker login (~/.docker/config.json) or anonymous access.",
        )
    if topic == "credentials_incomplete":
        return (
            "A username is configured without a password: set OCI__Password, or better "
            "OCI__PasswordSecretRef=env:NAME / file:PATH, or remove OCI__Username for anonymous access.",
            "For a bearer token use OCI__Token instead of username and password.",
        )
    if topic == "auth_required":
        steps = [
            f"{host} requires authentication and no credentials were found.",
            "Configure OCI__Username with OCI__PasswordSecretRef (or OCI__Token), or run "
            f"'docker login {host}' so doctor can use the docker config.",
        ]
        if key in _LOGIN_HINTS:
            steps.append(_LOGIN_HINTS[key])
        return tuple(steps)
    if topic == "invalid_credentials":
        steps = [*_SEED_401, f"Test with docker CLI: docker login {host}"]
        if key in _LOGIN_HINTS:
            steps.append(_LOGIN_HINTS[key])
        return tuple(steps)
    if topic == "no_permission":
        operation = _facts(facts, "operation")
        steps = list(_SEED_403)
        if operation == "pull":
            steps = [s for s in steps if not s.startswith("For push")]
        elif operation == "push":
            steps = [s for s in steps if not s.startswith("For pull")]
        if key in _PERMISSION_HINTS:
            steps.append(_PERMISSION_HINTS[key])
        return tuple(steps)
    if topic == "referrers_unsupported":
        status = _facts(facts, "status")
        code = _facts(facts, "error_code")
        seen = f"The referrers endpoint answered {status}{' ' + code if code else ''}." if status else ""
        steps = ([seen] if seen else []) + list(_REFERRERS_HINTS.get(key, ())) + list(_SEED_REFERRERS)
        return tuple(steps)
    if topic == "tls":
        return (
            f"The TLS certificate of {host} is not trusted (self-signed or private CA?).",
            "Pass the CA certificate: OCI__CaBundle=/path/to/ca.pem (YAML: OCI.CaBundle)",
            "Check TLS certificate validity: openssl s_client -connect " + host + " -showcerts",
            "For self-signed certs, configure trust or use --insecure (OCI__Insecure=true; not "
            "recommended for production)",
        )
    if topic == "network":
        reason = _facts(facts, "reason", "other")
        first = {
            "dns": f"The host name of {host} does not resolve: "
            "check the spelling of OCI__RegistryUrl and DNS.",
            "refused": f"{host} refused the connection: check the port and that the registry is running.",
            "reset": f"{host} reset the connection: check proxies and load balancers in between.",
            "timeout": f"{host} did not answer in time: raise OCI__TimeoutSeconds or check the network path.",
        }.get(reason, f"The connection to {host} failed.")
        return (
            first,
            f"Verify network connectivity: curl -v https://{host}/v2/",
            "Check firewall rules and proxy configuration (HTTPS_PROXY / NO_PROXY)",
        )
    if topic == "rate_limited":
        retry = facts.get("retry_after")
        steps = []
        if retry is not None:
            steps.append(f"The registry asked to retry after {retry} seconds.")
        steps += [
            "Use authenticated requests to increase rate limits",
            "Configure retry with exponential backoff (doctor retries 429 with back-off already)",
            "Consider using a pull-through cache",
        ]
        if key == "dockerhub":
            steps.append(
                "Docker Hub counts manifest GETs, not HEADs: the ratelimit-remaining evidence shows "
                "what is left in the window."
            )
        return tuple(steps)
    if topic == "test_image_missing":
        repository = _facts(facts, "repository", "<repository>")
        tag = _facts(facts, "tag", "<tag>")
        return (
            f"{repository}:{tag} does not exist on {host}, so pull rights could not be verified.",
            "Point the checks at an image that exists: OCI__TestRepository=<repo> and OCI__TestTag=<tag> "
            "(YAML: OCI.TestRepository / OCI.TestTag).",
        )
    if topic == "upload_cancel_refused":
        status = _facts(facts, "status", "an error")
        purge = (
            f"distribution removes abandoned sessions after {DISTRIBUTION_UPLOAD_PURGE} "
            "(storage.maintenance.uploadpurging)"
            if key in {"distribution", "harbor", "gitlab", "unknown"}
            else "the registry expires abandoned upload sessions on its own schedule"
        )
        return (
            f"The registry refused to cancel the probe's upload session ({status}); the session holds no "
            f"data and expires server-side: {purge}.",
            "Token registries need the 'delete' action to cancel an upload: grant it to the checking "
            "account to let the check clean up at once.",
        )
    if topic == "delete_unsupported":
        hint = (
            "distribution: set storage.delete.enabled: true in the registry config"
            if key in {"distribution", "unknown"}
            else "enable deletion in the registry's settings or policy"
        )
        return (
            "The registry refuses DELETE (405/400 UNSUPPORTED): "
            "tag and artifact cleanup must happen elsewhere.",
            hint,
        )
    if topic == "insecure":
        return (
            "TLS verification is disabled (--insecure / OCI__Insecure): credentials and results can be "
            "intercepted. Use OCI__CaBundle with the registry's CA instead.",
        )
    if topic == "unexpected_response":
        status = _facts(facts, "status", "an unexpected status")
        return (
            f"The registry answered {status}: check the registry's logs and status page.",
            f"Verify network connectivity: curl -v https://{host}/v2/",
        )
    raise UnknownAdviceTopic(topic)


def recommendations(topic: str, registry: RegistryProfile) -> tuple[str, ...]:
    """Short report-level lines for the ``Recommendations:`` block (empty when none apply)."""
    if topic not in TOPICS:
        raise UnknownAdviceTopic(topic)
    if topic == "referrers_unsupported":
        lines = ["Referrers API: referrer discovery uses tag-based fallback automatically"]
        if registry.key == "harbor":
            lines.append("Upgrade Harbor to 2.8+ for the native referrers API")
        elif registry.key == "quay":
            lines.append("Enable FEATURE_REFERRERS_API in Quay 3.12+ for the native referrers API")
        elif registry.key == "ghcr":
            lines.append("GHCR: no action required; push referrers with the tag-schema pattern")
        else:
            lines.append("Consider upgrading to a registry with OCI 1.1 support for better performance")
        return tuple(lines)
    if topic == "rate_limited":
        return ("Rate limited: authenticate, reduce concurrency or use a pull-through cache",)
    if topic == "insecure":
        return ("TLS verification is disabled: use OCI__CaBundle instead of --insecure in production",)
    if topic == "tls":
        return (
            "TLS: check the certificate's validity; for a private CA configure trust with OCI__CaBundle "
            "(--insecure is not recommended for production)",
        )
    if topic == "upload_cancel_refused":
        return ("Grant the 'delete' action so the push check can cancel its probe upload at once",)
    if topic == "delete_unsupported":
        return ("Deletes are disabled on this registry: referrer and tag cleanup cannot run here",)
    return ()
