"""Plugin faults are contained, end to end through the ``doctor`` command line (issue #12, item 8).

Fake plugins (real distributions on a temporary ``PYTHONPATH``, see ``fake_plugins``) next to a
healthy one. Each test asserts the exit code, the report and the wall time of the process:

* ``sys.exit(5)``, a raised ``KeyboardInterrupt`` and a raised ``BaseException`` subclass inside a
  check become that check's ``error``; the run goes on and the report is complete;
* a check that swallows ``CancelledError`` and a sync check stuck in its thread are abandoned one
  grace second after their timeout, or after the run's deadline, and the process exits on time;
* an import that hangs is reported as its distribution's ``load`` problem after
  ``DOCTOR_PLUGIN_IMPORT_TIMEOUT``; ``doctor list`` and runs go on;
* ``print()`` at import, in a check and in a hook never reaches stdout in ``json`` and ``junit``
  (it goes to stderr);
* an async check that blocks the event loop is named in its result;
* the user's real SIGINT still interrupts the run: exit 130 and a partial report.
"""

from __future__ import annotations

import json
import signal
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.fake_plugins import PASS, check_module, environment, install
from tests.reliability.runner import DoctorRun, run_doctor

TAG = "relcontain"
PREFIX = "check.relcontain."
#: Start-up, report writing and a loaded machine (2 cores shared by many test runs).
MARGIN_S = 3.0
SWALLOW = (
    "import asyncio",
    "while True:",
    "    try:",
    "        await asyncio.sleep(0.05)",
    "    except asyncio.CancelledError:",
    "        pass",
)


def _plugin(name: str, *body: str, sync: bool = False, top: str = "") -> tuple[str, str]:
    module = f"rel_contain_{name}"
    return module, check_module(PREFIX + name, *body, tag=TAG, sync=sync, top=top)


PLUGINS: dict[str, tuple[str, str]] = {
    "rel-contain-healthy": _plugin("healthy", PASS),
    "rel-contain-exits": _plugin("exits", "import sys", "sys.exit(5)"),
    "rel-contain-keyboard": _plugin("keyboard", "raise KeyboardInterrupt('from the check')"),
    "rel-contain-base": _plugin("base", "class Odd(BaseException): pass", "raise Odd('odd')"),
    "rel-contain-sync-exits": _plugin("sync_exits", "raise SystemExit(3)", sync=True),
    "rel-contain-swallows": _plugin("swallows", *SWALLOW),
    "rel-contain-stuck-thread": _plugin("stuck_thread", "import time", "time.sleep(600)", sync=True),
    # Leaves a non-daemon thread behind: Python would join it at exit, for 10 minutes.
    "rel-contain-thread-left": _plugin(
        "thread_left",
        "import threading, time",
        "threading.Thread(target=time.sleep, args=(600,)).start()",
        PASS,
    ),
    "rel-contain-blocks-loop": _plugin("blocks_loop", "import time", "time.sleep(1.5)", PASS),
    "rel-contain-prints": _plugin("prints", "print('CHECK-NOISE')", PASS, top="print('IMPORT-NOISE')\n"),
    "rel-contain-hook-prints": (
        "rel_contain_hook_prints",
        "from doctor_core import hookimpl\n\n\n@hookimpl\ndef doctor_check_started(definition):\n"
        "    print('HOOK-NOISE', definition.check_id)\n",
    ),
}
HANGING_IMPORT = {
    "rel-contain-import-hangs": ("rel_contain_import_hangs", "import time\ntime.sleep(600)\n"),
    "rel-contain-listed": _plugin("listed", PASS),
}
NOISE = ("IMPORT-NOISE", "CHECK-NOISE", "HOOK-NOISE")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install(tmp_path_factory.mktemp("contain-site"), PLUGINS)


def _described(run: DoctorRun) -> str:
    return (
        f"exit {run.exit_code} after {run.duration_s:.1f} s\nstdout:\n{run.stdout[-3000:]}\n"
        f"stderr:\n{run.stderr[-3000:]}"
    )


def _results(run: DoctorRun) -> dict[str, dict[str, Any]]:
    return {r["check_id"].removeprefix(PREFIX): r for r in run.report()["results"]}


@pytest.mark.slow
def test_base_exceptions_and_hung_checks_become_errors_and_the_run_ends_on_time(
    site: Path, tmp_path: Path
) -> None:
    run = run_doctor(
        ["--tag", TAG, "--format", "json", "--timeout", "3", "--deadline", "8"],
        environment(site, tmp_path),
        timeout=60,
    )
    described = _described(run)
    assert not run.killed, described
    assert "Traceback" not in run.stderr, described
    results = _results(run)
    assert results["healthy"]["status"] == "pass", described
    assert results["thread_left"]["status"] == "pass", described  # and the process still exits
    for name, words in [
        ("exits", "SystemExit: 5"),
        ("keyboard", "KeyboardInterrupt: from the check"),
        ("base", "Odd: odd"),
        ("sync_exits", "SystemExit: 3"),
    ]:
        assert results[name]["status"] == "error", f"{name}\n{described}"
        assert words in results[name]["message"], f"{name}\n{described}"
    for name in ("swallows", "stuck_thread"):
        message = results[name]["message"]
        assert results[name]["status"] == "error", f"{name}\n{described}"
        assert message.startswith("timed out after 3 s"), f"{name}\n{described}"
        assert "abandoned" in message, f"{name}\n{described}"
    # Timeout 3 s + 1 s grace for the abandoned ones; far below the 8 s deadline.
    assert run.duration_s < 3 + 1 + MARGIN_S, described
    assert run.exit_code == 1, described


