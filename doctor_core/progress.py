"""Live progress on a terminal: one updating stderr line naming the checks that are running.

It is a built-in *lifecycle plugin*: the CLI registers a :class:`LiveProgress` through the same
hooks any plugin uses, and only when :func:`wanted` says so -- stderr is a terminal, the output
format is for people, and the report does not go to a pipe. It never writes to stdout.
"""

from __future__ import annotations

import shutil
from typing import IO, TYPE_CHECKING

from doctor_core.hookspecs import hookimpl
from doctor_core.printable import isatty

if TYPE_CHECKING:
    from doctor_core.models import CheckDefinition, CheckResult, Report


def wanted(*, stderr: IO[str], stdout: IO[str], machine_readable: bool, output_file: bool) -> bool:
    """Whether to show live progress for a run with these streams and output choices."""
    return isatty(stderr) and not machine_readable and (output_file or isatty(stdout))


class LiveProgress:
    """Lifecycle hook implementations drawing ``[done/total] running: a, b`` on one line."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._running: list[str] = []
        self._total = 0
        self._done = 0
        self._drawn = False

    def _draw(self) -> None:
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        line = (
            f"[{self._done}/{self._total}] running: {', '.join(self._running)}"
            if self._running
            else (f"[{self._done}/{self._total}]")
        )
        if len(line) > width:
            line = line[: width - 3] + "..."
        self._stream.write("\r\x1b[K" + line)
        self._stream.flush()
        self._drawn = True

    @hookimpl
    def doctor_run_started(self, checks: tuple[CheckDefinition, ...]) -> None:
        self._total = len(checks)
        self._done = 0
        self._running.clear()

    @hookimpl
    def doctor_check_started(self, definition: CheckDefinition) -> None:
        self._running.append(definition.check_id)
        self._draw()

    @hookimpl
    def doctor_check_finished(self, result: CheckResult) -> None:
        if result.check_id in self._running:
            self._running.remove(result.check_id)
        self._done += 1
        self._draw()

    @hookimpl
    def doctor_run_finished(self, report: Report) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False
