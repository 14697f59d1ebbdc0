"""``--format prometheus`` through the command line: in-process with the test kit, then for real.

The in-process tests pair the reporter with a fake check plugin defined here, so they show how a
reporter author tests a format without depending on any real check. The last tests run the
installed ``doctor`` program to prove that installing the distribution is all it takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path

from doctor_example_prometheus import plugin as prometheus_plugin
from exposition_parser import parse_exposition

from doctor_core import Check, CheckContext, CheckDefinition, CheckOutcome, Severity, Status, hookimpl
from doctor_core.testing import CliResult

DOCTOR = Path(sys.executable).with_name("doctor")


async def passing_check(ctx: CheckContext) -> CheckOutcome:
    return CheckOutcome(status=Status.PASS, message="all good")


async def skipped_check(ctx: CheckContext) -> CheckOutcome:
    return CheckOutcome(status=Status.SKIP, message="nothing to do")


class FakeChecks:
    """An in-process plugin: any object with ``@hookimpl`` methods is one."""

    __name__ = "fake_checks"

    @hookimpl
    def doctor_add_checks(self) -> Iterator[Check]:
        for suffix, run in (("passing", passing_check), ("skipped", skipped_check)):
            yield Check(
                CheckDefinition(
                    check_id=f"check.fake.{suffix}",
                    name=f"Fake {suffix}",
                    default_severity=Severity.WARN,
                    tags=("fake",),
                    estimated_duration_s=1,
                ),
                run=run,
            )


def test_the_format_renders_a_run_of_in_process_checks(doctor_cli: Callable[..., CliResult]) -> None:
    result = doctor_cli(
        "--format", "prometheus", plugins=[FakeChecks(), prometheus_plugin], load_entrypoints=False
    )

    assert result.exit_code == 0, result.stderr
    families = parse_exposition(result.stdout)
    hot = {
        s.labels["check_id"]: s.labels["status"]
        for s in families["doctor_check_status"].samples
        if s.value == 1
    }
    assert hot == {"check.fake.passing": "pass", "check.fake.skipped": "skip"}
    totals = {s.labels["status"]: s.value for s in families["doctor_checks_total"].samples}
    assert totals["pass"] == 1
    assert totals["skip"] == 1
    assert families["doctor_run_duration_seconds"].samples[0].value >= 0


def test_the_format_is_unknown_without_the_plugin(doctor_cli: Callable[..., CliResult]) -> None:
    result = doctor_cli("--format", "prometheus", plugins=[FakeChecks()], load_entrypoints=False)

    assert result.exit_code == 2
    assert "prometheus" in result.stderr
    assert "doctor_check_status" not in result.stdout


# ------------------------------------------------------------------- the installed distribution


def doctor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``doctor ARGS`` in a clean environment and an empty directory (no stray configuration)."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(DOCTOR), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_distribution_declares_its_entry_point() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group="doctor.plugins")}

    assert declared.get("example_prometheus") == "doctor_example_prometheus.plugin"


def test_the_installed_doctor_offers_the_format(tmp_path: Path) -> None:
    # The example's own sibling, the net checks, gives the run a real check to report on.
    ran = doctor("--check", "check.example.dns.resolve", "--format", "prometheus", cwd=tmp_path)

    assert ran.returncode == 0, ran.stderr
    families = parse_exposition(ran.stdout)
    (hot,) = [s for s in families["doctor_check_status"].samples if s.value == 1]
    assert hot.labels == {"check_id": "check.example.dns.resolve", "plugin": "example_net", "status": "pass"}


def test_disabling_the_plugin_removes_the_format(tmp_path: Path) -> None:
    ran = doctor(
        "--check", "check.example.dns.resolve", "--format", "prometheus",
        "--disable-plugin", "example_prometheus", cwd=tmp_path,
    )  # fmt: skip

    assert ran.returncode == 2
    assert "prometheus" in ran.stderr
    assert ran.stdout == ""
