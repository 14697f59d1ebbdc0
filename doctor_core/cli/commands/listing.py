"""``doctor list``: the installed checks, without importing a check module or a settings model."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from doctor_core.cli.exitcodes import EXIT_OK

if TYPE_CHECKING:
    from doctor_core.api import Doctor
    from doctor_core.cli.parser import Context

FORMATS = ("text", "json")


def run(doctor: Doctor, ns: argparse.Namespace, context: Context) -> int:
    import json

    from doctor_core.cli.commands import table, warn_plugin_problems
    from doctor_core.selection import NO_CHECKS_HINT

    fmt = checked_format(ns, "list")
    _check_config_for_list(doctor, context)
    definitions = doctor.checks(tags=ns.tag) if ns.tag else doctor.checks()
    warn_plugin_problems(doctor, context)
    if fmt == "json":
        payload = [definition.to_dict() for definition in definitions]
        context.out.write(json.dumps(payload, indent=2) + "\n")
        return EXIT_OK
    if not definitions:
        context.out.write(NO_CHECKS_HINT[0].upper() + NO_CHECKS_HINT[1:] + ".\n")
        return EXIT_OK
    rows = [["CHECK", "SEVERITY", "DURATION", "PLUGIN", "TAGS"]]
    rows += [
        [d.check_id, d.default_severity.value, f"{d.estimated_duration_s:g}s", d.plugin, ", ".join(d.tags)]
        for d in definitions
    ]
    context.out.write("\n".join(table(rows)) + "\n")
    return EXIT_OK


def checked_format(ns: argparse.Namespace, command: str) -> str:
    """``--format`` of ``list`` and ``plugins`` (given before or after the command): text or json."""
    from doctor_core.errors import UsageError

    fmt = ns.format or "text"
    if fmt not in FORMATS:
        raise UsageError(f"'{command}' writes text or json, not {fmt!r} (--format)")
    return str(fmt)


def _check_config_for_list(doctor: Doctor, context: Context) -> None:
    """``doctor list`` needs no configuration, but a broken file must not go unnoticed.

    A file the user named (``--config``, ``$DOCTOR_CONFIG``) that is missing or malformed is an
    error (exit 2), as for a run. A malformed ``./doctor.yaml`` found by default is a warning:
    listing still works in a directory whose configuration is broken.
    """
    from doctor_core.errors import ConfigError

    try:
        doctor.check_config_file()
    except ConfigError as exc:
        if doctor.config_file_named:
            raise
        context.err.write(
            f"doctor: warning: {exc} ('doctor list' does not need it; a run would stop here, exit 2)\n"
        )
