"""The renderer, on reports built from the public models, read back with an independent parser."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from doctor_example_prometheus.exposition import escape_label_value, format_value, render_prometheus
from exposition_parser import ExpositionError, parse_exposition

from doctor_core import CheckResult, RenderOptions, Report, Severity, Status, Summary


def result(
    check_id: str, status: Status, *, plugin: str = "example_net", duration_ms: int = 10
) -> CheckResult:
    return CheckResult(
        check_id=check_id,
        name=check_id.rsplit(".", 1)[-1].title(),
        plugin=plugin,
        tags=("example",),
        default_severity=Severity.FAIL,
        status=status,
        message=f"{check_id} is {status.value}",
        duration_ms=duration_ms,
    )


def report(*results: CheckResult, duration_ms: int = 1234) -> Report:
    return Report(
        started_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        duration_ms=duration_ms,
        summary=Summary.of(list(results)),
        results=results,
    )


SAMPLE = report(
    result("check.example.dns.resolve", Status.PASS, duration_ms=42),
    result("check.example.tls.expiry", Status.WARN, duration_ms=1500),
    result("check.integration.oci.pull", Status.FAIL, plugin="integration_oci", duration_ms=7),
)


def test_every_family_has_help_and_type_and_the_text_is_well_formed() -> None:
    families = parse_exposition(render_prometheus(SAMPLE, RenderOptions()))

    assert list(families) == [
        "doctor_check_status",
        "doctor_check_duration_seconds",
        "doctor_checks_total",
        "doctor_run_duration_seconds",
    ]
    for family in families.values():
        assert family.type == "gauge"
        assert family.help


def test_status_is_one_hot_over_every_status() -> None:
    families = parse_exposition(render_prometheus(SAMPLE, RenderOptions()))
    by_check: dict[str, dict[str, float]] = {}
    for sample in families["doctor_check_status"].samples:
        by_check.setdefault(sample.labels["check_id"], {})[sample.labels["status"]] = sample.value

    assert by_check["check.example.tls.expiry"] == {
        "pass": 0,
        "info": 0,
        "warn": 1,
        "fail": 0,
        "error": 0,
        "skip": 0,
    }
    assert {check: sum(values.values()) for check, values in by_check.items()} == {
        "check.example.dns.resolve": 1,
        "check.example.tls.expiry": 1,
        "check.integration.oci.pull": 1,
    }
    oci = [s for s in families["doctor_check_status"].samples if s.labels["check_id"].startswith("check.int")]
    assert {s.labels["plugin"] for s in oci} == {"integration_oci"}


def test_durations_are_seconds() -> None:
    families = parse_exposition(render_prometheus(SAMPLE, RenderOptions()))

    durations = {s.labels["check_id"]: s.value for s in families["doctor_check_duration_seconds"].samples}
    assert durations == {
        "check.example.dns.resolve": 0.042,
        "check.example.tls.expiry": 1.5,
        "check.integration.oci.pull": 0.007,
    }
    (run,) = families["doctor_run_duration_seconds"].samples
    assert run.labels == {}
    assert run.value == 1.234


def test_totals_count_checks_per_status_including_zeroes() -> None:
    families = parse_exposition(render_prometheus(SAMPLE, RenderOptions()))

    totals = {s.labels["status"]: s.value for s in families["doctor_checks_total"].samples}
    assert totals == {"pass": 1, "info": 0, "warn": 1, "fail": 1, "error": 0, "skip": 0}


def test_an_empty_report_still_has_every_family_and_zero_totals() -> None:
    text = render_prometheus(report(duration_ms=0), RenderOptions())
    families = parse_exposition(text)

    assert families["doctor_check_status"].samples == []
    assert {s.value for s in families["doctor_checks_total"].samples} == {0}
    assert families["doctor_run_duration_seconds"].samples[0].value == 0


def test_rendering_ignores_verbosity_and_colour() -> None:
    plain = render_prometheus(SAMPLE, RenderOptions())

    assert render_prometheus(SAMPLE, RenderOptions(verbose=True, color=True, title="x")) == plain
    assert "\x1b[" not in plain


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ('say "hi"', 'say \\"hi\\"'),
        ("C:\\path", "C:\\\\path"),
        ("two\nlines", "two\\nlines"),
        ('\\"\n', '\\\\\\"\\n'),
    ],
)
def test_label_values_escape_backslash_quote_and_newline(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


def test_hostile_plugin_names_round_trip_through_a_strict_parser() -> None:
    hostile = 'evil"plugin\\with\nnewline} 1\ndoctor_fake 2'
    text = render_prometheus(report(result("check.example.x", Status.ERROR, plugin=hostile)), RenderOptions())
    families = parse_exposition(text)

    assert {s.labels["plugin"] for s in families["doctor_check_status"].samples} == {hostile}
    assert "doctor_fake" not in families
    assert all(line.startswith(("#", "doctor_")) for line in text.splitlines())


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (0.0, "0"),
        (0.25, "0.25"),
        (float("nan"), "NaN"),
        (float("inf"), "+Inf"),
        (-float("inf"), "-Inf"),
    ],
)
def test_values_use_the_format_spelling(value: float, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    "bad",
    [
        "metric 1",  # no final newline
        'metric{a="x\\t"} 1\n',  # unknown escape
        "metric 1\n# TYPE metric gauge\n",  # TYPE after samples
        "a 1\nb 1\na 2\n",  # family split in two
        'a{x="1"} 1\na{x="1"} 2\n',  # duplicate series
        "a{x=1} 1\n",  # unquoted label value
    ],
)
def test_the_parser_rejects_malformed_text(bad: str) -> None:
    with pytest.raises(ExpositionError):
        parse_exposition(bad)
