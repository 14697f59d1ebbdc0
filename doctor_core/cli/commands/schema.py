"""``doctor schema``: the JSON schema of the report."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from doctor_core.cli.exitcodes import EXIT_OK

if TYPE_CHECKING:
    from doctor_core.api import Doctor
    from doctor_core.cli.parser import Context


def run(doctor: Doctor, ns: argparse.Namespace, context: Context) -> int:
    import json

    from doctor_core.models import report_json_schema

    context.out.write(json.dumps(report_json_schema(), indent=2) + "\n")
    return EXIT_OK
