"""``--format markdown``: a heading, a table of checks, recommendations (for wikis and PR comments)."""

from __future__ import annotations

import json

from doctor_core.models import Report
from doctor_core.reporters.text import overall_line, problem_line
from doctor_core.types import RenderOptions


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render(report: Report, options: RenderOptions) -> str:
    lines = [f"# {options.title}", ""]
    if report.interrupted:
        lines += ["> The run was interrupted: only the checks that finished are listed.", ""]
    if report.targets():  # checks run per target: a Target column (absent otherwise)
        lines += ["| Target | Check | Status | Message |", "|--------|-------|--------|---------|"]
        for result in report.results:
            lines.append(
                f"| {_cell(result.target or '-')} | `{result.check_id}` | {result.status.value.upper()} "
                f"| {_cell(result.message)} |"
            )
    else:
        lines += ["| Check | Status | Message |", "|-------|--------|---------|"]
    for result in report.results if not report.targets() else ():
        lines.append(f"| `{result.check_id}` | {result.status.value.upper()} | {_cell(result.message)} |")
    lines += ["", f"**{overall_line(report.summary)}**"]
    if report.recommendations:
        lines += ["", "## Recommendations", ""]
        lines += [f"- {_cell(item)}" for item in report.recommendations]
    if options.verbose:
        lines += ["", "## Details"]
        for result in report.results:
            suffix = f" ({_cell(result.target)})" if result.target is not None else ""
            lines += ["", f"### `{result.check_id}`{suffix}", ""]
            lines += [f"- `{key}`: `{json.dumps(value)}`" for key, value in result.evidence.items()]
            if result.remediation:
                lines += ["", "Remediation:", ""]
                lines += [f"{number}. {step}" for number, step in enumerate(result.remediation, 1)]
    if report.plugin_errors:
        lines += ["", "## Plugin problems", ""]
        lines += [f"- {_cell(problem_line(problem))}" for problem in report.plugin_errors]
    return "\n".join(lines) + "\n"
