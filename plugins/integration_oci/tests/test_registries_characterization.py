"""Characterization of ``doctor_oci.registries``: every advice text, recommendation and identification.

``registries_characterization.json`` was recorded by running :func:`record` against the code as it
was *before* ``registries.py`` became the ``registries/`` package (issue #14), so the refactoring is
proven byte-identical: for every topic x every profile x the keyword arguments the checks pass, the
ordered steps of :func:`advice`; for every topic x profile, :func:`recommendations`; and the product
:func:`identify` names for a set of hosts and ``/v2/`` headers.

The texts are a contract: docs/checks.md's diagnosis table (``checks/diagnosis_rows.py``) and
docs/registry-compatibility.md are generated from them. A deliberate change of advice text
regenerates the file (and says so in the CHANGELOG)::

    .venv/bin/python plugins/integration_oci/tests/test_registries_characterization.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from doctor_oci.registries import MATRIX, TOPICS, advice, identify, recommendations

DATA = Path(__file__).with_name("registries_characterization.json")

HOST = "registry.example.com:5000"

#: Topic -> the keyword arguments the callers (checks/*.py) pass, and the variants of each value
#: that take a different branch. Every topic also runs with no facts and with every fact at once.
FACT_CASES: dict[str, list[dict[str, Any]]] = {
    "not_configured": [],
    "credentials_incomplete": [],
    "docker_config_unusable": [{"host": HOST}],
    "auth_required": [{"host": HOST}],
    "invalid_credentials": [{"host": HOST}],
    "no_permission": [
        {"host": HOST},
        {"host": HOST, "operation": "pull"},
        {"host": HOST, "operation": "push"},
        {"host": HOST, "operation": None},
    ],
    "referrers_unsupported": [
        {"host": HOST},
        {"host": HOST, "status": 404, "error_code": "MANIFEST_UNKNOWN"},
        {"host": HOST, "status": 404, "error_code": None},
        {"host": HOST, "status": None, "error_code": None},
        {"host": HOST, "status": 405, "error_code": ""},
    ],
    "tls": [{"host": HOST}, {"host": "r.example"}],
    "network": [
        {"host": HOST},
        {"host": HOST, "reason": "dns"},
        {"host": HOST, "reason": "refused"},
        {"host": HOST, "reason": "reset"},
        {"host": HOST, "reason": "timeout"},
        {"host": HOST, "reason": "other"},
        {"host": HOST, "reason": None},
        {"host": HOST, "reason": "tls"},
    ],
    "rate_limited": [
        {"host": HOST},
        {"host": HOST, "retry_after": None},
        {"host": HOST, "retry_after": 30},
        {"host": HOST, "retry_after": 1.5},
        {"host": HOST, "retry_after": 0},
    ],
    "test_image_missing": [
        {"host": HOST, "repository": "library/busybox", "tag": "latest"},
        {"host": HOST, "repository": None, "tag": None},
        {"host": HOST},
    ],
    "upload_cancel_refused": [
        {"host": HOST},
        {"host": HOST, "status": "401"},
        {"host": HOST, "status": 403},
        {"host": HOST, "status": None},
    ],
    "delete_unsupported": [{"host": HOST}],
    "insecure": [{"host": HOST}],
    "unexpected_response": [
        {"host": HOST},
        {"host": HOST, "status": 500},
        {"host": HOST, "status": "404 NAME_UNKNOWN"},
        {"host": HOST, "status": None},
    ],
}
ALL_FACTS: dict[str, Any] = {
    "host": HOST,
    "operation": "push",
    "status": 404,
    "error_code": "NAME_UNKNOWN",
    "reason": "timeout",
    "retry_after": 7,
    "repository": "team/app",
    "tag": "v1",
}

_HARBOR = 'Bearer realm="https://harbor.example.com/service/token",service="harbor-registry"'
_GITLAB = 'Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry"'
_DIST = {"Docker-Distribution-Api-Version": "registry/2.0"}

#: (host, headers) pairs for identify(): hosts, each header rule, their order, and odd spellings.
IDENTIFY_CASES: list[tuple[str, dict[str, str] | None]] = [
    *(
        (host, None)
        for host in (
            "docker.io",
            "registry-1.docker.io",
            "index.docker.io:443",
            "registry.hub.docker.com",
            "ghcr.io",
            "gcr.io",
            "eu.gcr.io",
            "europe-west1-docker.pkg.dev",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "public.ecr.aws",
            "myregistry.azurecr.io",
            "myregistry.azurecr.cn",
            "QUAY.IO",
            "acme.jfrog.io",
            "registry.gitlab.com",
            "https://ghcr.io/v2/",
            "registry.example.com:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "::1",
            "ghcr.io.evil.example",
            "notquay.io",
            "",
        )
    ),
    ("ghcr.io", _DIST),
    ("registry.internal", None),
    ("registry.internal", {}),
    ("registry.internal", _DIST),
    ("registry.internal", {"docker-distribution-api-version": "Registry/2.0"}),
    ("registry.internal", {"Docker-Distribution-Api-Version": "registry/3.0"}),
    ("registry.internal", {"X-Artifactory-Id": "abc123", **_DIST}),
    ("registry.internal", {"X-JFrog-Version": "Artifactory/7.77.5"}),
    ("registry.internal", {"X-JFrog-Version": "Xray/3"}),
    ("registry.internal", {"WWW-Authenticate": _HARBOR, **_DIST}),
    ("registry.internal", {"www-authenticate": _HARBOR}),
    ("registry.internal", {"WWW-Authenticate": 'Bearer realm="https://h/service/token"'}),
    ("registry.internal", {"WWW-Authenticate": 'Bearer realm="https://h/token",service="harbor-registry"'}),
    ("registry.internal", {"WWW-Authenticate": _GITLAB, **_DIST}),
    ("registry.internal", {"WWW-Authenticate": 'Bearer realm="https://g/jwt/auth",service="x"'}),
    ("registry.internal", {"WWW-Authenticate": 'Bearer realm="https://g/auth",service="container_registry"'}),
    (
        "registry.internal",
        {"WWW-Authenticate": 'Bearer realm="https://quay.example.com/v2/auth",service="quay"'},
    ),
    ("registry.internal", {"WWW-Authenticate": 'Basic realm="zot"'}),
    ("registry.internal", {"WWW-Authenticate": 'basic realm="ZOT"'}),
    ("registry.internal", {"WWW-Authenticate": "Basic realm=zot"}),
    ("registry.internal", {"WWW-Authenticate": 'Bearer realm="zot"'}),
    ("registry.internal", {"WWW-Authenticate": 'Basic realm="Registry Realm"', **_DIST}),
    ("registry.internal", {"WWW-Authenticate": 'Basic realm="Registry Realm"'}),
    (
        "registry.internal",
        {"WWW-Authenticate": 'Bearer realm="https://x.azurecr.io/oauth2/token",service="x.azurecr.io"'},
    ),
    ("registry.internal", {"WWW-Authenticate": 'Bearer realm="https://x/oauth2/token",service="other"'}),
    ("registry.internal", {"WWW-Authenticate": 'Bearer service="harbor-registry", realm="https://h/token"'}),
    ("registry.internal", {"WWW-Authenticate": 'BEARER REALM="HTTPS://H/SERVICE/TOKEN"'}),
    (
        "registry.internal",
        {"WWW-Authenticate": "Bearer realm=https://h/service/token,service=harbor-registry"},
    ),
    (
        "registry.internal",
        {"WWW-Authenticate": 'Bearer realm="https://g/jwt/auth", service="harbor-registry"'},
    ),
    ("registry.internal", {"WWW-Authenticate": "garbage ,,, ===", **_DIST}),
    ("registry.internal", {"WWW-Authenticate": "", **_DIST}),
    ("registry.internal", {"X-Artifactory-Id": "", **_DIST}),
]


def record() -> dict[str, Any]:
    """Today's outputs: advice and recommendations grouped by identical text, and identify()."""
    advice_out: dict[str, list[dict[str, Any]]] = {}
    for topic in TOPICS:
        cases = [{}, *FACT_CASES[topic], ALL_FACTS]
        entries: list[dict[str, Any]] = []
        for facts in cases:
            groups: dict[tuple[str, ...], list[str]] = {}
            for profile in MATRIX:
                groups.setdefault(tuple(advice(topic, profile, **facts)), []).append(profile.key)
            entries.append(
                {
                    "facts": facts,
                    "outputs": [{"profiles": keys, "steps": list(steps)} for steps, keys in groups.items()],
                }
            )
        advice_out[topic] = entries
    recs_out: dict[str, list[dict[str, Any]]] = {}
    for topic in TOPICS:
        rec_groups: dict[tuple[str, ...], list[str]] = {}
        for profile in MATRIX:
            rec_groups.setdefault(tuple(recommendations(topic, profile)), []).append(profile.key)
        recs_out[topic] = [{"profiles": keys, "lines": list(lines)} for lines, keys in rec_groups.items()]
    identified = [
        {"host": host, "headers": headers, "key": identify(host, headers).key}
        for host, headers in IDENTIFY_CASES
    ]
    return {
        "topics": list(TOPICS),
        "profiles": [profile.key for profile in MATRIX],
        "advice": advice_out,
        "recommendations": recs_out,
        "identify": identified,
    }


def _recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    return data


def test_topics_and_profiles_are_unchanged() -> None:
    recorded = _recorded()
    assert list(TOPICS) == recorded["topics"]
    assert [profile.key for profile in MATRIX] == recorded["profiles"]


def test_every_advice_text_is_byte_identical() -> None:
    recorded = _recorded()["advice"]
    current = record()["advice"]
    assert current.keys() == recorded.keys()
    for topic, entries in recorded.items():
        assert current[topic] == entries, topic


def test_every_recommendation_is_byte_identical() -> None:
    assert record()["recommendations"] == _recorded()["recommendations"]


def test_identification_is_unchanged() -> None:
    recorded = _recorded()["identify"]
    current = record()["identify"]
    assert len(current) == len(recorded)
    for now, then in zip(current, recorded, strict=True):
        assert now == then, (now["host"], now["headers"])


if __name__ == "__main__":
    DATA.write_text(json.dumps(record(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {DATA}\n")
