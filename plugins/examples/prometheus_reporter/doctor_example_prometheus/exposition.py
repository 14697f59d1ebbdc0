"""Render a doctor :class:`~doctor_core.Report` in the Prometheus text exposition format 0.0.4.

The output is meant for node_exporter's textfile collector (``doctor --format prometheus
--output /var/lib/node_exporter/doctor.prom``) or a Pushgateway, so an alert can fire when a
check stops passing. Metric families, all gauges (they describe one run, they do not count up
across runs, hence also ``doctor_checks_total`` is a gauge)::

    doctor_check_status{check_id,plugin,status}   1 for the check's status, 0 for the others
    doctor_check_duration_seconds{check_id,plugin} how long the check took
    doctor_checks_total{status}                    how many checks ended with each status
    doctor_run_duration_seconds                    how long the whole run took

One-hot status series (rather than one series whose value encodes the status) let queries say
``doctor_check_status{status="fail"} == 1`` without knowing an encoding.

Format rules followed (https://prometheus.io/docs/instrumenting/exposition_formats/): one
``# HELP`` and one ``# TYPE`` line per family, before its samples, every sample of a family
together; label values escape backslash, double quote and line feed; HELP text escapes
backslash and line feed; lines end with ``\\n`` including the last one. No timestamps: the
textfile collector rejects them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from doctor_core import Status

if TYPE_CHECKING:
    # Annotations only: the plugin module imports this one at load time (``doctor list``), and
    # the report models would import pydantic.
    from doctor_core import RenderOptions, Report

#: The format's version, also the ``Content-Type`` version a server would announce.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_STATUS_ORDER: tuple[Status, ...] = tuple(Status)


def escape_label_value(value: str) -> str:
    """A label value as written between double quotes: ``\\`` ``"`` and line feed escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """HELP text: only backslash and line feed are escaped (quotes are literal there)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value: integers without a fraction, floats in Python's shortest round-trip form."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def sample(name: str, labels: Sequence[tuple[str, str]], value: float) -> str:
    """One sample line, e.g. ``doctor_checks_total{status="pass"} 3``."""
    if not labels:
        return f"{name} {format_value(value)}"
    rendered = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels)
    return f"{name}{{{rendered}}} {format_value(value)}"


def family(name: str, help_text: str, samples: Iterable[str], kind: str = "gauge") -> list[str]:
    """A metric family: its HELP and TYPE lines followed by its samples."""
    return [f"# HELP {name} {escape_help(help_text)}", f"# TYPE {name} {kind}", *samples]


def render_prometheus(report: Report, options: RenderOptions) -> str:
    """The report as exposition text. ``options`` is accepted for the reporter contract and unused:
    a machine-readable format looks the same whatever the terminal or verbosity.
    """
    del options
    status_samples: list[str] = []
    duration_samples: list[str] = []
    for result in report.results:
        identity = [("check_id", result.check_id), ("plugin", result.plugin)]
        for status in _STATUS_ORDER:
            hot = 1 if result.status is status else 0
            status_samples.append(sample("doctor_check_status", [*identity, ("status", status.value)], hot))
        duration_samples.append(sample("doctor_check_duration_seconds", identity, result.duration_ms / 1000))

    counts = {status: 0 for status in _STATUS_ORDER}
    for result in report.results:
        counts[result.status] += 1

    lines = [
        *family(
            "doctor_check_status",
            "Status of each check in the last doctor run: 1 for its status, 0 for the others.",
            status_samples,
        ),
        *family(
            "doctor_check_duration_seconds",
            "Duration of each check in the last doctor run, in seconds.",
            duration_samples,
        ),
        *family(
            "doctor_checks_total",
            "Number of checks in the last doctor run, by status.",
            (sample("doctor_checks_total", [("status", s.value)], n) for s, n in counts.items()),
        ),
        *family(
            "doctor_run_duration_seconds",
            "Duration of the last doctor run, in seconds.",
            [sample("doctor_run_duration_seconds", [], report.duration_ms / 1000)],
        ),
    ]
    return "\n".join(lines) + "\n"
