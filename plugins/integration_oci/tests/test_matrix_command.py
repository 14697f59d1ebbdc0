"""``doctor oci matrix``: measured facts from real registries, through the real CLI."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.images import PushedImage, push_referrer, push_tag_schema_index
from devtools.ports import free_port
from devtools.registry import RunningRegistry
from doctor_core.testing import CliResult

CELLS = (
    "product",
    "referrers_api",
    "artifact_type_filter",
    "tag_schema_fallback",
    "chunked_upload",
    "cross_repo_mount",
    "manifest_delete",
    "blob_delete",
)


def _matrix(doctor_cli: Callable[..., CliResult], home: Path, oci: dict[str, Any], *args: str) -> CliResult:
    path = home / "doctor.yaml"
    path.write_text(yaml.safe_dump({"OCI": oci}))
    return doctor_cli("--config", str(path), "oci", "matrix", *args, environ={"HOME": str(home)})


def _values(row: dict[str, Any]) -> dict[str, str | None]:
    return {key: row[key]["value"] for key in CELLS}


@pytest.fixture
def filled(
    open_registry: RunningRegistry,
    nodelete_registry: RunningRegistry,
    test_image: PushedImage,
    push_test_image: Callable[..., PushedImage],
) -> dict[str, Any]:
    """Both registries hold the test image with one SBOM referrer in its tag-schema index."""
    for registry in (open_registry, nodelete_registry):
        image = push_test_image(registry, test_image.repository)
        sbom = push_referrer(registry, test_image.repository, image, "application/spdx+json")
        push_tag_schema_index(registry, test_image.repository, image.digest, [sbom])
    return {
        "RegistryUrl": open_registry.url,
        "TestRepository": test_image.repository,
        "Registries": [{"Name": "nodelete", "RegistryUrl": nodelete_registry.url}],
    }


def test_every_configured_registry_gets_a_measured_row(
    doctor_cli: Callable[..., CliResult],
    tmp_path: Path,
    filled: dict[str, Any],
    open_registry: RunningRegistry,
) -> None:
    result = _matrix(doctor_cli, tmp_path, filled, "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["registries"]
    assert [row["registry"] for row in rows] == ["default", "nodelete"]
    common = {
        "product": "CNCF Distribution (registry:2)",
        "referrers_api": "fallback",
        "artifact_type_filter": "client-side",
        "tag_schema_fallback": "yes",
        "chunked_upload": "yes",
        "cross_repo_mount": "yes",
    }
    assert _values(rows[0]) == {**common, "manifest_delete": "yes", "blob_delete": "yes"}
    assert _values(rows[1]) == {**common, "manifest_delete": "no", "blob_delete": "no"}
    assert rows[0]["url"] == open_registry.url
    assert "404 without an OCI index" in rows[0]["referrers_api"]["evidence"]
    assert "holds 1" in rows[0]["tag_schema_fallback"]["evidence"]
    assert all(row[key]["measured"] for row in rows for key in CELLS)
    assert rows[0]["measured_at"].endswith("+00:00")


def test_text_and_markdown_formats(
    doctor_cli: Callable[..., CliResult], tmp_path: Path, filled: dict[str, Any]
) -> None:
    text = _matrix(doctor_cli, tmp_path, filled)
    assert text.exit_code == 0, text.stderr
    header, first, second = text.stdout.splitlines()[:3]
    assert header.split()[:3] == ["REGISTRY", "PRODUCT", "REFERRERS"]
    assert first.startswith("default ") and second.startswith("nodelete ")
    assert "  Manifest delete: no (DELETE of a manifest digest was answered 405 / UNSUPPORTED)" in text.stdout
    markdown = _matrix(doctor_cli, tmp_path, filled, "nodelete", "--format", "markdown")
    lines = markdown.stdout.splitlines()
    assert lines[0].startswith("| Registry | Product | Referrers API |") and len(lines) == 3
    assert lines[2].startswith("| nodelete | **CNCF Distribution (registry:2)**")
    assert "&lt;digest&gt;" in lines[2] and "127.0.0.1" not in markdown.stdout


def test_an_unreachable_registry_is_not_measured_with_the_reason(
    doctor_cli: Callable[..., CliResult], tmp_path: Path, filled: dict[str, Any]
) -> None:
    filled["Registries"].append({"Name": "down", "RegistryUrl": f"http://127.0.0.1:{free_port()}"})
    result = _matrix(doctor_cli, tmp_path, filled, "--format", "json")
    assert result.exit_code == 1  # one registry could not be measured at all
    rows = {row["registry"]: row for row in json.loads(result.stdout)["registries"]}
    assert all(rows["default"][key]["measured"] for key in CELLS)
    down = rows["down"]
    assert all(down[key]["value"] is None for key in CELLS)
    assert "connection refused" in down["chunked_upload"]["evidence"], down


def test_an_address_gets_docker_config_credentials_only(
    doctor_cli: Callable[..., CliResult],
    tmp_path: Path,
    token_registry: RunningRegistry,
    test_image: PushedImage,
    push_test_image: Callable[..., PushedImage],
) -> None:
    """The configured (top-level) credentials of the token registry are not used for it when it
    is named by address: without a docker config it is anonymous (not measured, 401); with one
    for its host, measured."""
    push_test_image(token_registry, test_image.repository)
    configured = token_registry.oci_config(TestRepository=test_image.repository)
    configured["DockerConfig"] = str(tmp_path / "no-docker-config.json")
    anonymous = _matrix(doctor_cli, tmp_path, configured, token_registry.url, "--format", "json")
    assert anonymous.exit_code == 0, anonymous.stdout  # measured what an anonymous client can
    row = json.loads(anonymous.stdout)["registries"][0]
    assert row["registry"] == token_registry.url
    assert row["chunked_upload"]["value"] is None  # pushing needs credentials it did not get
    assert "got no verdict" in row["chunked_upload"]["evidence"]
    assert configured["Password"] not in anonymous.stdout + anonymous.stderr
    user, password = token_registry.credentials("admin")
    docker = tmp_path / ".docker"
    docker.mkdir()
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {token_registry.host: {"auth": auth}}}))
    configured["DockerConfig"] = str(docker / "config.json")  # inherited, as by an entry
    with_docker = _matrix(doctor_cli, tmp_path, configured, token_registry.url, "--format", "json")
    assert with_docker.exit_code == 0, with_docker.stdout
    assert json.loads(with_docker.stdout)["registries"][0]["chunked_upload"]["value"] == "yes"
    # The configured registry by its name uses its configured credentials.
    by_name = _matrix(doctor_cli, tmp_path / ".docker", configured, "default", "--format", "json")
    assert by_name.exit_code == 0, by_name.stdout


def test_usage_errors(doctor_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    nothing = _matrix(doctor_cli, tmp_path, {})
    assert nothing.exit_code == 2 and "no registry to measure" in nothing.stderr
    bad = _matrix(doctor_cli, tmp_path, {"RegistryUrl": "localhost:1"}, "ftp://x")
    assert bad.exit_code == 2 and "neither a configured registry" in bad.stderr
