"""The public data model of doctor: check definitions, outcomes, results and the report.

This module *is* the JSON contract. Scripts parse ``doctor --format json`` output, so the field
names below (``schema_version``, ``results[].check_id``, ``status``, ``evidence`` ...) never change
meaning within a major ``schema_version``. New optional fields may be added; nothing is renamed or
removed without bumping :data:`SCHEMA_VERSION`'s major part.

A check never prints: it returns a :class:`CheckOutcome`. The engine combines the outcome with the
check's :class:`CheckDefinition` into a :class:`CheckResult` (adding identity, timing and
redaction), and a run's results become one :class:`Report`.

:class:`CheckDefinition`, :class:`Severity` and :class:`Status` are defined in
:mod:`doctor_core.definitions` (standard library only, so that plugins can build definitions
without importing pydantic) and re-exported here unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from doctor_core.definitions import CheckDefinition, Severity, Status

__all__ = [
    "SCHEMA_VERSION",
    "Cause",
    "CheckDefinition",
    "CheckOutcome",
    "CheckResult",
    "EvidenceValue",
    "PluginProblem",
    "Report",
    "Severity",
    "Status",
    "Summary",
    "report_json_schema",
]

#: Version of the JSON report layout. Major bumps break parsers; minor bumps only add fields.
SCHEMA_VERSION = "1.1"

#: A JSON-compatible evidence value. Booleans stay booleans, numbers stay numbers.
EvidenceValue = str | int | float | bool | None | list[Any] | dict[str, Any]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False, defer_build=True)


class Cause(_Model):
    """A root cause behind a result. Results whose causes have the same ``key`` share one cause."""

    key: str = Field(description='Stable identifier, e.g. "oci.tls-untrusted:registry.example.com:443"')
    summary: str = Field(description="One sentence: what failed and why")
    remediation: tuple[str, ...] = Field(default=(), description="The fix, ordered steps")


class CheckOutcome(_Model):
    """What a check returns: its verdict and the facts behind it.

    ``evidence`` keys are the check's documented contract. ``remediation`` is an ordered list of
    steps a person can follow. ``metrics`` carries numbers about the check itself (for example
    ``http_requests``), not about the system under test.
    """

    status: Status
    message: str
    evidence: dict[str, EvidenceValue] = Field(default_factory=dict)
    remediation: tuple[str, ...] = ()
    recommendations: tuple[str, ...] = Field(
        default=(),
        description="Short report-level advice, shown under 'Recommendations:' when not passing",
    )
    metrics: dict[str, int | float] = Field(default_factory=dict)
    cause: Cause | None = Field(default=None, description="The root cause, shared by checks failing for it")


class CheckResult(_Model):
    """One row of the report: a definition's identity plus its outcome and timing."""

    check_id: str
    name: str
    plugin: str
    tags: tuple[str, ...]
    default_severity: Severity
    status: Status
    message: str
    evidence: dict[str, EvidenceValue] = Field(default_factory=dict)
    remediation: tuple[str, ...] = ()
    duration_ms: int = 0
    metrics: dict[str, int | float] = Field(default_factory=dict)
    cause: Cause | None = None


class PluginProblem(_Model):
    """A plugin that could not be loaded, registered or called. The run goes on without it."""

    plugin: str = Field(description="Entry point name")
    distribution: str | None = Field(default=None, description="Installed distribution it came from")
    stage: str = Field(
        description="load | register | hook:<name> | duplicate-check | duplicate-reporter | "
        "duplicate-command | invalid-contribution | close:<resource>"
    )
    error: str = Field(description="Exception type and (redacted) message")


class Summary(_Model):
    """Counts per status and the overall verdict (the worst status present, ``pass`` when empty)."""

    total: int = 0
    passed: int = 0
    info: int = 0
    warnings: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    overall: Status = Status.PASS

    @classmethod
    def of(cls, results: list[CheckResult] | tuple[CheckResult, ...]) -> Summary:
        counts = {status: 0 for status in Status}
        for result in results:
            counts[result.status] += 1
        ranked = [r.status for r in results if r.status is not Status.SKIP]
        overall = max(ranked, key=lambda s: s.rank) if ranked else Status.PASS
        return cls(
            total=len(results),
            passed=counts[Status.PASS],
            info=counts[Status.INFO],
            warnings=counts[Status.WARN],
            failures=counts[Status.FAIL],
            errors=counts[Status.ERROR],
            skipped=counts[Status.SKIP],
            overall=overall,
        )


class Report(_Model):
    """Everything one run produced. ``doctor --format json`` prints exactly this model."""

    schema_version: str = SCHEMA_VERSION
    started_at: datetime
    duration_ms: int
    summary: Summary
    results: tuple[CheckResult, ...] = ()
    recommendations: tuple[str, ...] = ()
    plugin_errors: tuple[PluginProblem, ...] = ()
    interrupted: bool = False

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text: the public, versioned format."""
        return self.model_dump_json(indent=indent)

    def result(self, check_id: str) -> CheckResult:
        """The result of one check, by id (``KeyError`` when it was not run)."""
        for result in self.results:
            if result.check_id == check_id:
                return result
        raise KeyError(check_id)


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Report` (``doctor schema`` prints it)."""
    schema = Report.model_json_schema(mode="serialization")
    schema["$id"] = f"https://doctor.invalid/schema/report-{SCHEMA_VERSION}.json"
    schema["title"] = "doctor report"
    return schema
