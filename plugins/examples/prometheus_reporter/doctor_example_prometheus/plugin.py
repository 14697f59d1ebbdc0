"""The plugin object doctor loads through the ``doctor.plugins`` entry point.

It contributes one output format through :func:`doctor_add_reporters`. The core lists it in
``doctor --help`` and accepts ``--format prometheus`` as soon as this distribution is installed.
Rendering is pure text work, so the reporter's ``render`` is the function itself; a format with
heavy dependencies would import them inside its render function instead.
"""

from __future__ import annotations

from collections.abc import Iterator

from doctor_core import Reporter, hookimpl
from doctor_example_prometheus.exposition import render_prometheus

FORMAT_NAME = "prometheus"


@hookimpl
def doctor_add_reporters() -> Iterator[Reporter]:
    """``--format prometheus``: gauges per check and per run, for alerting on check status."""
    yield Reporter(
        name=FORMAT_NAME,
        description="Prometheus text exposition format 0.0.4 (node_exporter textfile collector, Pushgateway)",
        render=render_prometheus,
        machine_readable=True,
        file_extension="prom",
    )
