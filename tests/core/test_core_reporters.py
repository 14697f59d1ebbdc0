"""Every built-in reporter, against the seed's two example runs."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import ModuleType

from doctor_core import (
    Cause,
    Check,
    CheckContext,
    CheckDefinition,
    CheckOutcome,
    Doctor,
    RenderOptions,
    Report,
    Reporter,
    hookimpl,
    neutralize,
    redaction,
)
from doctor_core.models import CheckResult, PluginProblem, Severity, SharedCause, Status, Summary

HEALTHY = """\
Registry Checks Summary
=======================
check.integration.oci.credentials   PASS  Credentials valid for registry.example.com
check.integration.oci.pull          PASS  Pull authorized (sha256:abc123...)
check.integration.oci.push          PASS  Push authorization verified
check.integration.oci.referrers     PASS  Referrers API supported (OCI 1.1)
check.integration.oci.capabilities  PASS  Full capability support (6/6)
Overall: 5 passed, 0 warnings, 0 failures
"""

FALLBACK = """\
Registry Checks Summary
=======================
check.integration.oci.credentials   PASS  Credentials valid for ghcr.io
check.integration.oci.pull          PASS  Pull authorized (sha256:def456...)
check.integration.oci.push          PASS  Push authorization verified
check.integration.oci.referrers     WARN  Referrers API not supported (using fallback)
check.integration.oci.capabilities  INFO  Partial capability support (4/6)
Overall: 3 passed, 1 warning, 1 info, 0 failures
Recommendations:
- Referrers API: StellaOps will use tag-based fallback automatically
- Consider upgrading to a registry with OCI 1.1 support for better performance
"""


def _run(seed_plugin: ModuleType, scenario: str) -> tuple[Doctor, Report]:
    doctor = Doctor(
        {"SEED": {"Scenario": scenario}}, environ={}, plugins=[seed_plugin], load_entrypoints=False
    )
    return doctor, doctor.run(tags=["registry"])


def test_text_matches_the_seed_layouts(seed_plugin: ModuleType) -> None:
    doctor, report = _run(seed_plugin, "healthy")
    assert doctor.render(report, title="Registry Checks Summary") == HEALTHY
    doctor, report = _run(seed_plugin, "fallback")
    assert doctor.render(report, title="Registry Checks Summary") == FALLBACK


def _result(status: Status, check_id: str = "check.x.y") -> CheckResult:
    return CheckResult(
        check_id=check_id,
        name="n",
        plugin="p",
        tags=(),
        default_severity=Severity.FAIL,
        status=status,
        message="m",
    )


def _found(element: ET.Element | None) -> ET.Element:
    """A JUnit element the test expects to be there (``find`` returns None when it is not)."""
    assert element is not None, "expected element missing"
    return element


def _report(*results: CheckResult, problems: Iterable[PluginProblem] = ()) -> Report:
    return Report(
        started_at=datetime(2024, 1, 1, tzinfo=UTC),
        duration_ms=5,
        summary=Summary.of(results),
        results=results,
        plugin_errors=tuple(problems),
    )


def test_overall_line_counts_and_singulars(doctor_factory: Callable[..., Doctor]) -> None:
    doctor = doctor_factory()
    report = _report(
        _result(Status.FAIL, "check.a.a"),
        _result(Status.ERROR, "check.a.b"),
        _result(Status.SKIP, "check.a.c"),
        _result(Status.INFO, "check.a.d"),
        _result(Status.INFO, "check.a.e"),
    )
    text = doctor.render(report)
    assert "Overall: 0 passed, 0 warnings, 2 info, 1 failure, 1 error, 1 skipped" in text
    assert "check.a.b  ERROR  m" in text and "check.a.a  FAIL   m" in text
    assert text.startswith("Doctor Checks Summary\n=====================\n")


def test_verbose_shows_evidence_as_json_and_numbered_remediation(seed_plugin: ModuleType) -> None:
    doctor, report = _run(seed_plugin, "fallback")
    text = doctor.render(report, verbose=True, title="Registry Checks Summary")
    block = text.split(
        "check.integration.oci.referrers     WARN  Referrers API not supported (using fallback)\n"
    )[1]
    assert block.startswith(
        "    registry_url: https://registry.example.com\n"
        "    referrers_supported: false\n"
        "    referrers_count: 0\n"
        "    Remediation:\n"
        "      1. Check registry version against compatibility matrix\n"
        "      2. Upgrade registry if possible (Harbor 2.6+, Quay 3.12+)\n"
    )


def test_color_only_when_asked(seed_plugin: ModuleType) -> None:
    doctor, report = _run(seed_plugin, "fallback")
    assert "\x1b[" not in doctor.render(report)
    colored = doctor.render(report, color=True)
    assert "\x1b[33mWARN\x1b[0m" in colored
    assert "\x1b[32mPASS\x1b[0m  Push authorization verified" in colored


def test_plugin_problems_listed_at_the_end(doctor_factory: Callable[..., Doctor]) -> None:
    problem = PluginProblem(plugin="bad", distribution="bad-dist", stage="load", error="ImportError: x")
    text = doctor_factory().render(_report(_result(Status.PASS), problems=[problem]))
    assert (
        text.splitlines()[-1]
        == "Warning: plugin 'bad' (distribution bad-dist) failed at load: ImportError: x"
    )


def test_json_is_exactly_the_report_model(seed_plugin: ModuleType) -> None:
    doctor, report = _run(seed_plugin, "fallback")
    rendered = doctor.render(report, "json")
    assert rendered == report.to_json()
    data = json.loads(rendered)
    assert set(data) >= {
        "schema_version",
        "started_at",
        "duration_ms",
        "summary",
        "results",
        "recommendations",
        "plugin_errors",
    }
    first = data["results"][-1]
    assert set(first) >= {
        "check_id",
        "name",
        "plugin",
        "tags",
        "default_severity",
        "status",
        "message",
        "evidence",
        "remediation",
        "duration_ms",
    }
    assert first["status"] == "info" and first["evidence"]["referrers_supported"] is False
    assert data["summary"]["overall"] == "warn"


def test_junit_is_valid_xml_with_one_testcase_per_check(doctor_factory: Callable[..., Doctor]) -> None:
    doctor = doctor_factory()
    report = _report(
        _result(Status.PASS, "check.a.a"),
        _result(Status.FAIL, "check.a.b"),
        _result(Status.ERROR, "check.a.c"),
        _result(Status.SKIP, "check.a.d"),
        _result(Status.WARN, "check.a.e"),
    )
    suite = ET.fromstring(doctor.render(report, "junit"))
    assert suite.tag == "testsuite" and suite.get("name") == "doctor"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "5",
        "1",
        "1",
        "1",
    )
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert _found(cases["check.a.b"].find("failure")).get("message") == "m"
    assert cases["check.a.c"].find("error") is not None
    assert cases["check.a.d"].find("skipped") is not None
    assert cases["check.a.e"].find("failure") is None
    assert (_found(cases["check.a.e"].find("system-out")).text or "").startswith("WARN: m")
    assert all(case.get("classname") == "p" for case in cases.values())


def test_markdown_has_heading_table_and_recommendations(seed_plugin: ModuleType) -> None:
    doctor, report = _run(seed_plugin, "fallback")
    text = doctor.render(report, "markdown", title="Registry Checks Summary")
    assert text.startswith("# Registry Checks Summary\n")
    assert (
        "| `check.integration.oci.referrers` | WARN | Referrers API not supported (using fallback) |" in text
    )
    assert "## Recommendations" in text
    assert "**Overall: 3 passed, 1 warning, 1 info, 0 failures**" in text


# ------------------------------------------------------------------ the library render's title
def test_library_render_titles_a_registry_run_like_the_cli(seed_plugin: ModuleType) -> None:
    """#13: no title given, a tags=["registry"] run is the seed's "Registry Checks Summary"."""
    doctor, report = _run(seed_plugin, "healthy")
    assert report.selection.tags == ("registry",)
    assert doctor.render(report) == HEALTHY
    assert doctor.render(report, "markdown").startswith("# Registry Checks Summary\n")
    by_id = doctor.run(check_ids=["check.integration.oci.pull"])
    assert doctor.render(by_id).startswith("Doctor Checks Summary\n")


