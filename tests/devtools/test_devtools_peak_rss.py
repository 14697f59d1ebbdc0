"""devtools.peak_rss: the one way the bench and the reliability tests measure a command."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from devtools import peak_rss


def test_the_peak_rss_is_the_commands_own_not_its_callers() -> None:
    """A child holding 64 MB reports more than that; a tiny one is not charged this process's
    high-water mark (made large on purpose here) although Linux charges it at ``exec``."""
    ballast = bytearray(150 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: it is resident
    del ballast
    small = peak_rss.run([sys.executable, "-c", "print('x')"], timeout=60)
    big = peak_rss.run([sys.executable, "-c", "b = bytearray(64 * 1024 * 1024); print(len(b))"], timeout=60)
    assert small.returncode == 0 and small.stdout == b"x\n" and not small.killed
    assert small.max_rss_kb < 30 * 1024, small.max_rss_kb
    assert big.max_rss_kb - small.max_rss_kb > 60 * 1024
    assert 0 < small.wall_s < 30


def test_exit_code_output_and_a_command_that_cannot_run() -> None:
    failing = peak_rss.run([sys.executable, "-c", "import sys; sys.stderr.write('e'); sys.exit(3)"])
    assert (failing.returncode, failing.stdout, failing.stderr) == (3, b"", b"e")
    missing = peak_rss.run(["/nonexistent/command"])
    assert missing.returncode == 127 and b"cannot run '/nonexistent/command'" in missing.stderr


def test_a_signal_reaches_the_command_itself() -> None:
    process = peak_rss.MeasuredProcess(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(30)"]
    )
    time.sleep(0.5)
    assert process.send_signal(signal.SIGTERM)
    run = process.wait(30)
    assert run.returncode == -signal.SIGTERM and not run.killed
    assert not process.send_signal(signal.SIGTERM)  # exited: nothing is signalled


def test_the_timeout_kills_the_command_and_what_it_started() -> None:
    """The grandchild holds the output pipe open: if it survived, the run would not end."""
    script = (
        "import subprocess, sys, time;"
        " subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    started = time.perf_counter()
    run = peak_rss.run([sys.executable, "-c", script], timeout=1.0)
    assert run.killed and run.returncode == -signal.SIGKILL
    assert time.perf_counter() - started < 20
    assert run.max_rss_kb > 0


def test_no_command_is_refused() -> None:
    with pytest.raises(peak_rss.PeakRssError):
        peak_rss.run([])
