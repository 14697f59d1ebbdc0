"""Registry identification, the compatibility matrix data and the advice texts."""

from __future__ import annotations

import httpx
import pytest
from doctor_oci import registries
from doctor_oci.registries import (
    MATRIX,
    TOPICS,
    Topic,
    UnknownAdviceTopic,
    advice,
    identify,
    profile,
    recommendations,
)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("docker.io", "dockerhub"),
        ("registry-1.docker.io", "dockerhub"),
        ("index.docker.io:443", "dockerhub"),
        ("ghcr.io", "ghcr"),
        ("gcr.io", "gcr"),
        ("eu.gcr.io", "gcr"),
        ("europe-west1-docker.pkg.dev", "gar"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr"),
        ("public.ecr.aws", "ecr"),
        ("myregistry.azurecr.io", "acr"),
        ("quay.io", "quay"),
        ("acme.jfrog.io", "artifactory"),
        ("registry.gitlab.com", "gitlab"),
        ("https://ghcr.io/v2/", "ghcr"),
        ("registry.example.com:5000", "unknown"),
        ("127.0.0.1:5000", "unknown"),
        ("[::1]:5000", "unknown"),
    ],
)
def test_identify_by_host(host: str, key: str) -> None:
    assert identify(host).key == key


def test_lookalike_hosts_are_not_identified() -> None:
    assert identify("ghcr.io.evil.example").key == "unknown"
    assert identify("notquay.io").key == "unknown"
    assert identify("docker.io.example.com").key == "unknown"


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        (
            {
                "Docker-Distribution-Api-Version": "registry/2.0",
                "WWW-Authenticate": 'Bearer realm="https://harbor.example.com/service/token",service="harbor-registry"',
            },
            "harbor",
        ),
        (
            {
                "Docker-Distribution-Api-Version": "registry/2.0",
                "WWW-Authenticate": 'Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry"',
            },
            "gitlab",
        ),
        ({"WWW-Authenticate": 'Bearer realm="https://quay.example.com/v2/auth",service="quay"'}, "quay"),
        ({"WWW-Authenticate": 'Basic realm="zot"'}, "zot"),
        ({"X-Artifactory-Id": "abc123", "Docker-Distribution-Api-Version": "registry/2.0"}, "artifactory"),
        ({"X-JFrog-Version": "Artifactory/7.77.5"}, "artifactory"),
        ({"Docker-Distribution-Api-Version": "registry/2.0"}, "distribution"),
        ({"docker-distribution-api-version": "registry/2.0"}, "distribution"),
        ({}, "unknown"),
        (None, "unknown"),
    ],
)
def test_identify_by_headers(headers: dict[str, str] | None, key: str) -> None:
    assert identify("registry.internal:8443", headers).key == key


def test_identify_accepts_httpx_headers_and_host_wins() -> None:
    headers = httpx.Headers(
        {"www-authenticate": 'Bearer realm="https://x/service/token",service="harbor-registry"'}
    )
    assert identify("registry.internal", headers).key == "harbor"
    # A host pattern is unambiguous: ghcr.io stays GHCR whatever it sends.
    assert identify("ghcr.io", {"Docker-Distribution-Api-Version": "registry/2.0"}).key == "ghcr"


@pytest.mark.parametrize(
    ("challenge", "key"),
    [
        # several challenges: the first that names a product wins, wherever it stands
        ('Basic realm="Registry Realm", Bearer realm="https://q.example/v2/auth",service="quay"', "quay"),
        ('Basic realm="zot", Bearer realm="https://h.example/service/token"', "zot"),
        # a quoted comma and an escaped quote belong to the value
        ('Bearer realm="https://q.example/a,b/v2/auth"', "quay"),
        ('Bearer realm="https://g.example/\\"x\\"/jwt/auth"', "gitlab"),
        # only a parameter named realm is the realm ("xrealm" is another parameter)
        ('Bearer xrealm="https://h.example/service/token"', "unknown"),
        ('Bearer service="harbor-registry"', "harbor"),
    ],
)
def test_identify_reads_the_challenge_with_the_client_parser(challenge: str, key: str) -> None:
    assert identify("registry.internal", {"WWW-Authenticate": challenge}).key == key


def test_identify_reads_every_challenge_line() -> None:
    headers = httpx.Headers(
        [("www-authenticate", 'Basic realm="x"'), ("www-authenticate", 'Bearer realm="https://g/jwt/auth"')]
    )
    assert identify("registry.internal", headers).key == "gitlab"


def test_identify_rejects_non_string_host() -> None:
    with pytest.raises(TypeError, match="host must be a string"):
        identify(None)  # type: ignore[arg-type]


