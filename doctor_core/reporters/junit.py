"""``--format junit``: JUnit XML (one ``testsuite`` named ``doctor``, one ``testcase`` per check).

``fail`` -> ``<failure>``, ``error`` -> ``<error>``, ``skip`` -> ``<skipped/>``; ``warn`` and
``info`` pass (CI systems have no such states) with the message in ``<system-out>``. The evidence
is attached as JSON in ``<system-out>`` for every check; plugin problems go to the suite's
``<system-err>``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from doctor_core.models import Report, Status
from doctor_core.reporters.text import problem_line
from doctor_core.types import RenderOptions


def render(report: Report, options: RenderOptions) -> str:
    suite = ET.Element(
        "testsuite",
        {
            "name": "doctor",
            "tests": str(report.summary.total),
            "failures": str(report.summary.failures),
            "errors": str(report.summary.errors),
            "skipped": str(report.summary.skipped),
            "time": f"{report.duration_ms / 1000:.3f}",
            "timestamp": report.started_at.isoformat(),
        },
    )
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                # A check run per target names it: classname "<plugin>.<target>", name
                # "<check id> [<target>]" (CI systems show both; ids alone would collide).
                "classname": (result.plugin or "doctor")
                + (f".{result.target}" if result.target is not None else ""),
                "name": result.check_id + (f" [{result.target}]" if result.target is not None else ""),
                "time": f"{result.duration_ms / 1000:.3f}",
            },
        )
        if result.status is Status.FAIL:
            ET.SubElement(case, "failure", {"message": result.message, "type": "fail"}).text = "\n".join(
                result.remediation
            )
        elif result.status is Status.ERROR:
            ET.SubElement(case, "error", {"message": result.message, "type": "error"})
        elif result.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": result.message})
        out = [f"{result.status.value.upper()}: {result.message}"]
        if result.evidence:
            out.append(json.dumps(result.evidence, sort_keys=True))
        ET.SubElement(case, "system-out").text = "\n".join(out)
    if report.plugin_errors:
        ET.SubElement(suite, "system-err").text = "\n".join(problem_line(p) for p in report.plugin_errors)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
