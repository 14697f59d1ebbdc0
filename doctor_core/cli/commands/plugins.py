"""``doctor plugins``: the loaded plugins and every problem they had."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from doctor_core.cli.exitcodes import EXIT_OK

if TYPE_CHECKING:
    from doctor_core.api import Doctor
    from doctor_core.cli.parser import Context


def run(doctor: Doctor, ns: argparse.Namespace, context: Context) -> int:
    import dataclasses
    import json

    from doctor_core.cli.commands import table
    from doctor_core.cli.commands.listing import checked_format
    from doctor_core.reporters.text import problem_line

    fmt = checked_format(ns, "plugins")
    # Collect every contribution first: registration problems and duplicate ids only surface
    # when the hooks are called, and this command exists to show all of them.
    doctor.checks()
    _ = doctor.reporters, doctor.commands
    doctor.plugin_manager.section_models()  # imports the sections' models: a broken one is a problem
    infos = doctor.plugins()
    problems = doctor.plugin_problems
    if fmt == "json":
        payload = {
            "plugins": [dataclasses.asdict(info) for info in infos],
            "problems": [problem.model_dump(mode="json") for problem in problems],
        }
        context.out.write(json.dumps(payload, indent=2) + "\n")
        return EXIT_OK
    rows = [["PLUGIN", "DISTRIBUTION", "VERSION", "SOURCE"]]
    rows += [[i.name, i.distribution or "-", i.version or "-", i.source] for i in infos]
    lines = table(rows)
    if problems:
        lines += ["", "Problems:"]
        lines += [f"- {problem_line(problem)}" for problem in problems]
    context.out.write("\n".join(lines) + "\n")
    return EXIT_OK
