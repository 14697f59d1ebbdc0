"""Broken plugins, end to end through the ``doctor`` command line (the core's unit view is in tests/core).

Real distributions (``*.dist-info`` with ``entry_points.txt``) on a temporary ``PYTHONPATH``: one
whose module fails to import, one raising in registration, one declaring a check id another
plugin already has, one whose check returns garbage, one whose check raises, one whose check hangs
past its timeout -- next to a healthy plugin. The run must complete; each load/registration problem
is reported once, naming its distribution; every other check still runs; ``--strict-plugins``
turns the problems into exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.runner import base_environment, run_doctor

GROUP = "doctor.plugins"
HEADER = "from doctor_core import Check, CheckDefinition, CheckOutcome, Status, hookimpl\n"


def _check(check_id: str, *body: str) -> str:
    """Source of a plugin module contributing one async check whose body is ``body`` (lines)."""
    name = check_id.rsplit(".", 1)[-1]
    lines = "\n".join(f"    {line}" for line in body)
    definition = (
        f"CheckDefinition(check_id={check_id!r}, name={name!r}, tags=('relbroken',), estimated_duration_s=1)"
    )
    return (
        f"{HEADER}\n\nasync def _run(ctx):\n{lines}\n\n\n@hookimpl\ndef doctor_add_checks():\n"
        f"    return [Check({definition}, run=_run)]\n"
    )


PASS = "return CheckOutcome(status=Status.PASS, message='fine')"
PLUGINS: dict[str, tuple[str, str]] = {
    # distribution name -> (module name, source)
    "rel-healthy": ("rel_healthy", _check("check.relbroken.healthy", PASS)),
    "rel-import-fails": ("rel_import_fails", "import rel_module_that_does_not_exist\n"),
    "rel-register-raises": (
        "rel_register_raises",
        HEADER
        + ("\n\n@hookimpl\ndef doctor_add_checks():\n    raise RuntimeError('registration exploded')\n"),
    ),
    "rel-duplicate": ("rel_duplicate", _check("check.relbroken.healthy", PASS)),
    "rel-malformed": ("rel_malformed", _check("check.relbroken.malformed", "return {'status': 'pass'}")),
    "rel-raises": ("rel_raises", _check("check.relbroken.raises", "raise ZeroDivisionError('exploded')")),
    "rel-hangs": ("rel_hangs", _check("check.relbroken.hangs", "import asyncio", "await asyncio.sleep(600)")),
}
LOAD_PROBLEMS = ("rel-import-fails", "rel-register-raises", "rel-duplicate")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("broken-site")
    for dist, (module, source) in PLUGINS.items():
        info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
        (info / "entry_points.txt").write_text(f"[{GROUP}]\n{module} = {module}\n")
        (site / f"{module}.py").write_text(source)
    return site


def _env(site: Path, home: Path) -> dict[str, str]:
    env = base_environment(home)
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    return env


@pytest.mark.slow
def test_broken_plugins_do_not_break_the_run(plugin_site: Path, tmp_path: Path) -> None:
    env = _env(plugin_site, tmp_path)
    run = run_doctor(["--tag", "relbroken", "--format", "json", "--timeout", "2"], env, timeout=40)
    described = f"exit {run.exit_code}\nstdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    assert not run.killed, described
    assert run.duration_s < 20, described
    assert "Traceback" not in run.stderr, described
    report = run.report()
    statuses = {r["check_id"]: r for r in report["results"]}
    assert statuses["check.relbroken.healthy"]["status"] == "pass", described
    for check_id in ("check.relbroken.malformed", "check.relbroken.raises", "check.relbroken.hangs"):
        assert statuses[check_id]["status"] == "error", f"{check_id}\n{described}"
    assert "ZeroDivisionError" in statuses["check.relbroken.raises"]["message"]
    assert "timed out" in statuses["check.relbroken.hangs"]["message"].lower()
    problems = report["plugin_errors"]
    for dist in LOAD_PROBLEMS:
        mine = [p for p in problems if p.get("distribution") == dist]
        assert len(mine) == 1, f"{dist}: expected exactly one problem, got {mine}\n{described}"
    # Machine-readable stdout stays JSON; the problems also go to stderr, once each.
    for dist in LOAD_PROBLEMS:
        lines = [line for line in run.stderr.splitlines() if f"(distribution {dist}) failed" in line]
        assert len(lines) == 1, f"{dist} not reported once on stderr\n{described}"
    assert run.exit_code == 1, described


@pytest.mark.slow
def test_strict_plugins_turns_problems_into_exit_2(plugin_site: Path, tmp_path: Path) -> None:
    run = run_doctor(
        ["--tag", "relbroken", "--format", "json", "--strict-plugins", "--timeout", "2"],
        _env(plugin_site, tmp_path),
        timeout=40,
    )
    described = f"exit {run.exit_code}\nstdout:\n{run.stdout[-2000:]}\nstderr:\n{run.stderr[-2000:]}"
    assert run.exit_code == 2, described
    assert "Traceback" not in run.stderr, described
    assert any(dist in run.stderr for dist in LOAD_PROBLEMS), described


@pytest.mark.slow
def test_plugins_command_lists_each_problem_once(plugin_site: Path, tmp_path: Path) -> None:
    run = run_doctor(["plugins", "--format", "json"], _env(plugin_site, tmp_path), timeout=40)
    assert run.exit_code == 0, run.stderr
    problems = json.loads(run.stdout)["problems"]
    for dist in LOAD_PROBLEMS:
        assert sum(1 for p in problems if p.get("distribution") == dist) == 1, problems
