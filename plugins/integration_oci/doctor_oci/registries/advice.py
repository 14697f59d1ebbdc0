"""Every piece of advice the OCI plugin gives: one small function per :class:`Topic`.

:func:`advice` returns ordered remediation steps for a topic, tailored to the registry;
:func:`recommendations` returns short report-level lines (the ``Recommendations:`` block). The
texts are a contract: the checks, the ``doctor oci`` command and the documentation (docs/checks.md's
diagnosis table) all read them from here, so advice never drifts between them. Nothing here does
I/O. ``tests/test_registries_characterization.py`` holds every text byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from doctor_oci.registries.profiles import DISTRIBUTION_UPLOAD_PURGE, RegistryProfile


class Topic(StrEnum):
    """What went wrong, as the checks name it (a plain string with the same value is accepted)."""

    NOT_CONFIGURED = "not_configured"
    CREDENTIALS_INCOMPLETE = "credentials_incomplete"
    DOCKER_CONFIG_UNUSABLE = "docker_config_unusable"
    AUTH_REQUIRED = "auth_required"
    INVALID_CREDENTIALS = "invalid_credentials"
    NO_PERMISSION = "no_permission"
    REFERRERS_UNSUPPORTED = "referrers_unsupported"
    TLS = "tls"
    NETWORK = "network"
    RATE_LIMITED = "rate_limited"
    TEST_IMAGE_MISSING = "test_image_missing"
    UPLOAD_CANCEL_REFUSED = "upload_cancel_refused"
    DELETE_UNSUPPORTED = "delete_unsupported"
    INSECURE = "insecure"
    UNEXPECTED_RESPONSE = "unexpected_response"


#: Every topic's value, in declaration order.
TOPICS: tuple[str, ...] = tuple(topic.value for topic in Topic)


class UnknownAdviceTopic(ValueError):
    """:func:`advice` or :func:`recommendations` was asked for a topic this module does not know."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"unknown advice topic {topic!r}; known topics: {', '.join(TOPICS)}")
        self.topic = topic


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


Facts = Mapping[str, Any]
AdviceFunction = Callable[[RegistryProfile, Facts], tuple[str, ...]]


def _facts(facts: Facts, name: str, default: str = "") -> str:
    value = facts.get(name)
    return default if value is None else str(value)


def _host(facts: Facts) -> str:
    return _facts(facts, "host", "<registry>")


def v2_url(facts: Facts) -> str:
    """The registry's ``/v2/`` endpoint for a step the user runs by hand (``curl -v ...``).

    The registry's own base URL (fact ``url``) when the caller knows it -- an ``http://`` registry
    must not be told to try ``https://`` -- else the seed's ``https://{host}/v2/``.
    """
    url = facts.get("url")
    if url:
        return f"{str(url).rstrip('/')}/v2/"
    return f"https://{_host(facts)}/v2/"


