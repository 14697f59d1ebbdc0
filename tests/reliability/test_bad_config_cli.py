"""Malformed configuration and broken credential sources: a clear message naming the key or file.

Configuration errors (malformed YAML, wrong types, a SecretRef to a missing variable or file) are
exit code 2 with the key or file named and no traceback. Unknown keys are a warning (with a
suggestion) and the run goes on. Broken credential *sources* (an unreadable docker config, a
credential helper that hangs or prints garbage) are a failed credentials check naming the file or
helper -- bounded in time.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability.runner import DoctorRun, base_environment, run_doctor
from tests.reliability.support import ReliabilityRegistry

CREDENTIALS = "check.integration.oci.credentials"
ARGS = ("--check", CREDENTIALS, "--format", "json", "--timeout", "15")


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path, dict[str, str]], tuple[str, ...]]
    verify: Callable[[DoctorRun, Path], None]


def _no_traceback(run: DoctorRun) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    assert not run.killed


def _config_error(*needles: str) -> Callable[[DoctorRun, Path], None]:
    def verify(run: DoctorRun, home: Path) -> None:
        _no_traceback(run)
        assert run.exit_code == 2, f"exit {run.exit_code}\n{run.stderr}"
        assert run.stdout.strip() == "", f"nothing but the error should be printed: {run.stdout}"
        for needle in needles:
            expected = needle.format(home=home)
            assert expected in run.stderr, f"{expected!r} not in stderr: {run.stderr}"
        assert len(run.stderr.strip().splitlines()) <= 3, run.stderr

    return verify


def _failed_credentials(*needles: str, within: float = 12.0) -> Callable[[DoctorRun, Path], None]:
    def verify(run: DoctorRun, home: Path) -> None:
        _no_traceback(run)
        assert run.duration_s < within, f"took {run.duration_s:.1f}s"
        result = run.result(CREDENTIALS)
        assert result["status"] == "fail", result
        text = json.dumps(result)
        for needle in needles:
            expected = needle.format(home=home)
            assert expected.lower() in text.lower(), f"{expected!r} not in {result}"
        assert run.exit_code == 1

    return verify


def _yaml(text: str) -> Callable[[Path, dict[str, str]], tuple[str, ...]]:
    def setup(home: Path, env: dict[str, str]) -> tuple[str, ...]:
        path = home / "doctor.yaml"
        path.write_text(text)
        return ("--config", str(path))

    return setup


def _env(**values: str) -> Callable[[Path, dict[str, str]], tuple[str, ...]]:
    def setup(home: Path, env: dict[str, str]) -> tuple[str, ...]:
        env.update({key: value.format(home=home) for key, value in values.items()})
        return ()

    return setup


def _helper(script: str) -> Callable[[Path, dict[str, str]], tuple[str, ...]]:
    """A docker config using credsStore 'relbad', whose helper program is ``script``."""

    def setup(home: Path, env: dict[str, str]) -> tuple[str, ...]:
        bin_dir = home / "bin"
        bin_dir.mkdir()
        helper = bin_dir / "docker-credential-relbad"
        helper.write_text("#!/bin/sh\n" + script + "\n")
        helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        docker = home / ".docker"
        docker.mkdir()
        (docker / "config.json").write_text(json.dumps({"credsStore": "relbad"}))
        return ()

    return setup


def _docker_config(content: str) -> Callable[[Path, dict[str, str]], tuple[str, ...]]:
    def setup(home: Path, env: dict[str, str]) -> tuple[str, ...]:
        docker = home / ".docker"
        docker.mkdir()
        (docker / "config.json").write_text(content)
        return ()

    return setup


CASES = [
    Case(
        "malformed-yaml",
        _yaml("OCI:\n  RegistryUrl: [unclosed\n"),
        _config_error("{home}/doctor.yaml", "YAML"),
    ),
    Case("yaml-not-a-mapping", _yaml("- just\n- a list\n"), _config_error("{home}/doctor.yaml", "mapping")),
    Case("section-wrong-type", _yaml("OCI: 42\n"), _config_error("OCI")),
    Case(
        "wrong-type-env",
        _env(OCI__TimeoutSeconds="soon"),
        _config_error("OCI.TimeoutSeconds", "OCI__TimeoutSeconds"),
    ),
    Case("invalid-value", _yaml("OCI:\n  TestRepository: '/'\n"), _config_error("OCI.TestRepository")),
    Case(
        "secretref-missing-env",
        _env(OCI__Username="u", OCI__PasswordSecretRef="env:REL_UNSET_PASSWORD"),
        _config_error("OCI.PasswordSecretRef", "REL_UNSET_PASSWORD"),
    ),
    Case(
        "secretref-missing-file",
        _env(OCI__Username="u", OCI__PasswordSecretRef="file:{home}/nope.txt"),
        _config_error("OCI.PasswordSecretRef", "{home}/nope.txt"),
    ),
    Case(
        "missing-config-file",
        lambda home, env: ("--config", str(home / "absent.yaml")),
        _config_error("{home}/absent.yaml"),
    ),
    Case(
        "docker-config-not-json",
        _docker_config("{not json"),
        _failed_credentials("{home}/.docker/config.json"),
    ),
    Case(
        "docker-config-bad-auth",
        _docker_config(json.dumps({"auths": {"HOST": {"auth": "!!notbase64"}}})),
        _failed_credentials("{home}/.docker/config.json"),
    ),
    Case("helper-hangs", _helper("sleep 60"), _failed_credentials("relbad", within=30.0)),
    Case("helper-garbage", _helper("echo '<<<garbage>>>'"), _failed_credentials("relbad", "json")),
]


@pytest.mark.slow
def test_bad_configuration_and_credential_sources(
    reliability_registry: ReliabilityRegistry, tmp_path: Path
) -> None:
    url = reliability_registry.registry.url
    host = url.split("://", 1)[1]

    def run_case(case: Case) -> tuple[Case, DoctorRun, Path]:
        home = tmp_path / case.name
        env = base_environment(home, {"OCI__RegistryUrl": url, "OCI__TimeoutSeconds": "3"})
        extra = case.setup(home, env)
        config = home / ".docker" / "config.json"
        if config.is_file():
            config.write_text(config.read_text().replace("HOST", host))
        return case, run_doctor([*extra, *ARGS], env, timeout=60), home

    with ThreadPoolExecutor(6) as executor:
        outcomes = list(executor.map(run_case, CASES))
    failures = []
    for case, run, home in outcomes:
        try:
            case.verify(run, home)
        except AssertionError as exc:
            shown = f"\n  stdout: {run.stdout[-800:]}\n  stderr: {run.stderr[-800:]}"
            failures.append(f"[{case.name}] {exc}{shown}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_unknown_key_warns_with_suggestion_and_runs(
    reliability_registry: ReliabilityRegistry, tmp_path: Path
) -> None:
    config = tmp_path / "doctor.yaml"
    config.write_text(f"OCI:\n  RegistryUrl: {reliability_registry.registry.url}\n  TestRepositry: x/y\n")
    run = run_doctor(["--config", str(config), *ARGS], base_environment(tmp_path / "home"), timeout=60)
    _no_traceback(run)
    assert "OCI.TestRepositry" in run.stderr and "TestRepository" in run.stderr, run.stderr
    assert "warning" in run.stderr.lower()
    assert run.result(CREDENTIALS)["status"] == "pass"
    assert run.exit_code == 0
