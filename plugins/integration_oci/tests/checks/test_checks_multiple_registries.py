"""Several registries in one run (``OCI.Registries``): real registries, the real CLI.

Three distribution 2.8 processes: the seed's top-level registry (open), an htpasswd+TLS entry
and a token-auth entry. Each registry is a target: its own five results, its own client and
credentials; the exit code is over all of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.images import PushedImage
from devtools.registry import RunningRegistry
from doctor_core.testing import CliResult

CHECKS = ("credentials", "pull", "push", "referrers", "capabilities")


def _write(tmp_path: Path, oci: dict[str, Any]) -> Path:
    path = tmp_path / "doctor.yaml"
    path.write_text(yaml.safe_dump({"OCI": oci}))
    return path


def _run(doctor_cli: Callable[..., CliResult], path: Path, *args: str) -> CliResult:
    return doctor_cli("--config", str(path), *args, environ={"HOME": str(path.parent)})


@pytest.fixture
def three(
    open_registry: RunningRegistry,
    tls_registry: RunningRegistry,
    token_registry: RunningRegistry,
    test_image: PushedImage,
    push_test_image: Callable[..., PushedImage],
) -> dict[str, Any]:
    for registry in (tls_registry, token_registry):
        push_test_image(registry, test_image.repository)
    return {
        **open_registry.oci_config(TestRepository=test_image.repository),
        "Registries": [
            {"Name": "secure", **tls_registry.oci_config()},  # TestRepository inherited
            {"Name": "tokens", **token_registry.oci_config()},
        ],
    }


def test_every_registry_gets_its_own_five_results(
    doctor_cli: Callable[..., CliResult], tmp_path: Path, three: dict[str, Any]
) -> None:
    result = _run(doctor_cli, _write(tmp_path, three), "--tag", "registry", "--format", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["schema_version"] == "1.1"
    rows = [(r["target"], r["check_id"].rsplit(".", 1)[1]) for r in report["results"]]
    assert rows == [(target, check) for check in CHECKS for target in ("default", "secure", "tokens")]
    by_target = {(r["target"], r["check_id"].rsplit(".", 1)[1]): r for r in report["results"]}
    urls = {
        t: by_target[(t, "credentials")]["evidence"]["registry_url"] for t in ("default", "secure", "tokens")
    }
    assert len(set(urls.values())) == 3  # each target probed its own registry
    for target in ("secure", "tokens"):
        assert by_target[(target, "credentials")]["evidence"]["username"] == "admin"
        assert by_target[(target, "pull")]["status"] == "pass", by_target[(target, "pull")]
    # One client per registry: each target's requests are counted on its own client.
    assert all(by_target[(t, "credentials")]["metrics"]["http_requests"] >= 1 for t in urls)


def test_text_groups_by_registry_and_target_selects(
    doctor_cli: Callable[..., CliResult], tmp_path: Path, three: dict[str, Any]
) -> None:
    path = _write(tmp_path, three)
    text = _run(doctor_cli, path, "--tag", "registry")
    assert text.exit_code == 0, text.stdout + text.stderr
    titles = [line for line in text.stdout.splitlines() if line.startswith("Registry Checks Summary")]
    assert titles == [
        "Registry Checks Summary: default",
        "Registry Checks Summary: secure",
        "Registry Checks Summary: tokens",
    ]
    assert "Overall (all targets): " in text.stdout
    assert text.stdout.count("Overall: ") == 3  # one per registry block
    only = _run(doctor_cli, path, "--tag", "registry", "--target", "tokens", "--format", "json")
    assert only.exit_code == 0, only.stderr
    assert {r["target"] for r in json.loads(only.stdout)["results"]} == {"tokens"}
    wrong = _run(doctor_cli, path, "--target", "token")
    assert wrong.exit_code == 2 and "unknown target 'token' (did you mean: tokens?)" in wrong.stderr


def test_credentials_never_go_to_another_entry(
    doctor_cli: Callable[..., CliResult], tmp_path: Path, three: dict[str, Any]
) -> None:
    """The token entry without credentials stays anonymous although the top level and another
    entry have some: its credentials check does not pass, and the other entries still do."""
    tokens = dict(three["Registries"][1])
    tokens.pop("Username"), tokens.pop("Password")
    three["Registries"][1] = tokens
    three["Username"], three["Password"] = three["Registries"][0]["Username"], "top-level-secret-pw"
    result = _run(doctor_cli, _write(tmp_path, three), "--tag", "registry", "--format", "json")
    assert result.exit_code == 1  # the exit code covers every target
    report = json.loads(result.stdout)
    by_target = {(r["target"], r["check_id"].rsplit(".", 1)[1]): r for r in report["results"]}
    assert by_target[("tokens", "credentials")]["evidence"]["username"] in (None, "")
    assert by_target[("tokens", "pull")]["status"] == "fail"
    assert by_target[("secure", "pull")]["status"] == "pass"
    assert "top-level-secret-pw" not in result.stdout + result.stderr


def test_single_registry_output_is_unchanged(
    doctor_cli: Callable[..., CliResult],
    tmp_path: Path,
    open_registry: RunningRegistry,
    test_image: PushedImage,
) -> None:
    path = _write(tmp_path, open_registry.oci_config(TestRepository=test_image.repository))
    result = _run(doctor_cli, path, "--tag", "registry", "--format", "json")
    assert all(r["target"] is None for r in json.loads(result.stdout)["results"])
    text = _run(doctor_cli, path, "--tag", "registry").stdout
    assert text.splitlines()[:2] == ["Registry Checks Summary", "======================="]
    assert "Overall (all targets)" not in text and "Summary:" not in text


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            [{"Name": "m", "RegistryUrl": "localhost:1"}, {"Name": "M", "RegistryUrl": "localhost:2"}],
            "OCI.Registries: Value error, duplicate registry Name 'M' (entries 0 and 1)",
        ),
        (
            [{"Name": "m", "RegistyUrl": "localhost:1"}],
            "OCI.Registries.0: Value error, registry 'm' has no RegistryUrl",
        ),
        (
            [{"Name": "my mirror", "RegistryUrl": "localhost:1"}],
            "OCI.Registries.0.Name: Value error, registry Name 'my mirror'",
        ),
        ([{"RegistryUrl": "localhost:1"}], "OCI.Registries.0.Name: Field required"),
        ([{"Name": "default", "RegistryUrl": "localhost:1"}], "'default' is taken by OCI.RegistryUrl"),
    ],
)
def test_bad_entries_exit_2_naming_the_key(
    doctor_cli: Callable[..., CliResult], tmp_path: Path, entries: list[dict[str, str]], expected: str
) -> None:
    path = _write(tmp_path, {"RegistryUrl": "localhost:5999", "Registries": entries})
    result = _run(doctor_cli, path, "--tag", "registry")
    assert result.exit_code == 2, result
    assert expected in result.stderr, result.stderr
    assert result.stdout == ""
    if any("RegistyUrl" in entry for entry in entries):
        assert "did you mean 'RegistryUrl'" in result.stderr  # the close match of the typo


def test_environment_form(
    doctor_cli: Callable[..., CliResult],
    tmp_path: Path,
    open_registry: RunningRegistry,
    nodelete_registry: RunningRegistry,
    test_image: PushedImage,
) -> None:
    environ = {
        "HOME": str(tmp_path),
        "OCI__RegistryUrl": open_registry.url,
        "OCI__TestRepository": test_image.repository,
        "OCI__Registries__0__Name": "nodelete",
        "OCI__Registries__0__RegistryUrl": nodelete_registry.url,
    }
    result = doctor_cli("--check", "check.integration.oci.credentials", "--format", "json", environ=environ)
    assert result.exit_code == 0, result.stderr
    assert [r["target"] for r in json.loads(result.stdout)["results"]] == ["default", "nodelete"]
