"""The resource budget every hostile-peer CLI run must meet (issue #12), in one place.

A healthy full run peaks at ~45 MB; a hostile peer (a decompression bomb, 200k-deep JSON, a
redirecting token service) may cost doctor some work but never its memory or the user's
deadline: **peak RSS <= 200 MB** (``os.wait4``'s ``ru_maxrss`` of the child) and **wall time <=
the configured deadline + 2 s** (process start-up and report writing included).
"""

from __future__ import annotations

from tests.reliability.runner import DoctorRun

__all__ = ["MAX_RSS_KB", "WALL_SLACK_S", "assert_within_budget", "describe"]

MAX_RSS_KB = 200 * 1024
WALL_SLACK_S = 2.0


def describe(run: DoctorRun) -> str:
    return (
        f"\n  exit {run.exit_code}, {run.duration_s:.1f} s, rss {run.maxrss_kb // 1024} MiB,"
        f" killed={run.killed}"
        f"\n  stdout: {run.stdout[-1500:]}\n  stderr: {run.stderr[-1500:]}"
    )


def assert_within_budget(run: DoctorRun, deadline_s: float) -> None:
    """``run`` ended by itself, within ``deadline_s`` + slack and under the memory ceiling."""
    assert not run.killed, f"doctor had to be killed{describe(run)}"
    assert "Traceback" not in run.stderr, f"traceback{describe(run)}"
    assert run.duration_s <= deadline_s + WALL_SLACK_S, f"too slow{describe(run)}"
    assert run.maxrss_kb <= MAX_RSS_KB, f"memory not bounded{describe(run)}"
