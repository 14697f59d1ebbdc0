"""The two checks, run through the engine with the core's test kit (``run_check``).

The TLS check talks to real TLS servers on 127.0.0.1 (see ``conftest.py``); the DNS check asks
the machine's resolver about ``localhost`` and a name under ``.invalid``, which cannot exist.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from doctor_example_net import plugin
from tls_servers import ServerFactory

from doctor_core import CheckResult, Status
from doctor_core.testing import CheckRunner, assert_result

DNS = plugin.DNS_CHECK_ID
TLS = plugin.TLS_CHECK_ID


def net(**keys: Any) -> dict[str, Any]:
    """A configuration holding only the ``NET`` section."""
    return {"NET": keys}


def run(run_check: CheckRunner, check_id: str, **keys: Any) -> CheckResult:
    return run_check(check_id, net(**keys), plugins=[plugin])


def evidence_of(result: CheckResult, key: str) -> dict[str, Any]:
    """``result.evidence[key]``, a mapping in both checks' evidence (an evidence value may be any
    JSON value, so it is narrowed here; the test fails if it is not a mapping)."""
    value = result.evidence[key]
    assert isinstance(value, dict), (key, value)
    return value


# ------------------------------------------------------------------------------------------ DNS


def test_dns_passes_for_localhost_with_its_addresses(run_check: CheckRunner) -> None:
    result = run(run_check, DNS, Hosts=["localhost"])

    assert_result(result, status=Status.PASS, evidence={"unresolved": []})
    assert result.plugin
    hosts = evidence_of(result, "hosts")
    assert {"127.0.0.1", "::1"} & set(hosts["localhost"])


def test_dns_fails_naming_the_unresolvable_host(run_check: CheckRunner) -> None:
    result = run(run_check, DNS, Hosts=["localhost", "does-not-exist.invalid"], TimeoutSeconds=3)

    assert_result(result, status=Status.FAIL, message_contains="does-not-exist.invalid")
    assert result.evidence["unresolved"] == ["does-not-exist.invalid"]
    assert evidence_of(result, "hosts")["does-not-exist.invalid"] == []
    assert evidence_of(result, "hosts")["localhost"]
    assert evidence_of(result, "errors")["does-not-exist.invalid"]
    assert result.remediation


def test_dns_uses_the_default_hosts_when_unconfigured(run_check: CheckRunner) -> None:
    result = run_check(DNS, {}, plugins=[plugin])

    assert_result(result, status=Status.PASS)
    assert list(evidence_of(result, "hosts")) == ["localhost"]


def test_dns_skips_when_no_hosts_are_configured(run_check: CheckRunner) -> None:
    assert_result(run(run_check, DNS, Hosts=[]), status=Status.SKIP)


# ------------------------------------------------------------------------------------------ TLS


def endpoint_evidence(result: CheckResult, endpoint: str) -> dict[str, Any]:
    endpoints: dict[str, dict[str, Any]] = evidence_of(result, "endpoints")
    return endpoints[endpoint]


def test_tls_passes_for_a_certificate_valid_for_90_days(
    run_check: CheckRunner, tls_server: ServerFactory, ca_bundle: Path
) -> None:
    server = tls_server(timedelta(days=90))

    result = run(run_check, TLS, TlsEndpoints=[server.endpoint], CaBundle=str(ca_bundle))

    assert_result(result, status=Status.PASS, evidence={"warn_days": 21})
    seen = endpoint_evidence(result, server.endpoint)
    assert seen["days_left"] in (89, 90)
    assert seen["error"] is None
    assert "trustme" in seen["issuer"]
    assert seen["subject"]
    assert datetime.fromisoformat(seen["not_after"]).tzinfo is not None


def test_tls_warns_for_a_certificate_expiring_in_5_days(
    run_check: CheckRunner, tls_server: ServerFactory, ca_bundle: Path
) -> None:
    server = tls_server(timedelta(days=5))

    result = run(run_check, TLS, TlsEndpoints=[server.endpoint], CaBundle=str(ca_bundle))

    assert_result(result, status=Status.WARN, message_contains=server.endpoint)
    assert endpoint_evidence(result, server.endpoint)["days_left"] in (4, 5)
    assert result.remediation


def test_the_warning_threshold_is_configurable(
    run_check: CheckRunner, tls_server: ServerFactory, ca_bundle: Path
) -> None:
    server = tls_server(timedelta(days=5))

    result = run(run_check, TLS, TlsEndpoints=[server.endpoint], CaBundle=str(ca_bundle), ExpiryWarnDays=2)

    assert_result(result, status=Status.PASS, evidence={"warn_days": 2})


def test_tls_fails_for_an_expired_certificate(
    run_check: CheckRunner, tls_server: ServerFactory, ca_bundle: Path
) -> None:
    server = tls_server(timedelta(days=-1))

    result = run(run_check, TLS, TlsEndpoints=[server.endpoint], CaBundle=str(ca_bundle))

    assert_result(result, status=Status.FAIL, message_contains="certificate has expired")
    assert "expired" in endpoint_evidence(result, server.endpoint)["error"]
    assert any("renew" in step.lower() for step in result.remediation)


def test_tls_verifies_by_default_so_an_unknown_ca_fails(
    run_check: CheckRunner, tls_server: ServerFactory
) -> None:
    server = tls_server(timedelta(days=90))

    result = run(run_check, TLS, TlsEndpoints=[server.endpoint])

    assert_result(result, status=Status.FAIL, message_contains="certificate verify failed")
    assert any("CaBundle" in step for step in result.remediation)


def test_tls_fails_when_the_handshake_never_completes(
    run_check: CheckRunner, tls_server: ServerFactory, ca_bundle: Path
) -> None:
    silent = tls_server(handshake=False)

    result = run(run_check, TLS, TlsEndpoints=[silent.endpoint], CaBundle=str(ca_bundle), TimeoutSeconds=0.5)

    assert_result(result, status=Status.FAIL, message_contains="no TLS handshake within 0.5 s")


def test_the_worst_endpoint_decides_and_every_endpoint_has_evidence(
    run_check: CheckRunner, tls_server: ServerFactory, ca_bundle: Path
) -> None:
    good, soon = tls_server(timedelta(days=90)), tls_server(timedelta(days=5))
    refused = "127.0.0.1:1"

    endpoints = [good.endpoint, soon.endpoint, refused]

    result = run(run_check, TLS, TlsEndpoints=endpoints, CaBundle=str(ca_bundle))

    assert_result(result, status=Status.FAIL, message_contains=refused)
    assert set(evidence_of(result, "endpoints")) == {good.endpoint, soon.endpoint, refused}
    assert endpoint_evidence(result, refused)["days_left"] is None
    assert endpoint_evidence(result, soon.endpoint)["days_left"] in (4, 5)


def test_tls_skips_when_no_endpoints_are_configured(run_check: CheckRunner) -> None:
    assert_result(run(run_check, TLS), status=Status.SKIP)


@pytest.mark.parametrize("bad", [{"TlsEndpoints": ["no-port"]}, {"ExpiryWarnDays": "soon"}])
def test_a_bad_section_does_not_run_the_check(run_check: CheckRunner, bad: dict[str, Any]) -> None:
    from doctor_core import ConfigError

    with pytest.raises(ConfigError) as raised:
        run(run_check, TLS, **bad)

    assert "NET." in str(raised.value)


# ------------------------------------------------------------------------- per host (targets)


def test_per_host_gives_one_dns_result_per_host(doctor_factory: Any) -> None:
    config = net(Hosts=["localhost", "does-not-exist.invalid"], PerHost=True, TimeoutSeconds=3)
    report = doctor_factory(plugin, config=config).run(check_ids=[DNS])
    assert [(r.target, r.status) for r in report.results] == [
        ("localhost", Status.PASS),
        ("does-not-exist.invalid", Status.FAIL),
    ]
    assert list(report.result(DNS, "localhost").evidence["hosts"]) == ["localhost"]
    assert report.summary.overall is Status.FAIL  # the exit code covers every host


def test_per_host_target_selection_with_the_test_kit(run_check: CheckRunner) -> None:
    config = net(Hosts=["localhost", "does-not-exist.invalid"], PerHost=True)
    result = run_check(DNS, config, plugins=[plugin], target="localhost")
    assert_result(result, status=Status.PASS)
    assert result.target == "localhost"
