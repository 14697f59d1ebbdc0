"""Registry identification, the compatibility matrix and every piece of advice the OCI plugin gives.

The checks, the ``doctor oci`` command and the documentation all read the same facts from here, so
advice never drifts between them. Nothing in this package does I/O.

* :mod:`.profiles`: :class:`RegistryProfile` for each product and :data:`MATRIX`, every profile in
  display order (docs/registry-compatibility.md is generated from it); :func:`profile` by key.
* :mod:`.identify`: :func:`identify` names the product from the host and the ``/v2/`` response
  headers, reading the challenge with the client's one ``WWW-Authenticate`` parser.
* :mod:`.advice`: :func:`advice` returns ordered remediation steps for a :class:`Topic`, tailored to
  the registry; :func:`recommendations` returns short report-level lines (the ``Recommendations:``
  block). One small function per topic.
"""

from __future__ import annotations

from doctor_oci.registries.advice import TOPICS, Topic, UnknownAdviceTopic, advice, recommendations, v2_url
from doctor_oci.registries.identify import identify
from doctor_oci.registries.profiles import (
    ACR,
    ARTIFACTORY,
    DISTRIBUTION,
    DISTRIBUTION_UPLOAD_PURGE,
    DOCKERHUB,
    ECR,
    GAR,
    GCR,
    GHCR,
    GITLAB,
    HARBOR,
    MATRIX,
    QUAY,
    SEED_000,
    SEED_004,
    UNKNOWN,
    ZOT,
    ReferrersSupport,
    RegistryProfile,
    profile,
)

__all__ = [
    "ACR",
    "ARTIFACTORY",
    "DISTRIBUTION",
    "DISTRIBUTION_UPLOAD_PURGE",
    "DOCKERHUB",
    "ECR",
    "GAR",
    "GCR",
    "GHCR",
    "GITLAB",
    "HARBOR",
    "MATRIX",
    "QUAY",
    "SEED_000",
    "SEED_004",
    "TOPICS",
    "UNKNOWN",
    "ZOT",
    "ReferrersSupport",
    "RegistryProfile",
    "Topic",
    "UnknownAdviceTopic",
    "advice",
    "identify",
    "profile",
    "recommendations",
    "v2_url",
]
