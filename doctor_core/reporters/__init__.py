"""The built-in output formats, registered as the internal plugin ``doctor_core.reporters``.

They go through :func:`~doctor_core.hookspecs.DoctorSpecs.doctor_add_reporters` exactly like a
plugin's formats. Apart from JSON they render the neutralised report (see
:class:`~doctor_core.types.Reporter`), so outside text never reaches them raw. Each format lives
in its own module, imported only when it renders; this module imports neither them nor the
report models (pydantic), because every invocation loads it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from doctor_core.hookspecs import hookimpl
from doctor_core.types import Reporter

if TYPE_CHECKING:
    from doctor_core.models import Report
    from doctor_core.types import RenderOptions


def _lazy(module: str) -> Callable[[Report, RenderOptions], str]:
    def render(report: Report, options: RenderOptions) -> str:
        function: Callable[[Report, RenderOptions], str] = importlib.import_module(module).render
        return function(report, options)

    render.__qualname__ = f"{module}.render"
    return render


@hookimpl
def doctor_add_reporters() -> list[Reporter]:
    return [
        Reporter("text", "Checks summary for people (default)", _lazy("doctor_core.reporters.text")),
        Reporter(
            "json",
            "The report model as JSON (schema: 'doctor schema')",
            _lazy("doctor_core.reporters.json"),
            machine_readable=True,
            file_extension="json",
            exact_text=True,  # JSON escapes every string itself and keeps it exact
        ),
        Reporter(
            "junit",
            "JUnit XML for CI systems",
            _lazy("doctor_core.reporters.junit"),
            machine_readable=True,
            file_extension="xml",
        ),
        Reporter(
            "markdown", "A Markdown table", _lazy("doctor_core.reporters.markdown"), file_extension="md"
        ),
    ]
