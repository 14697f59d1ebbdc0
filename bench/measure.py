"""Measuring one process: wall time, exit status, output and peak RSS; summarising repeated samples.

Why a module of its own: every scenario runs a command several times and needs the same three
numbers from each run. Wall time is taken with ``time.perf_counter`` around the child; peak RSS is
the child's own ``ru_maxrss`` from ``os.wait4`` (no external tool: the same mechanism the
reliability tests use).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


class BenchError(RuntimeError):
    """The harness could not measure something (missing tool, command failed, unparsable output)."""


@dataclass(frozen=True)
class Measurement:
    """One run of one command."""

    argv: tuple[str, ...]
    returncode: int
    wall_s: float
    stdout: str
    stderr: str
    max_rss_kb: int | None

    @property
    def max_rss_mb(self) -> float | None:
        return None if self.max_rss_kb is None else self.max_rss_kb / 1024


#: The launcher between the bench and the measured command. Linux charges a process, at its
#: ``exec``, the peak RSS of the memory it had before (``ru_maxrss`` includes the forking parent's
#: high-water mark: the bench process itself is ~45 MB, as big as a doctor run). So the command is
#: forked by this small interpreter (``-I -S``: ~8 MB), which reaps it with ``os.wait4`` and writes
#: ``<wall seconds> <wait status> <ru_maxrss>`` to the fd named by its first argument. Its own
#: start-up is outside the wall time.
_LAUNCHER = """
import os, sys, time
fd, argv = int(sys.argv[1]), sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.close(fd)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"cannot run {argv[0]!r}: {exc}\\n".encode())
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
os.write(fd, f"{time.perf_counter() - started} {status} {usage.ru_maxrss}".encode())
"""


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    rss: bool = True,
    timeout: float = 300.0,
    cwd: Path | None = None,
) -> Measurement:
    """Run ``argv`` to completion and measure it.

    Peak RSS is the command's own ``ru_maxrss`` from ``os.wait4`` (kilobytes on Linux), the same
    mechanism as the reliability tests' runner; the command is forked by a small launcher
    (:data:`_LAUNCHER`) so the bench's own memory is not charged to it. ``rss=False`` leaves
    ``max_rss_kb`` unset. ``wall_s`` is the time from fork to exit, as a user would see it; a
    timeout kills the command (its whole process group) and raises :class:`BenchError`.
    """
    if not argv:
        raise BenchError("no command to run")
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(write_end), *argv],
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(write_end,),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(read_end)
        raise BenchError(f"cannot run {argv[0]!r}: {exc}") from exc
    finally:
        os.close(write_end)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        os.close(read_end)
        raise BenchError(f"{' '.join(argv)!r} did not finish within {timeout:g} s") from exc
    with os.fdopen(read_end, "rb") as report:
        fields = report.read().split()
    if len(fields) != 3:
        raise BenchError(
            f"the launcher of {argv[0]!r} reported nothing (exit {process.returncode}): "
            f"{stderr[-300:].decode('utf-8', 'replace')!r}"
        )
    wall, status, max_rss = float(fields[0]), int(fields[1]), int(fields[2])
    return Measurement(
        argv=tuple(argv),
        returncode=os.waitstatus_to_exitcode(status),
        wall_s=wall,
        stdout=stdout.decode("utf-8", "replace"),
        stderr=stderr.decode("utf-8", "replace"),
        max_rss_kb=max_rss if rss else None,
    )


@dataclass(frozen=True)
class Spread:
    """Median and spread of repeated samples (min, max and, from 4 samples on, the IQR)."""

    samples: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.samples:
            raise BenchError("no samples to summarise")

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    @property
    def iqr(self) -> tuple[float, float] | None:
        if len(self.samples) < 4:
            return None
        quartiles = statistics.quantiles(self.samples, n=4, method="inclusive")
        return quartiles[0], quartiles[2]

    def fmt(self, scale: float = 1.0, unit: str = "", digits: int = 0) -> str:
        """``"123 ms (110-140)"``: median and min-max, scaled (e.g. ``scale=1000`` for s -> ms)."""
        median = f"{self.median * scale:.{digits}f}"
        if len(self.samples) == 1:
            return f"{median}{unit}"
        return f"{median}{unit} ({self.low * scale:.{digits}f}-{self.high * scale:.{digits}f})"


@dataclass(frozen=True)
class Machine:
    """Where the numbers were taken: they only compare on the same class of machine."""

    cpu: str
    cores: int
    python: str
    system: str
    date: str
    #: 1-minute load average when the run started: other work on the machine inflates every number.
    load: float | None = None

    @classmethod
    def detect(cls) -> Machine:
        try:
            load: float | None = os.getloadavg()[0]
        except OSError:
            load = None
        return cls(
            cpu=_cpu_model(),
            cores=os.cpu_count() or 0,
            python=f"{platform.python_implementation()} {platform.python_version()}",
            system=f"{platform.system()} {platform.release()}",
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            load=load,
        )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def doctor_executable() -> list[str]:
    """The ``doctor`` console script of this interpreter's environment (what users run).

    Falls back to ``doctor`` on PATH; :class:`BenchError` when neither exists (not installed).
    """
    beside = Path(sys.executable).parent / "doctor"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("doctor")
    if found:
        return [found]
    raise BenchError("the 'doctor' command is not installed in this environment (run 'make venv')")


_IMPORT_LINE = re.compile(r"^import time:\s*(\d+)\s*\|\s*(\d+)\s*\|(\s*)(\S+)\s*$")


def import_profile(
    script_argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    top: int = 6,
) -> list[tuple[str, float]]:
    """Where start-up time goes: ``(top-level package, seconds)``, largest first.

    Runs ``python -X importtime SCRIPT ARGS`` (``script_argv[0]`` must be a Python script such as
    the ``doctor`` console script) and sums each module's *self* time into its top-level package,
    so nested imports are not counted twice. Used to explain a missed start-up target.
    """
    argv = [sys.executable, "-X", "importtime", *script_argv]
    measurement = run_measured(argv, env=env, cwd=cwd, timeout=60)
    totals: dict[str, float] = {}
    for line in measurement.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match is None:
            continue
        package = match.group(4).split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(match.group(1)) / 1e6
    if not totals:
        raise BenchError(f"no -X importtime output from {script_argv[0]!r}: {measurement.stderr[-300:]!r}")
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)[:top]
