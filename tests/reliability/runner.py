"""Run the ``doctor`` command line in a subprocess and measure it: exit code, output, wall time, peak RSS.

Why a subprocess: the matrix must see what a user sees (real argument parsing, signal handlers,
stdout/stderr separation) and must measure the *memory* of one run. The run goes through
:mod:`devtools.peak_rss` (the helper the bench uses too): a small launcher forks doctor and reaps
it with ``os.wait4``, so the peak RSS is doctor's own (not pytest's high-water mark, which Linux
charges a child forked straight from it at ``exec``), and cells can run in parallel threads and
still each get their own ``ru_maxrss``.

The environment of every run is built from scratch (:func:`base_environment`): no ``OCI__*`` or
``DOCTOR_*`` variable of the developer's shell leaks in, ``HOME`` and ``DOCKER_CONFIG`` point at
an empty directory so no real docker credentials are ever read, and proxies are disabled.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import peak_rss

REPO = Path(__file__).resolve().parents[2]
DOCTOR = [sys.executable, "-m", "doctor_core.cli"]
#: Variables kept from the parent environment (everything else is dropped).
_KEEP = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")


class DoctorRunError(RuntimeError):
    """The doctor subprocess could not be started or its output is not what the caller required."""


@dataclass(frozen=True)
class DoctorRun:
    """What one ``doctor`` process did."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    maxrss_kb: int
    killed: bool

    def report(self) -> dict[str, Any]:
        """stdout parsed as the JSON report; :class:`DoctorRunError` with the output when it is not."""
        try:
            data = json.loads(self.stdout)
        except ValueError:
            raise DoctorRunError(
                f"stdout of doctor {' '.join(self.args)} is not JSON (exit {self.exit_code}):\n"
                f"--- stdout ---\n{self.stdout[:3000]}\n--- stderr ---\n{self.stderr[:3000]}"
            ) from None
        if not isinstance(data, dict) or "results" not in data:
            raise DoctorRunError(f"stdout is JSON but not a report: {self.stdout[:500]}")
        return data

    def result(self, check_id: str) -> dict[str, Any]:
        for result in self.report()["results"]:
            if result["check_id"] == check_id:
                return dict(result)
        raise DoctorRunError(f"check {check_id} is not in the report: {self.stdout[:2000]}")

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def said(result: Mapping[str, Any]) -> str:
    """What a JSON result says happened: its short message and, when it names a shared cause, the
    cause's summary (where the detail of an access failure is stated once)."""
    message: str = result["message"]
    summary: str = (result.get("cause") or {}).get("summary") or ""
    return message + " " + summary


def base_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a doctor subprocess: no inherited OCI/DOCTOR settings, an empty HOME."""
    env = {key: os.environ[key] for key in _KEEP if key in os.environ}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        DOCKER_CONFIG=str(home / ".docker"),
        XDG_RUNTIME_DIR=str(home / "run"),
        NO_PROXY="*",
        no_proxy="*",
        PYTHONPATH=str(REPO),
        PYTHONDONTWRITEBYTECODE="1",
        NO_COLOR="1",
        COLUMNS="200",
    )
    env.update(extra or {})
    return env


def run_doctor(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float,
    cwd: Path | None = None,
    signal_after: tuple[threading.Event, float, int] | None = None,
) -> DoctorRun:
    """Run ``doctor ARGS``; kill it (``killed=True``) when it outlives ``timeout`` seconds.

    ``signal_after=(event, delay, signum)`` sends ``signum`` ``delay`` seconds after ``event`` is
    set (for example when the proxy holds the request to interrupt) -- to interrupt a run in the
    middle of a check.
    """
    try:
        process = peak_rss.MeasuredProcess([*DOCTOR, *args], env=env, cwd=cwd or REPO)
    except peak_rss.PeakRssError as exc:
        raise DoctorRunError(f"cannot start doctor: {exc}") from exc
    done = threading.Event()

    def signaller(event: threading.Event, delay: float, signum: int) -> None:
        if event.wait(timeout) and not done.wait(delay):
            process.send_signal(signum)

    if signal_after is not None:
        threading.Thread(target=signaller, args=signal_after, daemon=True).start()
    try:
        measured = process.wait(timeout)
    except peak_rss.PeakRssError as exc:
        raise DoctorRunError(f"doctor {' '.join(args)}: {exc}") from exc
    finally:
        done.set()
    return DoctorRun(
        args=tuple(args),
        exit_code=measured.returncode,
        stdout=measured.stdout.decode("utf-8", "replace"),
        stderr=measured.stderr.decode("utf-8", "replace"),
        duration_s=measured.wall_s,
        maxrss_kb=measured.max_rss_kb,
        killed=measured.killed,
    )
