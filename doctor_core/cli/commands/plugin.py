"""A plugin's command group (``doctor oci referrers IMAGE``): its parser was configured by the
plugin when the command line named it; here it runs, possibly as a coroutine."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from doctor_core.cli.exitcodes import EXIT_INTERRUPTED, EXIT_OK

if TYPE_CHECKING:
    from doctor_core.api import Doctor
    from doctor_core.cli.parser import Context


def run(doctor: Doctor, ns: argparse.Namespace, context: Context) -> int:
    import asyncio
    import inspect

    from doctor_core.api import DoctorCommandApp
    from doctor_core.cli import startup_done
    from doctor_core.cli.cancel import run_cancellable
    from doctor_core.cli.commands import prepare
    from doctor_core.errors import PluginError
    from doctor_core.logs import get_logger

    name: str = ns.doctor_command
    owned = doctor.commands[name]
    prepare(doctor, ns, context)
    app = DoctorCommandApp(doctor, get_logger(command=name), stdout=context.out, stderr=context.err)
    startup_done()
    value = owned.command.run(ns, app)
    if inspect.isawaitable(value):
        try:
            value = run_cancellable(value)
        except asyncio.CancelledError:
            context.err.write("doctor: interrupted\n")
            return EXIT_INTERRUPTED
    if value is None:
        return EXIT_OK
    if isinstance(value, bool) or not isinstance(value, int):
        raise PluginError(f"command {name!r} returned {type(value).__name__}, expected an exit code")
    return value
