"""Fixtures for the documentation test: one real registry holding what the docs talk about.

The docs are written for a reader who did the Quick Start exports (``OCI__RegistryUrl``,
``OCI__Username="service-account"``, ``OCI__PasswordSecretRef="env:REGISTRY_PASSWORD"``,
``OCI__TestRepository="stellaops/test"``). So that those commands work *verbatim*, this module
starts its own htpasswd+TLS registry (the root conftest's ``registry_binary`` and
``registry_workdir`` fixtures and ``devtools.registry.start_registry``, the same code behind
``tls_registry``) with a ``service-account`` user, and pushes ``stellaops/test:latest`` with a
signature and an SBOM (referrers tag schema) and a cosign-style ``.sig`` tag, plus ``.sig`` and
``.att`` tags for the same digest in ``stellaops/signatures`` (cosign's ``COSIGN_REPOSITORY``
example). The session-wide ``tls_registry`` cannot be used: its users are ``admin`` and ``reader``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from docs_support import COSIGN_REPOSITORY, REPOSITORY, SBOM_TYPE, SIGNATURE_TYPE, TAG, DocsRegistry

from devtools.images import push_cosign_tags, push_image, push_referrer, push_tag_schema_index
from devtools.registry import random_password, start_registry


@pytest.fixture(scope="session")
def docs_registry(registry_binary: Path, registry_workdir: Path) -> Iterator[DocsRegistry]:
    """htpasswd+TLS registry with user ``service-account`` and ``stellaops/test:latest`` + referrers."""
    password = random_password()
    registry = start_registry(
        "htpasswd-tls",
        workdir=registry_workdir,
        users={"admin": random_password(), "service-account": password},
    )
    try:
        image = push_image(registry, REPOSITORY, TAG)
        signature = push_referrer(
            registry,
            REPOSITORY,
            image,
            SIGNATURE_TYPE,
            annotations={"org.opencontainers.image.title": "signature"},
        )
        sbom = push_referrer(
            registry, REPOSITORY, image, SBOM_TYPE, annotations={"org.opencontainers.image.title": "sbom"}
        )
        push_tag_schema_index(registry, REPOSITORY, image.digest, [signature, sbom])
        cosign = push_cosign_tags(registry, REPOSITORY, image.digest, kinds=("sig",))
        push_cosign_tags(registry, COSIGN_REPOSITORY, image.digest, kinds=("sig", "att"))
        digests = {signature.digest, sbom.digest, *(d.digest for d in cosign.values())}
        yield DocsRegistry(registry, password, image.digest, frozenset(digests))
    finally:
        registry.stop()
        shutil.rmtree(registry.workdir, ignore_errors=True)