# -------------------------------------------------------------------------- shared root causes
TLS_CAUSE = Cause(
    key="oci.tls-untrusted:registry.example.com:443",
    summary="The TLS certificate of registry.example.com:443 is not trusted: self-signed certificate",
    remediation=("Check TLS certificate validity", "For self-signed certs, configure trust (OCI__CaBundle)"),
)
CAUSED = {
    "check.c.credentials": (Status.FAIL, "Cannot verify credentials: registry unreachable (TLS)"),
    "check.c.pull": (Status.FAIL, "Cannot verify pull: registry unreachable (TLS)"),
    "check.c.referrers": (Status.WARN, "Cannot probe referrers: registry unreachable (TLS)"),
    "check.c.other": (Status.PASS, "Unrelated check passed"),
}


class _CausePlugin:
    """Three checks failing for one cause (identical Cause objects, as the contract says)."""

    def __init__(self, cause: Cause = TLS_CAUSE, messages: dict[str, tuple[Status, str]] = CAUSED):
        self.cause = cause
        self.messages = messages

    @hookimpl
    def doctor_add_checks(self) -> Iterable[Check]:
        checks = []
        for check_id, (status, message) in self.messages.items():

            async def run(
                ctx: CheckContext, status: Status = status, message: str = message, check_id: str = check_id
            ) -> CheckOutcome:
                cause = None if status is Status.PASS else self.cause
                return ctx.outcome(status, message, cause=cause, remediation=(f"step for {check_id}",))

            checks.append(Check(CheckDefinition(check_id=check_id, name=check_id, tags=("c",)), run=run))
        return checks