def _not_configured(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    return (
        "Set the registry to check: export OCI__RegistryUrl=https://registry.example.com",
        "or in the YAML config file: a top-level 'OCI:' section with 'RegistryUrl: https://registry.example.com'",
        "Credentials: OCI__Username with OCI__PasswordSecretRef=env:NAME (or OCI__Token); without "
        "them doctor uses your docker login (~/.docker/config.json) or anonymous access.",
    )


def _credentials_incomplete(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    return (
        "A username is configured without a password: set OCI__Password, or better "
        "OCI__PasswordSecretRef=env:NAME / file:PATH, or remove OCI__Username for anonymous access.",
        "For a bearer token use OCI__Token instead of username and password.",
    )


def _docker_config_unusable(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    host = _host(facts)
    return (
        f"The credentials doctor found for {host} in the docker config (or the credential helper it "
        f"names) cannot be used: 'docker login {host}' rewrites the entry; or repair the file, or "
        "install the helper on PATH.",
        "Or point OCI__DockerConfig at a working config.json, or configure the credentials directly: "
        "OCI__Username with OCI__PasswordSecretRef=env:NAME, or OCI__Token.",
    )


def _auth_required(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    host = _host(facts)
    steps = [
        f"{host} requires authentication and no credentials were found.",
        "Configure OCI__Username with OCI__PasswordSecretRef (or OCI__Token), or run "
        f"'docker login {host}' so doctor can use the docker config.",
    ]
    if registry.key in _LOGIN_HINTS:
        steps.append(_LOGIN_HINTS[registry.key])
    return tuple(steps)


def _invalid_credentials(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    steps = [*_SEED_401, f"Test with docker CLI: docker login {_host(facts)}"]
    if registry.key in _LOGIN_HINTS:
        steps.append(_LOGIN_HINTS[registry.key])
    return tuple(steps)


def _no_permission(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    operation = _facts(facts, "operation")
    steps = list(_SEED_403)
    if operation == "pull":
        steps = [s for s in steps if not s.startswith("For push")]
    elif operation == "push":
        steps = [s for s in steps if not s.startswith("For pull")]
    if registry.key in _PERMISSION_HINTS:
        steps.append(_PERMISSION_HINTS[registry.key])
    return tuple(steps)


def _referrers_unsupported(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    status = _facts(facts, "status")
    code = _facts(facts, "error_code")
    seen = f"The referrers endpoint answered {status}{' ' + code if code else ''}." if status else ""
    return (*([seen] if seen else []), *_REFERRERS_HINTS.get(registry.key, ()), *_SEED_REFERRERS)


def _tls(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    host = _host(facts)
    return (
        f"The TLS certificate of {host} is not trusted (self-signed or private CA?).",
        "Pass the CA certificate: OCI__CaBundle=/path/to/ca.pem (YAML: OCI.CaBundle)",
        "Check TLS certificate validity: openssl s_client -connect " + host + " -showcerts",
        "For self-signed certs, configure trust or use --insecure (OCI__Insecure=true; not "
        "recommended for production)",
    )


def _network(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    host = _host(facts)
    reason = _facts(facts, "reason", "other")
    first = {
        "dns": f"The host name of {host} does not resolve: check the spelling of OCI__RegistryUrl and DNS.",
        "refused": f"{host} refused the connection: check the port and that the registry is running.",
        "reset": f"{host} reset the connection: check proxies and load balancers in between.",
        "timeout": f"{host} did not answer in time: raise OCI__TimeoutSeconds or check the network path.",
    }.get(reason, f"The connection to {host} failed.")
    return (
        first,
        f"Verify network connectivity: curl -v {v2_url(facts)}",
        "Check firewall rules and proxy configuration (HTTPS_PROXY / NO_PROXY)",
    )


def _rate_limited(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    retry = facts.get("retry_after")
    steps = [] if retry is None else [f"The registry asked to retry after {retry} seconds."]
    steps += [
        "Use authenticated requests to increase rate limits",
        "Configure retry with exponential backoff (doctor retries 429 with back-off already)",
        "Consider using a pull-through cache",
    ]
    if registry.key == "dockerhub":
        steps.append(
            "Docker Hub counts manifest GETs, not HEADs: the ratelimit-remaining evidence shows "
            "what is left in the window."
        )
    return tuple(steps)


def _test_image_missing(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    repository = _facts(facts, "repository", "<repository>")
    tag = _facts(facts, "tag", "<tag>")
    return (
        f"{repository}:{tag} does not exist on {_host(facts)}, so pull rights could not be verified.",
        "Point the checks at an image that exists: OCI__TestRepository=<repo> and OCI__TestTag=<tag> "
        "(YAML: OCI.TestRepository / OCI.TestTag).",
    )


def _upload_cancel_refused(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    status = _facts(facts, "status", "an error")
    purge = (
        f"distribution removes abandoned sessions after {DISTRIBUTION_UPLOAD_PURGE} "
        "(storage.maintenance.uploadpurging)"
        if registry.key in {"distribution", "harbor", "gitlab", "unknown"}
        else "the registry expires abandoned upload sessions on its own schedule"
    )
    return (
        f"The registry refused to cancel the probe's upload session ({status}); the session holds no "
        f"data and expires server-side: {purge}.",
        "Token registries need the 'delete' action to cancel an upload: grant it to the checking "
        "account to let the check clean up at once.",
    )


def _delete_unsupported(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    hint = (
        "distribution: set storage.delete.enabled: true in the registry config"
        if registry.key in {"distribution", "unknown"}
        else "enable deletion in the registry's settings or policy"
    )
    return (
        "The registry refuses DELETE (405/400 UNSUPPORTED): tag and artifact cleanup must happen elsewhere.",
        hint,
    )


def _insecure(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    return (
        "TLS verification is disabled (--insecure / OCI__Insecure): credentials and results can be "
        "intercepted. Use OCI__CaBundle with the registry's CA instead.",
    )


def _unexpected_response(registry: RegistryProfile, facts: Facts) -> tuple[str, ...]:
    status = _facts(facts, "status", "an unexpected status")
    return (
        f"The registry answered {status}: check the registry's logs and status page.",
        f"Verify network connectivity: curl -v {v2_url(facts)}",
    )


#: Topic -> its remediation steps. Every :class:`Topic` has one (a test holds that).
_ADVICE: dict[Topic, AdviceFunction] = {
    Topic.NOT_CONFIGURED: _not_configured,
    Topic.CREDENTIALS_INCOMPLETE: _credentials_incomplete,
    Topic.DOCKER_CONFIG_UNUSABLE: _docker_config_unusable,
    Topic.AUTH_REQUIRED: _auth_required,
    Topic.INVALID_CREDENTIALS: _invalid_credentials,
    Topic.NO_PERMISSION: _no_permission,
    Topic.REFERRERS_UNSUPPORTED: _referrers_unsupported,
    Topic.TLS: _tls,
    Topic.NETWORK: _network,
    Topic.RATE_LIMITED: _rate_limited,
    Topic.TEST_IMAGE_MISSING: _test_image_missing,
    Topic.UPLOAD_CANCEL_REFUSED: _upload_cancel_refused,
    Topic.DELETE_UNSUPPORTED: _delete_unsupported,
    Topic.INSECURE: _insecure,
    Topic.UNEXPECTED_RESPONSE: _unexpected_response,
}


def _referrers_recommendations(registry: RegistryProfile) -> tuple[str, ...]:
    upgrade = {
        "harbor": "Upgrade Harbor to 2.8+ for the native referrers API",
        "quay": "Enable FEATURE_REFERRERS_API in Quay 3.12+ for the native referrers API",
        "ghcr": "GHCR: no action required; push referrers with the tag-schema pattern",
    }.get(registry.key, "Consider upgrading to a registry with OCI 1.1 support for better performance")
    return ("Referrers API: referrer discovery uses tag-based fallback automatically", upgrade)


def _lines(*lines: str) -> Callable[[RegistryProfile], tuple[str, ...]]:
    """Recommendations that are the same on every registry."""
    return lambda registry: lines


#: Topic -> its ``Recommendations:`` lines; a topic that is not here has none.
_RECOMMENDATIONS: dict[Topic, Callable[[RegistryProfile], tuple[str, ...]]] = {
    Topic.REFERRERS_UNSUPPORTED: _referrers_recommendations,
    Topic.RATE_LIMITED: _lines("Rate limited: authenticate, reduce concurrency or use a pull-through cache"),
    Topic.INSECURE: _lines(
        "TLS verification is disabled: use OCI__CaBundle instead of --insecure in production"
    ),
    Topic.TLS: _lines(
        "TLS: check the certificate's validity; for a private CA configure trust with OCI__CaBundle "
        "(--insecure is not recommended for production)"
    ),
    Topic.UPLOAD_CANCEL_REFUSED: _lines(
        "Grant the 'delete' action so the push check can cancel its probe upload at once"
    ),
    Topic.DELETE_UNSUPPORTED: _lines(
        "Deletes are disabled on this registry: referrer and tag cleanup cannot run here"
    ),
}


def _topic(topic: str) -> Topic:
    try:
        return Topic(topic)
    except ValueError:
        raise UnknownAdviceTopic(topic) from None


def advice(topic: str, registry: RegistryProfile, **facts: Any) -> tuple[str, ...]:
    """Ordered remediation steps for ``topic`` (a :class:`Topic` or its value) on ``registry``.

    Facts used when given: ``host``, ``operation`` ("pull"/"push"), ``status``, ``error_code``,
    ``reason`` (network: "dns"/"refused"/"reset"/"timeout"/"other"), ``retry_after`` (seconds),
    ``repository``, ``tag``.
    """
    return _ADVICE[_topic(topic)](registry, facts)


def recommendations(topic: str, registry: RegistryProfile) -> tuple[str, ...]:
    """Short report-level lines for the ``Recommendations:`` block (empty when none apply)."""
    lines = _RECOMMENDATIONS.get(_topic(topic))
    return lines(registry) if lines is not None else ()
