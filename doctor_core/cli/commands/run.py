"""``doctor [run]``: run the selected checks, render the report, write it, choose the exit code."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from doctor_core.cli.exitcodes import EXIT_INTERRUPTED, exit_code_for

if TYPE_CHECKING:
    from doctor_core.api import Doctor
    from doctor_core.cli.parser import Context


def run(doctor: Doctor, ns: argparse.Namespace, context: Context) -> int:
    from doctor_core.cli import startup_done
    from doctor_core.cli.cancel import run_cancellable
    from doctor_core.cli.commands import prepare, warn_plugin_problems
    from doctor_core.cli.output import choose_format, wants_color, write_report_file
    from doctor_core.errors import UsageError
    from doctor_core.printable import isatty
    from doctor_core.progress import LiveProgress, wanted

    out, err = context.out, context.err
    prepare(doctor, ns, context)
    reporters = doctor.reporters
    fmt = choose_format(ns.format, ns.output, reporters)
    reporter = reporters.get(fmt)
    if reporter is None:
        raise UsageError(f"unknown output format {fmt!r}; available: {', '.join(sorted(reporters))}")
    to_file = ns.output is not None and ns.output != "-"
    doctor.checks(ns.tag, ns.check)  # usage errors before anything is shown
    if ns.target:
        doctor.plan(ns.tag, ns.check, ns.target)  # an unknown --target too
    if wanted(stderr=err, stdout=out, machine_readable=reporter.machine_readable, output_file=to_file):
        doctor.add_plugin(LiveProgress(err), name="doctor_core.progress")
    startup_done()
    report = run_cancellable(
        doctor.arun(
            tags=ns.tag,
            check_ids=ns.check,
            timeout=ns.timeout,
            concurrency=ns.concurrency,
            deadline=ns.deadline,
            targets=ns.target,
        )
    )
    color = (
        not to_file
        and not reporter.machine_readable
        and wants_color(context.environ, no_color_flag=ns.no_color, isatty=isatty(out))
    )
    text = doctor.render(report, fmt, verbose=ns.verbose, color=color, fail_on=ns.fail_on)
    if reporter.machine_readable:
        warn_plugin_problems(doctor, context, report.plugin_errors)
    if to_file:
        try:
            write_report_file(ns.output, text)
        except OSError as exc:
            raise UsageError(f"cannot write the report to {ns.output!r}: {exc.strerror or exc}") from None
        # Only a report written to a file needs the text reporter's summary lines: a run printing
        # its report (``--format json`` to stdout) does not import the text reporter.
        from doctor_core.reporters.text import overall_line, policy_line

        summary = report.under(ns.fail_on).summary
        out.write(f"{overall_line(summary)} (report written to {ns.output})\n")
        policy = policy_line(summary)
        if policy is not None:
            out.write(policy + "\n")
    else:
        out.write(text if text.endswith("\n") else text + "\n")
    if report.interrupted:
        err.write("doctor: interrupted; the report shows the checks that finished\n")
        return EXIT_INTERRUPTED
    return exit_code_for(report.summary, ns.fail_on)
