"""``--format junit``: JUnit XML (one ``testsuite`` named ``doctor``, one ``testcase`` per check).

The XML agrees with the exit code: every result that makes the run fail under the ``--fail-on``
policy (:meth:`doctor_core.models.Summary.fails_result`) is a ``<failure>`` or ``<error>``, and
the suite's ``failures``/``errors`` attributes count exactly those. So ``fail`` -> ``<failure
type="fail">``, ``error`` -> ``<error>``, ``skip`` -> ``<skipped/>``; ``warn`` -> ``<failure
type="warn">`` under ``--fail-on warn``, else it passes (CI systems have no such state) with
the message in ``<system-out>``, like ``info``.

A failure's text is its root cause (summary and fix, the same on every affected test case: CI
shows each case on its own) followed by the check's remediation steps that the fix did not already
give. The message (and the cause, if
any) and the evidence as JSON are in ``<system-out>`` for every check; plugin problems go to
the suite's ``<system-err>``. Outside text arrives neutralised (:func:`doctor_core.neutralize`),
so no character illegal in XML 1.0 reaches the document.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from doctor_core.models import CheckResult, Report, Status
from doctor_core.printable import neutralize
from doctor_core.reporters.text import problem_line
from doctor_core.types import RenderOptions


def _failure_text(result: CheckResult) -> str:
    lines: list[str] = []
    given: set[str] = set()
    if result.cause is not None:
        lines.append(f"Cause: {result.cause.summary}")
        lines += [f"Fix {number}. {step}" for number, step in enumerate(result.cause.remediation, 1)]
        given.update(result.cause.remediation)
    # A check whose remediation is its cause's fix (the usual case) would repeat every step.
    lines += [step for step in result.remediation if step not in given]
    return "\n".join(neutralize(line) for line in lines)


def render(report: Report, options: RenderOptions) -> str:
    summary = report.summary
    failing = [r for r in report.results if summary.fails_result(r.status) and r.status is not Status.ERROR]
    suite = ET.Element(
        "testsuite",
        {
            "name": "doctor",
            "tests": str(summary.total),
            "failures": str(len(failing)),
            "errors": str(summary.errors),
            "skipped": str(summary.skipped),
            "time": f"{report.duration_ms / 1000:.3f}",
            "timestamp": report.started_at.isoformat(),
        },
    )
    for result in report.results:
        message = neutralize(result.message)
        case = ET.SubElement(
            suite,
            "testcase",
            {
                # A check run per target names it: classname "<plugin>.<target>", name
                # "<check id> [<target>]" (CI systems show both; ids alone would collide).
                "classname": neutralize(
                    (result.plugin or "doctor") + (f".{result.target}" if result.target is not None else "")
                ),
                "name": neutralize(
                    result.check_id + (f" [{result.target}]" if result.target is not None else "")
                ),
                "time": f"{result.duration_ms / 1000:.3f}",
            },
        )
        if result.status is Status.ERROR:
            ET.SubElement(case, "error", {"message": message, "type": "error"}).text = (
                _failure_text(result) or None
            )
        elif summary.fails_result(result.status):
            kind = result.status.value
            ET.SubElement(case, "failure", {"message": message, "type": kind}).text = _failure_text(result)
        elif result.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": message})
        out = [f"{result.status.value.upper()}: {message}"]
        if result.cause is not None:
            out.append(neutralize(f"Cause: {result.cause.summary}"))
        if result.evidence:
            out.append(json.dumps(result.evidence, sort_keys=True))
        ET.SubElement(case, "system-out").text = "\n".join(out)
    if report.plugin_errors:
        ET.SubElement(suite, "system-err").text = "\n".join(problem_line(p) for p in report.plugin_errors)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
