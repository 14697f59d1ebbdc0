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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from doctor_core.definitions import CheckDefinition, Severity, Status

__all__ = [
    "SCHEMA_VERSION",
    "Cause",
    "CheckDefinition",
    "CheckOutcome",
    "CheckResult",
    "EvidenceValue",
    "FailOn",
    "PluginProblem",
    "Report",
    "Selection",
    "Severity",
    "SharedCause",
    "Status",
    "Summary",
    "report_json_schema",
    "run_fails",
]

#: Version of the JSON report layout. Major bumps break parsers; minor bumps only add fields.
SCHEMA_VERSION = "1.1"

#: A JSON-compatible evidence value. Booleans stay booleans, numbers stay numbers.
EvidenceValue = str | int | float | bool | None | list[Any] | dict[str, Any]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False, defer_build=True)


#: The ``--fail-on`` policy: the lowest status that fails the run (``error`` and ``fail`` always do).
FailOn = Literal["fail", "warn"]


class Cause(_Model):
    """A root cause behind a result. Results whose causes have the same ``key`` share one cause.

    A check sets it when its verdict comes from something outside the check's own question (the
    registry is unreachable, the credentials are rejected): the report then states the cause once,
    naming every check it affected, instead of repeating it on each line. Checks failing for the
    same reason must build identical causes (same key, summary and remediation); the first one
    seen in report order is the one shown.
    """

    key: str = Field(description="Stable identity, e.g. 'oci.tls-untrusted:registry.example.com:443'")
    summary: str = Field(description="One sentence: what failed and why")
    remediation: tuple[str, ...] = Field(default=(), description="The fix, as ordered steps")


class SharedCause(_Model):
    """One distinct cause of a run and the checks it affected (``Report.causes``)."""

    key: str
    summary: str
    remediation: tuple[str, ...] = ()
    check_ids: tuple[str, ...] = Field(description="The affected checks, in report order")


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
    cause: Cause | None = Field(
        default=None, description="The root cause, when the verdict comes from one shared with others"
    )


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
    target: str | None = Field(
        default=None,
        description="The target this result is for (a check run once per configured target, "
        "e.g. a registry's Name); null for a check that ran once (schema 1.1)",
    )


class PluginProblem(_Model):
    """A plugin that could not be loaded, registered or called. The run goes on without it."""

    plugin: str = Field(description="Entry point name")
    distribution: str | None = Field(default=None, description="Installed distribution it came from")
    stage: str = Field(
        description="load | register | hook:<name> | duplicate-check | duplicate-reporter | "
        "duplicate-command | invalid-contribution | close:<resource>"
    )
    error: str = Field(description="Exception type and (redacted) message")

    def describe(self) -> str:
        """The problem on one line, neutralised: the one wording every output uses (the text
        report, ``doctor plugins``, the warnings on stderr, the ``--strict-plugins`` error)."""
        from doctor_core.printable import neutralize

        origin = f" (distribution {self.distribution})" if self.distribution else ""
        return neutralize(f"plugin {self.plugin!r}{origin} failed at {self.stage}: {self.error}")


def run_fails(counts: Any, fail_on: FailOn) -> bool:
    """Whether a run with these counts fails under ``fail_on``: the rule behind exit code 1.

    Any failure or error fails the run; warnings fail it only under ``fail_on="warn"``. The CLI's
    exit code, ``Summary.failed`` and every reporter's notion of failure come from here.
    ``counts`` is a :class:`Summary` (anything with ``failures``, ``errors`` and ``warnings``).
    """
    return bool(counts.failures or counts.errors or (fail_on == "warn" and counts.warnings))


