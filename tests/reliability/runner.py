"""Run the ``doctor`` command line in a subprocess and measure it: exit code, output, wall time, peak RSS.

Why a subprocess: the matrix must see what a user sees (real argument parsing, signal handlers,
stdout/stderr separation) and must measure the *memory* of one run. ``os.wait4`` returns the
resource usage of exactly that child, so cells can run in parallel threads and still each get
their own ``ru_maxrss``.

The environment of every run is built from scratch (:func:`base_environment`): no ``OCI__*`` or
``DOCTOR_*`` variable of the developer's shell leaks in, ``HOME`` and ``DOCKER_CONFIG`` point at
an empty directory so no real docker credentials are ever read, and proxies are disabled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [*DOCTOR, *args],
            env=dict(env),
            cwd=str(cwd or REPO),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise DoctorRunError(f"cannot start doctor: {exc}") from exc
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}

    def drain(name: str, stream: Any) -> None:
        for block in iter(lambda: stream.read(65536), b""):
            chunks[name].append(block)

    readers = [
        threading.Thread(target=drain, args=("out", process.stdout), daemon=True),
        threading.Thread(target=drain, args=("err", process.stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    killed = threading.Event()
    done = threading.Event()

    def watchdog() -> None:
        if not done.wait(timeout):
            killed.set()
            os.kill(process.pid, signal.SIGKILL)

    def signaller(event: threading.Event, delay: float, signum: int) -> None:
        if event.wait(timeout) and not done.wait(delay):
            os.kill(process.pid, signum)

    threading.Thread(target=watchdog, daemon=True).start()
    if signal_after is not None:
        threading.Thread(target=signaller, args=signal_after, daemon=True).start()
    _pid, status, usage = os.wait4(process.pid, 0)
    done.set()
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return DoctorRun(
        args=tuple(args),
        exit_code=process.returncode,
        stdout=b"".join(chunks["out"]).decode("utf-8", "replace"),
        stderr=b"".join(chunks["err"]).decode("utf-8", "replace"),
        duration_s=time.monotonic() - started,
        maxrss_kb=int(usage.ru_maxrss),
        killed=killed.is_set(),
    )
