"""``--format json``: exactly :meth:`doctor_core.models.Report.to_json`, the versioned public format."""

from __future__ import annotations

from doctor_core.models import Report
from doctor_core.types import RenderOptions


def render(report: Report, options: RenderOptions) -> str:
    return report.to_json()