class Summary(_Model):
    """Counts per status, the overall verdict (the worst status present, ``pass`` when empty) and
    whether the run fails under the ``--fail-on`` policy it was rendered with."""

    total: int = 0
    passed: int = 0
    info: int = 0
    warnings: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    overall: Status = Status.PASS
    fail_on: FailOn = Field(
        default="fail", description="The --fail-on policy 'failed' was decided under (schema 1.1)"
    )
    failed: bool = Field(
        default=False,
        description="Whether the run fails under 'fail_on' (the CLI then exits 1) (schema 1.1)",
    )

    @model_validator(mode="before")
    @classmethod
    def _decide_failed(cls, data: Any) -> Any:
        """``failed`` follows the counts and ``fail_on`` unless given (as in a parsed report)."""
        if isinstance(data, dict) and "failed" not in data:
            from types import SimpleNamespace

            counts = SimpleNamespace(**{k: data.get(k, 0) for k in ("failures", "errors", "warnings")})
            data = {**data, "failed": run_fails(counts, data.get("fail_on", "fail"))}
        return data

    @classmethod
    def of(cls, results: list[CheckResult] | tuple[CheckResult, ...], fail_on: FailOn = "fail") -> Summary:
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
            fail_on=fail_on,
        )

    def under(self, fail_on: FailOn) -> Summary:
        """This summary with ``fail_on`` and ``failed`` decided under that policy."""
        return self.model_copy(update={"fail_on": fail_on, "failed": run_fails(self, fail_on)})

    def fails_result(self, status: Status) -> bool:
        """Whether a result with ``status`` is one of the things failing the run under ``fail_on``
        (JUnit turns exactly those into ``<failure>``/``<error>``)."""
        return status in (Status.FAIL, Status.ERROR) or (self.fail_on == "warn" and status is Status.WARN)


class Selection(_Model):
    """What the run was asked to select: ``--tag`` and ``--check`` (the report's title follows)."""

    tags: tuple[str, ...] = ()
    check_ids: tuple[str, ...] = ()


def _printable_value(value: Any) -> Any:
    from doctor_core.printable import neutralize

    if isinstance(value, str):
        return neutralize(value)
    if isinstance(value, list | tuple):
        return [_printable_value(item) for item in value]
    if isinstance(value, dict):
        return {neutralize(str(key)): _printable_value(item) for key, item in value.items()}
    return value


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
    causes: tuple[SharedCause, ...] = Field(
        default=(),
        description="Every distinct root cause of the run, first-seen order, with the checks it "
        "affected (schema 1.1); each affected result also carries it in 'cause'",
    )
    selection: Selection = Field(
        default_factory=Selection, description="The --tag/--check selection of the run (schema 1.1)"
    )

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text: the public, versioned format."""
        return self.model_dump_json(indent=indent)

    def result(self, check_id: str, target: str | None = None) -> CheckResult:
        """The result of one check, by id (``KeyError`` when it was not run); with ``target``,
        its result for that target (without it: the first of its results)."""
        for result in self.results:
            if result.check_id == check_id and (target is None or result.target == target):
                return result
        raise KeyError(check_id if target is None else f"{check_id} [{target}]")

    def targets(self) -> tuple[str, ...]:
        """The targets the results name, in report order (empty when no check ran per target)."""
        return tuple(dict.fromkeys(r.target for r in self.results if r.target is not None))

    @staticmethod
    def causes_of(results: list[CheckResult] | tuple[CheckResult, ...]) -> tuple[SharedCause, ...]:
        """Every distinct cause of ``results`` (by ``key``, first-seen order) with the checks it
        affects: what the engine stores in :attr:`causes`. The first cause seen for a key wins."""
        found: dict[str, tuple[Cause, list[str]]] = {}
        for result in results:
            if result.cause is None:
                continue
            found.setdefault(result.cause.key, (result.cause, []))[1].append(result.check_id)
        return tuple(
            SharedCause(
                key=cause.key, summary=cause.summary, remediation=cause.remediation, check_ids=tuple(ids)
            )
            for cause, ids in found.values()
        )

    def under(self, fail_on: FailOn) -> Report:
        """This report with its summary's ``failed`` decided under the ``--fail-on`` policy."""
        if self.summary.fail_on == fail_on:
            return self
        return self.model_copy(update={"summary": self.summary.under(fail_on)})

    def printable(self) -> Report:
        """A copy in which every text that came from a check or a plugin is neutralised
        (:func:`doctor_core.printable.neutralize`): what human and document formats render.

        Messages, evidence (keys and string values, nested), remediation, recommendations,
        causes, plugin problems and the identity strings a plugin chose are all covered.
        """
        data = self.model_dump(mode="python")
        data["results"] = [_printable_value(result) for result in data["results"]]
        for result, original in zip(data["results"], self.results, strict=True):
            result["status"] = original.status
            result["default_severity"] = original.default_severity
        for name in ("recommendations", "causes", "plugin_errors"):
            data[name] = _printable_value(data[name])
        data["selection"] = _printable_value(data["selection"])
        return Report.model_validate(data)


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Report` (``doctor schema`` prints it)."""
    schema = Report.model_json_schema(mode="serialization")
    schema["$id"] = f"https://doctor.invalid/schema/report-{SCHEMA_VERSION}.json"
    schema["title"] = "doctor report"
    return schema
