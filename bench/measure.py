"""Measuring one process: wall time, exit status, output and peak RSS; summarising repeated samples.

Why a module of its own: every scenario runs a command several times and needs the same three
numbers from each run. Wall time is taken with ``time.perf_counter`` around the child; peak RSS is
the child's own ``ru_maxrss`` from ``os.wait4``, taken by :mod:`devtools.peak_rss` (no external
tool: the one helper the reliability tests use too).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devtools import peak_rss


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


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    rss: bool = True,
    timeout: float = 300.0,
    cwd: Path | None = None,
) -> Measurement:
    """Run ``argv`` to completion and measure it, through :func:`devtools.peak_rss.run`.

    Peak RSS is the command's own ``ru_maxrss`` from ``os.wait4`` (kilobytes on Linux), taken by
    the small launcher of :mod:`devtools.peak_rss` (the one the reliability tests' runner uses
    too) so the bench's own memory is not charged to it. ``rss=False`` leaves ``max_rss_kb``
    unset. ``wall_s`` is the time from fork to exit, as a user would see it; a timeout kills the
    command (its whole process group) and raises :class:`BenchError`.
    """
    try:
        measured = peak_rss.run(argv, env=env, cwd=cwd, timeout=timeout)
    except peak_rss.PeakRssError as exc:
        raise BenchError(str(exc)) from exc
    if measured.killed:
        raise BenchError(f"{' '.join(argv)!r} did not finish within {timeout:g} s")
    return Measurement(
        argv=measured.argv,
        returncode=measured.returncode,
        wall_s=measured.wall_s,
        stdout=measured.stdout.decode("utf-8", "replace"),
        stderr=measured.stderr.decode("utf-8", "replace"),
        max_rss_kb=measured.max_rss_kb if rss else None,
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


_MODULES_RUNNER = """
import atexit, runpy, sys
out, script = sys.argv[1], sys.argv[2]
atexit.register(lambda: open(out, "w", encoding="utf-8").write("\\n".join(sorted(sys.modules))))
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""


def imported_modules(
    script_argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> set[str]:
    """Every module in ``sys.modules`` when ``SCRIPT ARGS`` exits (dotted names: ``pydantic.main``).

    What keeps a floor honest: "importing X" is a floor of a command only while the command
    imports X. Read from ``sys.modules`` at exit, not from ``-X importtime``, which does not log
    modules imported with ``importlib.import_module`` (``from pydantic import BaseModel`` loads
    ``pydantic.main`` that way). :class:`BenchError` when the script left without running
    ``atexit`` handlers (``os._exit``).
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="doctor-bench-modules-") as tmp:
        out = Path(tmp) / "modules.txt"
        argv = [sys.executable, "-c", _MODULES_RUNNER, str(out), *script_argv]
        measurement = run_measured(argv, env=env, cwd=cwd, timeout=120, rss=False)
        if not out.is_file():
            raise BenchError(
                f"{script_argv[0]!r} (exit {measurement.returncode}) left no module list: "
                f"{measurement.stderr[-300:]!r}"
            )
        return set(out.read_text(encoding="utf-8").split())