def _cause_run(plugin: object | None = None) -> tuple[Doctor, Report]:
    doctor = Doctor({}, environ={}, plugins=[plugin or _CausePlugin()], load_entrypoints=False)
    return doctor, doctor.run(tags=["c"])


def test_engine_copies_the_cause_and_the_report_collects_it_once() -> None:
    _doctor, report = _cause_run()
    affected = ("check.c.credentials", "check.c.pull", "check.c.referrers")
    assert [r.cause for r in report.results] == [TLS_CAUSE, TLS_CAUSE, TLS_CAUSE, None]
    assert report.causes == (
        SharedCause(
            key=TLS_CAUSE.key,
            summary=TLS_CAUSE.summary,
            remediation=TLS_CAUSE.remediation,
            check_ids=affected,
        ),
    )


def test_a_cause_is_redacted_like_the_message() -> None:
    secret = "s3cr3t-Pa55word-value"
    redaction.register_secret(secret)
    leaky = Cause(key=f"k:{secret}", summary=f"rejected {secret}", remediation=(f"use {secret}",))
    _doctor, report = _cause_run(_CausePlugin(cause=leaky))
    assert secret not in report.to_json()
    assert report.results[0].cause is not None and "rejected ***" in report.results[0].cause.summary


def test_text_states_a_shared_cause_once_with_the_affected_checks_and_the_fix() -> None:
    doctor, report = _cause_run()
    text = doctor.render(report)
    assert text.count(TLS_CAUSE.summary) == 1
    assert (
        f"Cause: {TLS_CAUSE.summary}\n"
        "  Affects: check.c.credentials, check.c.pull, check.c.referrers\n"
        "  Fix:\n"
        "    1. Check TLS certificate validity\n"
        "    2. For self-signed certs, configure trust (OCI__CaBundle)\n"
        "Overall: 1 passed, 1 warning, 2 failures\n"
    ) in text
    assert "check.c.pull         FAIL  Cannot verify pull: registry unreachable (TLS)\n" in text


def test_markdown_states_a_shared_cause_once() -> None:
    doctor, report = _cause_run()
    text = doctor.render(report, "markdown")
    assert text.count("The TLS certificate of registry.example.com:443") == 1
    assert "## Causes" in text
    assert "  - Affects: `check.c.credentials`, `check.c.pull`, `check.c.referrers`" in text
    assert "    1. Check TLS certificate validity" in text


def test_json_keeps_every_result_complete_and_adds_the_causes() -> None:
    doctor, report = _cause_run()
    data = json.loads(doctor.render(report, "json"))
    assert data["schema_version"] == "1.1"
    assert [r["cause"] and r["cause"]["key"] for r in data["results"]] == [TLS_CAUSE.key] * 3 + [None]
    assert data["results"][1]["message"] == "Cannot verify pull: registry unreachable (TLS)"
    assert data["results"][1]["remediation"] == ["step for check.c.pull"]
    assert data["causes"] == [
        {
            "key": TLS_CAUSE.key,
            "summary": TLS_CAUSE.summary,
            "remediation": list(TLS_CAUSE.remediation),
            "check_ids": ["check.c.credentials", "check.c.pull", "check.c.referrers"],
        }
    ]


