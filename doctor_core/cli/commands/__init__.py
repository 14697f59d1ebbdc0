"""One module per command, each with a ``run`` function; :func:`dispatch` calls the one named."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from doctor_core.api import Doctor
    from doctor_core.cli.parser import Context

#: The module of each built-in command; any other command is a plugin's (``plugin``).
_MODULES = {"run": "run", "list": "listing", "plugins": "plugins", "schema": "schema"}


def dispatch(doctor: Doctor, ns: argparse.Namespace, context: Context) -> int:
    """Run the command ``ns.doctor_command`` names (none: a run) and return its exit code."""
    import importlib

    module = importlib.import_module(f"{__name__}.{_MODULES.get(ns.doctor_command or 'run', 'plugin')}")
    code: int = module.run(doctor, ns, context)
    return code


def prepare(doctor: Doctor, ns: argparse.Namespace, context: Context) -> None:
    """Logging, the configuration flags given, and the configuration warnings on stderr."""
    from doctor_core import logs

    if ns.verbose or ns.log_format == "json":
        logs.configure(verbose=ns.verbose, fmt=ns.log_format, stream=context.err)
    else:
        logs.reset()
    doctor.apply_flags(flag_values(ns, context))
    for warning in doctor.config.warnings:
        context.err.write(f"doctor: warning: {warning}\n")


def flag_values(ns: argparse.Namespace, context: Context) -> dict[str, Any]:
    """``configuration key -> value`` of the plugins' configuration flags given."""
    return {
        key: getattr(ns, dest)
        for dest, key in context.destinations.items()
        if getattr(ns, dest, None) is not None
    }


def warn_plugin_problems(doctor: Doctor, context: Context, problems: Any = None) -> None:
    """Each plugin problem as a ``doctor: warning:`` line on stderr."""
    problems = doctor.plugin_problems if problems is None else problems
    if not problems:
        return  # the usual case: a run without problems does not import the text reporter
    from doctor_core.reporters.text import problem_line

    for problem in problems:
        context.err.write(f"doctor: warning: {problem_line(problem)}\n")


def table(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns, cells neutralised (they come from plugins)."""
    from doctor_core.printable import neutralize

    rows = [[neutralize(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
