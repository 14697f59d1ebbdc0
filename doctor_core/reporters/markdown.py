"""``--format markdown``: a heading, a table of checks, causes, recommendations (wikis, PR comments).

Outside text arrives neutralised (no control characters, see :func:`doctor_core.neutralize`);
on top of that, :func:`_text` escapes what Markdown itself would interpret, so that a message
cannot close a table cell (``|``), start a heading (a leading ``#``), open HTML (``<``) or a
code span or link: every message renders as the literal text it is. Code spans (:func:`_code`)
use a fence longer than any backtick run inside them.
"""

from __future__ import annotations

import json
import re

from doctor_core.models import Report
from doctor_core.printable import neutralize
from doctor_core.reporters.text import overall_line, policy_line, problem_line
from doctor_core.types import RenderOptions

_SPECIAL = re.compile(r"([\\|`*_\[\]<>])")
_BACKTICKS = re.compile(r"`+")


def _text(text: str) -> str:
    """Literal text inside a table cell or a list item (one line, nothing interpreted)."""
    escaped = _SPECIAL.sub(r"\\\1", neutralize(text))
    return "\\" + escaped if escaped.startswith("#") else escaped


def _code(text: str) -> str:
    """``text`` as an inline code span whose fence no backtick run inside can close."""
    text = neutralize(text)
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def render(report: Report, options: RenderOptions) -> str:
    lines = [f"# {_text(options.title)}", ""]
    if report.interrupted:
        lines += ["> The run was interrupted: only the checks that finished are listed.", ""]
    if report.targets():  # checks run per target: a Target column (absent otherwise)
        lines += ["| Target | Check | Status | Message |", "|--------|-------|--------|---------|"]
        for result in report.results:
            lines.append(
                f"| {_text(result.target or '-')} | {_code(result.check_id)} | "
                f"{result.status.value.upper()} | {_text(result.message)} |"
            )
    else:
        lines += ["| Check | Status | Message |", "|-------|--------|---------|"]
        for result in report.results:
            status = result.status.value.upper()
            lines.append(f"| {_code(result.check_id)} | {status} | {_text(result.message)} |")
    if report.causes:
        lines += ["", "## Causes", ""]
        for cause in report.causes:
            lines.append(f"- **{_text(cause.summary)}**")
            lines.append(f"  - Affects: {', '.join(_code(check_id) for check_id in cause.check_ids)}")
            if cause.remediation:
                lines.append("  - Fix:")
                lines += [f"    {n}. {_text(step)}" for n, step in enumerate(cause.remediation, 1)]
    lines += ["", f"**{overall_line(report.summary)}**"]
    policy = policy_line(report.summary)
    if policy is not None:
        lines += ["", f"**{_text(policy)}**"]
    if report.recommendations:
        lines += ["", "## Recommendations", ""]
        lines += [f"- {_text(item)}" for item in report.recommendations]
    if options.verbose:
        lines += ["", "## Details"]
        for result in report.results:
            suffix = f" ({_text(result.target)})" if result.target is not None else ""
            lines += ["", f"### {_code(result.check_id)}{suffix}", ""]
            lines += [f"- {_code(key)}: {_code(json.dumps(value))}" for key, value in result.evidence.items()]
            if result.remediation:
                lines += ["", "Remediation:", ""]
                lines += [f"{number}. {_text(step)}" for number, step in enumerate(result.remediation, 1)]
    if report.plugin_errors:
        lines += ["", "## Plugin problems", ""]
        lines += [f"- {_text(problem_line(problem))}" for problem in report.plugin_errors]
    return "\n".join(lines) + "\n"
