"""Naming the registry product from its host and the headers of its ``/v2/`` reply.

The ``WWW-Authenticate`` challenge is read with the client's one parser,
:func:`doctor_oci.client.parse_www_authenticate`, so identification sees the same realm, service
and scheme as authentication does (quoted commas, escaped quotes, several challenges).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from doctor_oci.client import Challenge, parse_www_authenticate
from doctor_oci.registries.profiles import (
    ACR,
    ARTIFACTORY,
    DISTRIBUTION,
    DOCKERHUB,
    ECR,
    GAR,
    GCR,
    GHCR,
    GITLAB,
    HARBOR,
    QUAY,
    UNKNOWN,
    ZOT,
    RegistryProfile,
)

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


def _from_challenge(challenge: Challenge) -> RegistryProfile | None:
    """The product one ``WWW-Authenticate`` challenge names by its realm, service and scheme."""
    realm = (challenge.realm or "").lower()
    service = (challenge.service or "").lower()
    if service == "harbor-registry" or realm.endswith("/service/token"):
        return HARBOR
    if service == "container_registry" or realm.endswith("/jwt/auth"):
        return GITLAB
    if realm.endswith("/v2/auth"):
        return QUAY
    if challenge.scheme == "basic" and realm == "zot":
        return ZOT
    if realm.endswith("/oauth2/token") and service.endswith(".azurecr.io"):
        return ACR
    return None


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

    With several challenges, the first that names a product wins.
    """
    if _header(headers, "x-artifactory-id") or "artifactory" in _header(headers, "x-jfrog-version").lower():
        return ARTIFACTORY
    for challenge in parse_www_authenticate(_header(headers, "www-authenticate")):
        found = _from_challenge(challenge)
        if found is not None:
            return found
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
