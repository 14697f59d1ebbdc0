"""The verdict on one certificate is a pure function of its dates: tested without a network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from doctor_example_net.checks import judge_certificate
from doctor_example_net.probes import CertificateInfo

from doctor_core import Status

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def cert(valid_for: timedelta) -> CertificateInfo:
    return CertificateInfo(not_after=NOW + valid_for, subject="CN=example.test", issuer="CN=Test CA")


@pytest.mark.parametrize(
    ("valid_for", "status", "days_left"),
    [
        (timedelta(days=90), Status.PASS, 90),
        (timedelta(days=21), Status.PASS, 21),
        (timedelta(days=20, hours=23), Status.WARN, 20),
        (timedelta(hours=1), Status.WARN, 0),
        (timedelta(0), Status.FAIL, 0),
        (timedelta(days=-3), Status.FAIL, -3),
    ],
)
def test_status_follows_the_days_left(valid_for: timedelta, status: Status, days_left: int) -> None:
    verdict = judge_certificate(cert(valid_for), NOW, warn_days=21)

    assert verdict.status is status
    assert verdict.days_left == days_left
    assert verdict.evidence["days_left"] == days_left


def test_evidence_holds_the_dates_and_names() -> None:
    verdict = judge_certificate(cert(timedelta(days=5)), NOW, warn_days=21)

    assert verdict.evidence == {
        "not_after": "2025-06-06T12:00:00+00:00",
        "days_left": 5,
        "subject": "CN=example.test",
        "issuer": "CN=Test CA",
        "error": None,
    }
    assert verdict.problem == "certificate expires in 5 day(s), on 2025-06-06"


def test_an_expired_certificate_says_when_it_expired() -> None:
    verdict = judge_certificate(cert(timedelta(days=-3)), NOW, warn_days=21)

    assert verdict.problem == "certificate expired on 2025-05-29"