def test_matrix_keeps_both_seed_values_and_sources() -> None:
    keys = [p.key for p in MATRIX]
    assert keys.count("unknown") == 1 and len(set(keys)) == len(keys)
    assert set(keys) >= {
        "dockerhub",
        "ghcr",
        "gcr",
        "gar",
        "ecr",
        "acr",
        "harbor",
        "quay",
        "artifactory",
        "gitlab",
        "zot",
        "distribution",
    }
    for item in MATRIX:
        assert item.referrers_api in ("native", "partial", "none", "unknown")
        if item.key != "unknown":
            assert item.sources, item.key
            assert item.reconciliation
        data = item.as_dict()
        assert data["key"] == item.key and isinstance(data["sources"], list)
    harbor = profile("harbor")
    assert harbor.seed_004 == "Native (2.6+)"
    assert "2.0+" in harbor.seed_000
    assert harbor.min_referrers_version == "2.8"
    assert profile("dockerhub").seed_004 == "Fallback" and profile("dockerhub").seed_000 == "Partial"
    assert profile("quay").seed_004 == "Native (3.12+)" and profile("quay").seed_000 == "Partial"
    assert profile("ghcr").referrers_api == "none"
    assert profile("distribution").referrers_api == "none"


def test_profile_unknown_key_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: "):
        profile("nope")


def test_every_topic_has_advice_for_every_registry() -> None:
    for topic in TOPICS:
        for item in MATRIX:
            steps = advice(topic, item, host="r.example", status=404, reason="dns")
            assert steps and all(isinstance(s, str) and s for s in steps), (topic, item.key)
            assert isinstance(recommendations(topic, item), tuple)


def test_topics_are_an_enum_and_their_values_are_accepted() -> None:
    assert tuple(Topic) == TOPICS and all(isinstance(topic, str) for topic in Topic)
    for topic in Topic:
        for item in MATRIX:
            facts = {"host": "r.example", "status": 404, "operation": "pull"}
            assert advice(topic, item, **facts) == advice(topic.value, item, **facts)
            assert recommendations(topic, item) == recommendations(topic.value, item)


def test_unknown_topic_is_a_clear_error() -> None:
    with pytest.raises(UnknownAdviceTopic, match="unknown advice topic 'bogus'"):
        advice("bogus", registries.UNKNOWN)
    with pytest.raises(UnknownAdviceTopic):
        recommendations("bogus", registries.UNKNOWN)


def test_referrers_advice_is_tailored() -> None:
    ghcr = advice("referrers_unsupported", profile("ghcr"), status=404, error_code="MANIFEST_UNKNOWN")
    assert ghcr[0] == "The referrers endpoint answered 404 MANIFEST_UNKNOWN."
    assert any("GHCR does not implement the referrers API" in s for s in ghcr)
    assert any("no action required" in s for s in ghcr)
    harbor = advice("referrers_unsupported", profile("harbor"), status=404)
    assert any("Upgrade Harbor to 2.8" in s for s in harbor)
    assert not any("GHCR" in s for s in harbor)
    assert "Upgrade Harbor to 2.8+ for the native referrers API" in recommendations(
        "referrers_unsupported", profile("harbor")
    )
    generic = recommendations("referrers_unsupported", profile("distribution"))
    assert generic == (
        "Referrers API: referrer discovery uses tag-based fallback automatically",
        "Consider upgrading to a registry with OCI 1.1 support for better performance",
    )


def test_credentials_advice_follows_the_seed_and_adds_registry_hints() -> None:
    steps = advice("invalid_credentials", profile("ecr"), host="1.dkr.ecr.eu-west-1.amazonaws.com")
    assert steps[0] == "Verify username and password are correct"
    assert "docker login 1.dkr.ecr.eu-west-1.amazonaws.com" in " ".join(steps)
    assert any("get-login-password" in s for s in steps)
    push = advice("no_permission", profile("harbor"), operation="push")
    assert "For push: Contributor/Writer role is required" in push
    assert not any(s.startswith("For pull") for s in push)
    assert any("per project" in s for s in push)


def test_tls_rate_limit_and_cancel_advice() -> None:
    tls = " ".join(advice("tls", registries.UNKNOWN, host="r.example:5000"))
    assert "OCI__CaBundle" in tls and "--insecure" in tls
    hub = advice("rate_limited", profile("dockerhub"), retry_after=30)
    assert hub[0] == "The registry asked to retry after 30 seconds."
    assert "Use authenticated requests to increase rate limits" in hub
    assert "Consider using a pull-through cache" in hub
    cancel = " ".join(advice("upload_cancel_refused", profile("distribution"), status="401"))
    assert "168h" in cancel and "delete" in cancel
