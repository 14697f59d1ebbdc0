"""``--format text`` (default): the seed's "Registry Checks Summary" layout.

::

    Registry Checks Summary
    =======================
    check.integration.oci.credentials  PASS  Credentials valid for registry.example.com
    check.integration.oci.referrers    WARN  Referrers API not supported (using fallback)
    Overall: 1 passed, 1 warning, 0 failures
    Recommendations:
    - Referrers API: StellaOps will use tag-based fallback automatically

``Overall`` always names passed, warnings and failures; info, errors and skipped appear when
non-zero. ``verbose`` adds each check's evidence (JSON values as JSON) and numbered remediation.

A root cause shared by results (``Report.causes``) is stated once, before ``Overall``: its
summary, the checks it affected and its fix; the per-check lines stay short. Under
``--fail-on warn`` with warnings present, a line after ``Overall`` says that they fail the run,
so the text agrees with the exit code. Neither appears in a run without causes under the
default policy: the seed's layouts are unchanged. The report given to :func:`render` has its
outside text neutralised already (:meth:`doctor_core.api.Doctor.render`).

When checks ran per target (:mod:`doctor_core.targets`), each target gets its own block in this
layout, titled ``Registry Checks Summary: NAME`` with its own ``Overall`` line, followed by an
``Overall (all targets)`` line; a report without targets renders exactly as above.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from doctor_core.definitions import Status

if TYPE_CHECKING:
    from doctor_core.models import CheckResult, PluginProblem, Report, SharedCause, Summary
    from doctor_core.types import RenderOptions

_COLORS = {
    Status.PASS: "32",
    Status.INFO: "36",
    Status.WARN: "33",
    Status.FAIL: "31",
    Status.ERROR: "1;31",
    Status.SKIP: "2",
}


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def overall_line(summary: Summary) -> str:
    """``Overall: 3 passed, 1 warning, 1 info, 0 failures`` (errors/skipped when non-zero)."""
    parts = [f"{summary.passed} passed", _count(summary.warnings, "warning", "warnings")]
    if summary.info:
        parts.append(f"{summary.info} info")
    parts.append(_count(summary.failures, "failure", "failures"))
    if summary.errors:
        parts.append(_count(summary.errors, "error", "errors"))
    if summary.skipped:
        parts.append(f"{summary.skipped} skipped")
    return "Overall: " + ", ".join(parts)


def policy_line(summary: Summary) -> str | None:
    """``Failed: warnings fail the run (--fail-on warn)`` when warnings decide the exit code."""
    if summary.fail_on == "warn" and summary.warnings:
        return "Failed: warnings fail the run (--fail-on warn)"
    return None


def cause_lines(cause: SharedCause, indent: str = "") -> list[str]:
    """A shared cause stated once: what failed and why, the checks affected, the fix."""
    lines = [f"{indent}Cause: {cause.summary}", f"{indent}  Affects: {', '.join(cause.check_ids)}"]
    if cause.remediation:
        lines.append(f"{indent}  Fix:")
        lines.extend(f"{indent}    {number}. {step}" for number, step in enumerate(cause.remediation, 1))
    return lines


def problem_line(problem: PluginProblem) -> str:
    """One plugin problem on one line (:meth:`PluginProblem.describe`, neutralised)."""
    return problem.describe()


def _evidence_value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _target_blocks(report: Report, options: RenderOptions) -> list[str]:
    """Checks run per target: one block per target in the seed's layout, titled with the target
    ("Registry Checks Summary: mirror"), each with its own ``Overall`` line; then the checks that
    ran once, under the plain title; then the ``Overall`` of everything."""
    from doctor_core.models import Summary

    groups: dict[str | None, list[CheckResult]] = {}
    for result in report.results:
        groups.setdefault(result.target, []).append(result)
    ordered = [name for name in groups if name is not None] + ([None] if None in groups else [])
    id_width = max((len(r.check_id) for r in report.results), default=0)
    status_width = max((len(r.status.value) for r in report.results), default=0)
    lines: list[str] = []
    for name in ordered:
        title = options.title if name is None else f"{options.title}: {name}"
        if lines:
            lines.append("")
        lines += [title, "=" * len(title)]
        lines += _result_lines(groups[name], options, id_width, status_width)
        lines.append(overall_line(Summary.of(groups[name], fail_on=report.summary.fail_on)))
    lines.append("")
    if report.interrupted:
        lines.append("Interrupted: the results above are the checks that finished.")
    for cause in report.causes:
        lines.extend(cause_lines(cause))
    lines.append(overall_line(report.summary).replace("Overall:", "Overall (all targets):", 1))
    return lines


def render(report: Report, options: RenderOptions) -> str:
    if any(result.target is not None for result in report.results):
        return _tail(_target_blocks(report, options), report)
    lines = [options.title, "=" * len(options.title)]
    if not report.results:
        lines.append("No checks were run.")
    id_width = max((len(r.check_id) for r in report.results), default=0)
    status_width = max((len(r.status.value) for r in report.results), default=0)
    lines += _result_lines(report.results, options, id_width, status_width)
    if report.interrupted:
        lines.append("Interrupted: the results above are the checks that finished.")
    for cause in report.causes:
        lines.extend(cause_lines(cause))
    lines.append(overall_line(report.summary))
    return _tail(lines, report)


def _tail(lines: list[str], report: Report) -> str:
    """The policy line, recommendations and plugin problems, after the results; the finished text."""
    policy = policy_line(report.summary)
    if policy is not None:
        lines.append(policy)
    if report.recommendations:
        lines.append("Recommendations:")
        lines.extend(f"- {item}" for item in report.recommendations)
    lines.extend(f"Warning: {problem_line(problem)}" for problem in report.plugin_errors)
    return "\n".join(lines) + "\n"


def _result_lines(
    results: Iterable[CheckResult], options: RenderOptions, id_width: int, status_width: int
) -> list[str]:
    lines: list[str] = []
    for result in results:
        word = result.status.value.upper()
        padded = word.ljust(status_width)
        if options.color:
            padded = f"\x1b[{_COLORS[result.status]}m{word}\x1b[0m" + " " * (status_width - len(word))
        lines.append(f"{result.check_id.ljust(id_width)}  {padded}  {result.message}".rstrip())
        if options.verbose:
            for key, value in result.evidence.items():
                lines.append(f"    {key}: {_evidence_value(value)}")
            if result.remediation:
                lines.append("    Remediation:")
                lines.extend(f"      {number}. {step}" for number, step in enumerate(result.remediation, 1))
            lines.append(f"    Duration: {result.duration_ms} ms")
    return lines