def test_junit_puts_the_cause_into_each_affected_failure() -> None:
    doctor, report = _cause_run()
    suite = ET.fromstring(doctor.render(report, "junit"))
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    for check_id in ("check.c.credentials", "check.c.pull"):
        text = _found(cases[check_id].find("failure")).text or ""
        assert text.startswith(f"Cause: {TLS_CAUSE.summary}\nFix 1. Check TLS certificate validity\n")
        assert text.endswith(f"step for {check_id}")
    assert cases["check.c.referrers"].find("failure") is None  # a warning, under --fail-on fail


def test_junit_does_not_repeat_the_fix_as_the_checks_remediation(
    doctor_factory: Callable[..., Doctor],
) -> None:
    """The usual plugin result: its remediation is its cause's fix; each step is stated once."""
    doctor = doctor_factory()
    result = _result(Status.FAIL, "check.c.credentials").model_copy(
        update={"cause": TLS_CAUSE, "remediation": (*TLS_CAUSE.remediation, "one more step")}
    )
    text = _found(ET.fromstring(doctor.render(_report(result), "junit")).find("testcase/failure")).text or ""
    assert text.splitlines() == [
        f"Cause: {TLS_CAUSE.summary}",
        "Fix 1. Check TLS certificate validity",
        "Fix 2. For self-signed certs, configure trust (OCI__CaBundle)",
        "one more step",
    ]


# ------------------------------------------------------------ the output agrees with the exit code
def test_fail_on_warn_makes_warnings_failures_in_junit_and_json(
    doctor_factory: Callable[..., Doctor],
) -> None:
    doctor = doctor_factory()
    report = _report(_result(Status.PASS, "check.a.a"), _result(Status.WARN, "check.a.b"))
    default = ET.fromstring(doctor.render(report, "junit"))
    assert default.get("failures") == "0" and default.find("testcase/failure") is None
    strict = ET.fromstring(doctor.render(report, "junit", fail_on="warn"))
    assert (strict.get("failures"), strict.get("errors")) == ("1", "0")
    cases = {case.get("name"): case for case in strict.findall("testcase")}
    assert _found(cases["check.a.b"].find("failure")).get("type") == "warn"
    assert cases["check.a.a"].find("failure") is None

    summary = json.loads(doctor.render(report, "json"))["summary"]
    assert (summary["fail_on"], summary["failed"]) == ("fail", False)
    summary = json.loads(doctor.render(report, "json", fail_on="warn"))["summary"]
    assert (summary["fail_on"], summary["failed"], summary["warnings"]) == ("warn", True, 1)


def test_text_and_markdown_say_when_warnings_fail_the_run(doctor_factory: Callable[..., Doctor]) -> None:
    doctor = doctor_factory()
    report = _report(_result(Status.WARN, "check.a.b"))
    assert "fail the run" not in doctor.render(report)
    line = "Failed: warnings fail the run (--fail-on warn)"
    expected = f"Overall: 0 passed, 1 warning, 0 failures\n{line}\n"
    assert doctor.render(report, fail_on="warn").endswith(expected)
    assert f"**{line}**" in doctor.render(report, "markdown", fail_on="warn")


def test_reporter_plugins_get_the_fail_on_policy() -> None:
    seen: list[tuple[str, bool]] = []

    class Plugin:
        @hookimpl
        def doctor_add_reporters(self) -> Iterable[Reporter]:
            def render(report: Report, options: RenderOptions) -> str:
                seen.append((options.fail_on, report.summary.failed))
                return ""

            return [Reporter("probe", "records the policy", render)]

    doctor = Doctor({}, environ={}, plugins=[Plugin()], load_entrypoints=False)
    report = _report(_result(Status.WARN))
    doctor.render(report, "probe")
    doctor.render(report, "probe", fail_on="warn")
    assert seen == [("fail", False), ("warn", True)]


# ------------------------------------------------------------------------------ output hygiene
FORGERY = (
    "denied\x1b[2K\r\ncheck.integration.oci.push  PASS  Push authorization verified"
    "\x07\x1b]52;c;ZXZpbA==\x07\u202e|# x"
)
UNSAFE = ["\x1b", "\x07", "\r", "\x9b", "\u202e", "\x00"]


