"""Run one command and measure it: exit code, wall time, peak RSS and output -- the one way to do it.

Used by the bench (``bench.measure.run_measured``) and by the reliability tests
(``tests.reliability.runner.run_doctor``), so a "peak RSS" means the same thing in both.

Peak RSS is the command's own ``ru_maxrss`` (kilobytes on Linux) from ``os.wait4``. The command is
not forked by the caller but by a tiny launcher interpreter (``python -I -S``, ~8 MB): Linux
charges a process, at its ``exec``, the high-water mark of the memory it was forked from, so a
command forked straight from pytest or the bench (both bigger than a doctor run) would report
their peak, not its own. The launcher forks the command, tells the caller its pid (so signals
and the timeout's kill reach the command itself, not the launcher), reaps it with ``os.wait4``
and reports ``<wall seconds> <wait status> <ru_maxrss>``. Wall time is from the fork to the
reaping: the command's own start-up is in it, the launcher's is not.

The command runs in a process group of its own, so the timeout's ``SIGKILL`` reaches whatever it
started too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["MeasuredProcess", "PeakRssError", "PeakRssRun", "run"]


class PeakRssError(RuntimeError):
    """The command could not be started or the launcher reported nothing."""


@dataclass(frozen=True)
class PeakRssRun:
    """What one run of one command did."""

    argv: tuple[str, ...]
    #: The command's exit code (negative: killed by that signal, as with ``subprocess``).
    returncode: int
    #: From the fork of the command to its reaping.
    wall_s: float
    #: The command's own peak resident set size, in KiB.
    max_rss_kb: int
    stdout: bytes
    stderr: bytes
    #: True when the timeout struck and the command was killed.
    killed: bool

    @property
    def max_rss_mb(self) -> float:
        return self.max_rss_kb / 1024


#: Forks the command (in its own process group), writes ``<pid>\n`` and, once it is reaped,
#: ``<wall seconds> <wait status> <ru_maxrss>`` to the fd named by its first argument.
_LAUNCHER = """
import os, sys, time
fd, argv = int(sys.argv[1]), sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.close(fd)
    try:
        os.setpgid(0, 0)
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"cannot run {argv[0]!r}: {exc}\\n".encode())
    os._exit(127)
os.write(fd, f"{pid}\\n".encode())
_, status, usage = os.wait4(pid, 0)
os.write(fd, f"{time.perf_counter() - started} {status} {usage.ru_maxrss}".encode())
"""


class MeasuredProcess:
    """A command started through the launcher; :meth:`wait` for its :class:`PeakRssRun`.

    Output is drained by two threads while the command runs, so it never blocks on a full pipe.
    :meth:`send_signal` signals the command itself (for example a ``SIGINT`` in the middle of a
    run), safely even after it has exited.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
    ) -> None:
        if not argv:
            raise PeakRssError("no command to run")
        self.argv = tuple(argv)
        read_end, write_end = os.pipe()
        try:
            self._launcher = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(write_end), *self.argv],
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_end,),
            )
        except OSError as exc:
            os.close(read_end)
            raise PeakRssError(f"cannot run {self.argv[0]!r}: {exc}") from exc
        finally:
            os.close(write_end)
        self._report = os.fdopen(read_end, "rb")
        first = self._report.readline()
        if not first.strip().isdigit():
            self._launcher.kill()
            self._launcher.wait()
            self._report.close()
            raise PeakRssError(f"the launcher of {self.argv[0]!r} did not start it")
        #: The pid of the command itself (not of the launcher).
        self.pid = int(first)
        self._pidfd: int | None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (OSError, AttributeError):  # already reaped, or not Linux >= 5.3
            self._pidfd = None
        self._exited = threading.Event()
        self._chunks: dict[str, list[bytes]] = {"out": [], "err": []}
        self._drains = [
            threading.Thread(target=self._drain, args=(name, stream), daemon=True)
            for name, stream in (("out", self._launcher.stdout), ("err", self._launcher.stderr))
        ]
        for drain in self._drains:
            drain.start()

    def _drain(self, name: str, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        for block in iter(lambda: stream.read(65536), b""):
            self._chunks[name].append(block)

    def send_signal(self, signum: int) -> bool:
        """Send ``signum`` to the command; False when it has already exited."""
        if self._exited.is_set():
            return False
        try:
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signum)
            else:
                os.kill(self.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout: float | None = None) -> PeakRssRun:
        """Wait for the command; past ``timeout`` seconds kill it and its process group (``killed``)."""
        killed = False
        try:
            self._launcher.wait(timeout)
        except subprocess.TimeoutExpired:
            killed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self._launcher.wait()
        self._exited.set()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        with self._report:
            fields = self._report.read().split()
        for drain in self._drains:
            drain.join(10)
        for stream in (self._launcher.stdout, self._launcher.stderr):
            if stream is not None:
                stream.close()
        stderr = b"".join(self._chunks["err"])
        if len(fields) != 3:
            raise PeakRssError(
                f"the launcher of {self.argv[0]!r} reported nothing (exit {self._launcher.returncode}): "
                f"{stderr[-300:].decode('utf-8', 'replace')!r}"
            )
        return PeakRssRun(
            argv=self.argv,
            returncode=os.waitstatus_to_exitcode(int(fields[1])),
            wall_s=float(fields[0]),
            max_rss_kb=int(fields[2]),
            stdout=b"".join(self._chunks["out"]),
            stderr=stderr,
            killed=killed,
        )


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float | None = None,
) -> PeakRssRun:
    """Run ``argv`` to completion (or kill it past ``timeout`` seconds) and measure it."""
    return MeasuredProcess(argv, env=env, cwd=cwd).wait(timeout)
