"""Every built-in reporter, against the seed's two example runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from doctor_core import Doctor, Report
from doctor_core.models import CheckResult, PluginProblem, Severity, Status, Summary

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


def _run(seed_plugin, scenario: str) -> tuple[Doctor, Report]:
    doctor = Doctor(
        {"SEED": {"Scenario": scenario}}, environ={}, plugins=[seed_plugin], load_entrypoints=False
    )
    return doctor, doctor.run(tags=["registry"])


def test_text_matches_the_seed_layouts(seed_plugin):
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


def _report(*results: CheckResult, problems=()) -> Report:
    return Report(
        started_at=datetime(2024, 1, 1, tzinfo=UTC),
        duration_ms=5,
        summary=Summary.of(results),
        results=results,
        plugin_errors=tuple(problems),
    )


def test_overall_line_counts_and_singulars(doctor_factory):
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


def test_verbose_shows_evidence_as_json_and_numbered_remediation(seed_plugin):
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


def test_color_only_when_asked(seed_plugin):
    doctor, report = _run(seed_plugin, "fallback")
    assert "\x1b[" not in doctor.render(report)
    colored = doctor.render(report, color=True)
    assert "\x1b[33mWARN\x1b[0m" in colored
    assert "\x1b[32mPASS\x1b[0m  Push authorization verified" in colored


def test_plugin_problems_listed_at_the_end(doctor_factory):
    problem = PluginProblem(plugin="bad", distribution="bad-dist", stage="load", error="ImportError: x")
    text = doctor_factory().render(_report(_result(Status.PASS), problems=[problem]))
    assert (
        text.splitlines()[-1]
        == "Warning: plugin 'bad' (distribution bad-dist) failed at load: ImportError: x"
    )


def test_json_is_exactly_the_report_model(seed_plugin):
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


def test_junit_is_valid_xml_with_one_testcase_per_check(doctor_factory):
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
    assert cases["check.a.b"].find("failure").get("message") == "m"
    assert cases["check.a.c"].find("error") is not None
    assert cases["check.a.d"].find("skipped") is not None
    assert cases["check.a.e"].find("failure") is None
    assert cases["check.a.e"].find("system-out").text.startswith("WARN: m")
    assert all(case.get("classname") == "p" for case in cases.values())


def test_markdown_has_heading_table_and_recommendations(seed_plugin):
    doctor, report = _run(seed_plugin, "fallback")
    text = doctor.render(report, "markdown", title="Registry Checks Summary")
    assert text.startswith("# Registry Checks Summary\n")
    assert (
        "| `check.integration.oci.referrers` | WARN | Referrers API not supported (using fallback) |" in text
    )
    assert "## Recommendations" in text
    assert "**Overall: 3 passed, 1 warning, 1 info, 0 failures**" in text
