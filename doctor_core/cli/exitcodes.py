"""The command line's exit codes, and the rule turning a run's summary into one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from doctor_core.models import Summary

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EPILOG_EXIT = (
    "exit codes: 0 nothing failed; 1 a check failed or errored (or warned with --fail-on warn); "
    "2 usage, configuration or plugin errors (--strict-plugins); 130 interrupted (Ctrl-C/SIGTERM), "
    "after printing what finished."
)


def exit_code_for(summary: Summary, fail_on: str) -> int:
    """1 when anything failed or errored (or warned under ``--fail-on warn``), else 0.

    The rule is :func:`doctor_core.models.run_fails`, the same one deciding ``summary.failed``
    in every report, so the output and the exit code agree.
    """
    from doctor_core.models import run_fails

    return EXIT_FAILED if run_fails(summary, fail_on) else EXIT_OK  # type: ignore[arg-type]