def test_neutralize_shows_control_and_bidi_characters_escaped() -> None:
    plain = "plain text, ünïcode, tabs\tand\nnewlines"
    assert neutralize(plain) == "plain text, ünïcode, tabs\\tand\\nnewlines"
    assert neutralize("\x1b]52;c;ZXZpbA==\x07") == "\\x1b]52;c;ZXZpbA==\\x07"
    assert neutralize("a\x7fb\x85c\x9bd") == "a\\x7fb\\x85c\\x9bd"
    assert neutralize("\u202aL\u202eR\u2066\u2069\u2028") == "\\u202aL\\u202eR\\u2066\\u2069\\u2028"
    assert neutralize("\ud800\ufffe") == "\\ud800\\ufffe"
    once = neutralize(FORGERY)
    assert neutralize(once) == once
    assert not any(char in once for char in [*UNSAFE, "\n"])


class _HostilePlugin:
    """A check whose message, evidence, remediation, recommendation and cause carry a forgery."""

    @hookimpl
    def doctor_add_checks(self) -> Iterable[Check]:
        async def run(ctx: CheckContext) -> CheckOutcome:
            return ctx.outcome(
                Status.FAIL,
                f"Push probe refused: {FORGERY}",
                evidence={"error": FORGERY, f"key{FORGERY}": [FORGERY]},
                remediation=(FORGERY,),
                recommendations=(FORGERY,),
                cause=Cause(key="k", summary=FORGERY, remediation=(FORGERY,)),
            )

        definition = CheckDefinition(check_id="check.integration.oci.push", name="push", tags=("registry",))
        return [Check(definition, run=run)]


def _forged_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^\W*check\.integration\.oci\.push\W+PASS", line)]


def test_outside_text_cannot_forge_a_line_in_any_human_format() -> None:
    doctor = Doctor({}, environ={}, plugins=[_HostilePlugin()], load_entrypoints=False)
    report = doctor.run(tags=["registry"])
    for fmt in ("text", "markdown", "junit"):
        for verbose in (False, True):
            # Colour on: doctor's own SGR codes around the status word are the only ESC allowed.
            colored = doctor.render(report, fmt, verbose=verbose, color=True)
            rendered = re.sub(r"\x1b\[[0-9;]*m(PASS|INFO|WARN|FAIL|ERROR|SKIP)\x1b\[0m", r"\1", colored)
            assert not [c for c in UNSAFE if c in rendered], (fmt, verbose)
            assert _forged_lines(rendered) == [], (fmt, verbose)
            assert "x1b" in rendered and "52;c;ZXZpbA==" in rendered, fmt  # shown, escaped
    ET.fromstring(doctor.render(report, "junit"))  # well-formed XML
    assert json.loads(doctor.render(report, "json"))["results"][0]["evidence"]["error"] == FORGERY


def test_plugin_reporters_get_neutralised_text_unless_they_ask_for_the_exact_text() -> None:
    class Plugin:
        @hookimpl
        def doctor_add_reporters(self) -> Iterable[Reporter]:
            def render(report: Report, options: RenderOptions) -> str:
                return report.results[0].message

            return [
                Reporter("naive", "writes messages verbatim", render),
                Reporter("exact", "escapes by itself", render, exact_text=True),
            ]

    doctor = Doctor({}, environ={}, plugins=[_HostilePlugin(), Plugin()], load_entrypoints=False)
    report = doctor.run(tags=["registry"])
    assert not [c for c in UNSAFE if c in doctor.render(report, "naive")]
    assert doctor.render(report, "exact") == f"Push probe refused: {FORGERY}"


def test_markdown_escapes_what_would_forge_cells_headings_and_code(
    doctor_factory: Callable[..., Doctor],
) -> None:
    doctor = doctor_factory()
    result = _result(Status.FAIL, "check.a.a").model_copy(
        update={"message": "# Heading | PASS | <img src=x> `code`", "evidence": {"k": "a`b"}}
    )
    report = _report(result).model_copy(update={"recommendations": ("# not a heading",)})
    text = doctor.render(report, "markdown", verbose=True)
    assert "| `check.a.a` | FAIL | \\# Heading \\| PASS \\| \\<img src=x\\> \\`code\\` |" in text
    assert "- \\# not a heading" in text
    assert '- `k`: `` "a`b" ``' in text


def test_summary_failed_follows_the_counts_and_the_policy() -> None:
    assert Summary(failures=1).failed and Summary(errors=1).failed
    assert not Summary(warnings=2).failed
    assert Summary(warnings=2, fail_on="warn").failed and Summary(warnings=2).under("warn").failed
    parsed = Summary.model_validate_json(Summary(warnings=1, fail_on="warn").model_dump_json())
    assert (parsed.fail_on, parsed.failed) == ("warn", True)
