"""Installing the distribution is all it takes: the real ``doctor`` program finds the checks.

These tests run the ``doctor`` script of the environment running pytest, as a user would, so they
exercise the entry point declared in ``pyproject.toml`` (``pip install -e
plugins/examples/net_checks`` or ``make test`` installs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from doctor_example_net.plugin import DNS_CHECK_ID, TLS_CHECK_ID

DOCTOR = Path(sys.executable).with_name("doctor")


def test_the_distribution_declares_its_entry_point() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group="doctor.plugins")}

    assert declared.get("example_net") == "doctor_example_net.plugin"


def doctor(*args: str, cwd: Path, **extra_environ: str) -> subprocess.CompletedProcess[str]:
    """``doctor ARGS`` in a clean environment and an empty directory (no stray configuration)."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8"}
    environ.update(extra_environ)
    return subprocess.run(
        [str(DOCTOR), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def check_ids(document: Any) -> Iterator[str]:
    """Every ``check_id`` anywhere in a JSON document (the listing's layout is the core's business)."""
    if isinstance(document, dict):
        if isinstance(document.get("check_id"), str):
            yield document["check_id"]
        for value in document.values():
            yield from check_ids(value)
    elif isinstance(document, list):
        for item in document:
            yield from check_ids(item)


def test_doctor_list_shows_the_installed_checks(tmp_path: Path) -> None:
    listed = doctor("list", "--format", "json", cwd=tmp_path)

    assert listed.returncode == 0, listed.stderr
    assert {DNS_CHECK_ID, TLS_CHECK_ID} <= set(check_ids(json.loads(listed.stdout)))


def test_disabling_the_plugin_removes_its_checks(tmp_path: Path) -> None:
    listed = doctor("list", "--format", "json", "--disable-plugin", "example_net", cwd=tmp_path)

    assert listed.returncode == 0, listed.stderr
    ids = set(check_ids(json.loads(listed.stdout)))
    assert DNS_CHECK_ID not in ids
    assert TLS_CHECK_ID not in ids


def test_selecting_by_tag_runs_the_installed_check_configured_from_the_environment(tmp_path: Path) -> None:
    ran = doctor("--tag", "dns", "--format", "json", cwd=tmp_path, NET__Hosts='["localhost", "127.0.0.1"]')

    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    (result,) = [r for r in report["results"] if r["check_id"] == DNS_CHECK_ID]
    assert result["status"] == "pass"
    assert result["plugin"] == "example_net"
    assert list(result["evidence"]["hosts"]) == ["localhost", "127.0.0.1"]