@pytest.mark.slow
def test_run_deadline_abandons_a_check_that_ignores_cancellation(site: Path, tmp_path: Path) -> None:
    run = run_doctor(
        [
            "--check",
            PREFIX + "swallows",
            "--check",
            PREFIX + "healthy",
            "--format",
            "json",
            "--timeout",
            "60",
            "--deadline",
            "2",
        ],
        environment(site, tmp_path),
        timeout=60,
    )
    described = _described(run)
    assert not run.killed, described
    results = _results(run)
    assert results["healthy"]["status"] == "pass", described
    assert results["swallows"]["status"] == "error", described
    assert results["swallows"]["message"] == (
        "run deadline of 2 s reached (the check did not stop within 1 s of being cancelled; abandoned)"
    ), described
    assert run.duration_s < 2 + 1 + MARGIN_S, described
    assert run.exit_code == 1, described


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "junit"])
def test_plugin_prints_never_reach_stdout_in_machine_formats(site: Path, tmp_path: Path, fmt: str) -> None:
    run = run_doctor(
        ["--check", PREFIX + "prints", "--check", PREFIX + "healthy", "--format", fmt],
        environment(site, tmp_path),
        timeout=60,
    )
    described = _described(run)
    assert run.exit_code == 0, described
    for noise in NOISE:
        assert noise not in run.stdout, f"{noise}\n{described}"
        assert noise in run.stderr, f"{noise}\n{described}"
    if fmt == "json":
        assert _results(run)["prints"]["status"] == "pass", described
    else:
        ET.fromstring(run.stdout)  # parses: nothing but the report on stdout


@pytest.mark.slow
def test_plugin_prints_never_reach_stdout_of_doctor_list(site: Path, tmp_path: Path) -> None:
    run = run_doctor(["list", "--tag", TAG, "--format", "json"], environment(site, tmp_path), timeout=60)
    described = _described(run)
    assert run.exit_code == 0, described
    listed = {item["check_id"] for item in json.loads(run.stdout)}
    assert PREFIX + "healthy" in listed, described
    assert "IMPORT-NOISE" in run.stderr, described


@pytest.mark.slow
def test_a_check_that_blocks_the_event_loop_is_named(site: Path, tmp_path: Path) -> None:
    run = run_doctor(
        ["--check", PREFIX + "blocks_loop", "--check", PREFIX + "healthy", "--format", "json"],
        environment(site, tmp_path),
        timeout=60,
    )
    described = _described(run)
    results = _results(run)
    blocker = results["blocks_loop"]
    assert blocker["status"] == "pass", described
    assert blocker["metrics"]["event_loop_blocked_ms"] >= 1400, described
    assert "blocked the event loop for 1.5 s" in blocker["message"], described
    assert "event_loop_blocked_ms" not in results["healthy"]["metrics"], described
    assert "blocked" not in results["healthy"]["message"], described


@pytest.mark.slow
def test_a_hanging_plugin_import_is_that_plugins_problem(tmp_path: Path) -> None:
    site = install(tmp_path / "site", HANGING_IMPORT)
    env = environment(site, tmp_path / "home", {"DOCTOR_PLUGIN_IMPORT_TIMEOUT": "2"})
    listing = run_doctor(["list", "--format", "json"], env, timeout=60)
    described = _described(listing)
    assert not listing.killed, described
    assert listing.exit_code == 0, described
    assert PREFIX + "listed" in {item["check_id"] for item in json.loads(listing.stdout)}, described
    assert "rel-contain-import-hangs" in listing.stderr, described
    assert "did not finish within 2 s" in listing.stderr, described
    assert listing.duration_s < 2 + MARGIN_S, described

    run = run_doctor(["--check", PREFIX + "listed", "--format", "json"], env, timeout=60)
    described = _described(run)
    assert run.exit_code == 0, described  # a plugin problem is reported; only --strict-plugins fails
    report = run.report()
    assert report["results"][0]["status"] == "pass", described
    [problem] = [p for p in report["plugin_errors"] if p["distribution"] == "rel-contain-import-hangs"]
    assert problem["stage"] == "load", described
    assert "did not finish within 2 s" in problem["error"], described
    assert run.duration_s < 2 + MARGIN_S, described


@pytest.mark.slow
def test_the_users_sigint_still_interrupts_with_a_partial_report(site: Path, tmp_path: Path) -> None:
    started = threading.Event()
    started.set()
    run = run_doctor(
        [
            "--check",
            PREFIX + "swallows",
            "--check",
            PREFIX + "healthy",
            "--format",
            "json",
            "--timeout",
            "60",
        ],
        environment(site, tmp_path),
        timeout=60,
        signal_after=(started, 2.0, signal.SIGINT),
    )
    described = _described(run)
    assert run.exit_code == 130, described
    report = run.report()
    assert report["interrupted"] is True, described
    results = _results(run)
    assert results["healthy"]["status"] == "pass", described
    assert results["swallows"]["status"] == "error", described
    assert results["swallows"]["message"].startswith("interrupted"), described
    # 2 s until the signal, then at most the 5 s cleanup grace for the check that ignores it.
    assert run.duration_s < 2 + 5 + MARGIN_S, described


@pytest.mark.slow
def test_a_non_daemon_thread_left_by_a_plugin_does_not_hold_the_process(site: Path, tmp_path: Path) -> None:
    """Nothing is abandoned here: only the lingering thread itself must not keep the process alive."""
    run = run_doctor(
        ["--check", PREFIX + "thread_left", "--check", PREFIX + "healthy", "--format", "json"],
        environment(site, tmp_path),
        timeout=30,
    )
    described = _described(run)
    assert not run.killed, described
    assert run.exit_code == 0, described
    assert {r["status"] for r in run.report()["results"]} == {"pass"}, described
    assert run.duration_s < 1 + MARGIN_S, described
