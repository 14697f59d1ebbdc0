"""The two checks: probe the network, then turn what was seen into a verdict.

A check is ``async def check(ctx: CheckContext) -> CheckOutcome``. It never prints and never
raises for a problem it diagnosed: the problem *is* the outcome (status, message, evidence,
remediation). The engine adds timing, applies the overall timeout and redaction, and turns an
unexpected exception into an ``error`` result, so checks do not need a catch-all.

Evidence keys are this plugin's contract with scripts reading ``doctor --format json``:

* ``check.example.dns.resolve``: ``hosts`` (host -> addresses, empty when unresolved),
  ``unresolved`` (hosts without an address), ``errors`` (host -> resolver's reason).
* ``check.example.tls.expiry``: ``endpoints`` ("host:port" -> ``not_after`` (ISO 8601),
  ``days_left``, ``subject``, ``issuer``, ``error``), ``warn_days``.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from doctor_core import CheckContext, CheckOutcome, Status
from doctor_example_net.probes import CertificateInfo, ProbeError, fetch_certificate, resolve, tls_context
from doctor_example_net.settings import Endpoint, NetSettings


def _settings(config: Any) -> NetSettings:
    """The validated section the engine passes; defaults when run without configuration."""
    if isinstance(config, NetSettings):
        return config
    return NetSettings.model_validate(config or {})


def _probe_timeout(settings: NetSettings, ctx: CheckContext) -> float:
    """Each probe's time limit: ``NET.TimeoutSeconds``, but inside the engine's limit for the check.

    The probes run concurrently, so a check takes about one probe's time. Staying under the
    engine's timeout means a slow host is reported *by name* instead of the whole check ending
    as "timed out".
    """
    return min(settings.TimeoutSeconds, ctx.timeout_s * 0.8)


async def check_dns_resolve(ctx: CheckContext) -> CheckOutcome:
    """Resolve every host in ``NET.Hosts`` concurrently; fail when any does not resolve."""
    settings = _settings(ctx.config)
    if not settings.Hosts:
        return CheckOutcome(status=Status.SKIP, message="No hosts configured (NET.Hosts is empty)")

    timeout_s = _probe_timeout(settings, ctx)

    async def lookup(host: str) -> tuple[str, list[str], str | None]:
        try:
            return host, await resolve(host, timeout_s), None
        except ProbeError as exc:
            return host, [], str(exc)

    answers = await asyncio.gather(*(lookup(host) for host in dict.fromkeys(settings.Hosts)))
    hosts = {host: addresses for host, addresses, _ in answers}
    errors = {host: error for host, _, error in answers if error is not None}
    ctx.log.debug("dns lookups done", hosts=hosts, errors=errors)
    evidence: dict[str, Any] = {"hosts": hosts, "unresolved": list(errors), "errors": errors}

    if not errors:
        return CheckOutcome(
            status=Status.PASS,
            message=f"All {len(hosts)} host(s) resolve",
            evidence=evidence,
        )
    named = ", ".join(f"{host} ({reason})" for host, reason in errors.items())
    return CheckOutcome(
        status=Status.FAIL,
        message=f"{len(errors)} of {len(hosts)} host(s) do not resolve: {named}",
        evidence=evidence,
        remediation=(
            "Check the spelling of each name in NET.Hosts",
            "Check the resolver configuration this machine uses (/etc/resolv.conf, /etc/hosts)",
            "Ask the resolver directly, e.g. 'getent hosts <name>' or 'dig <name>'",
            "If the resolver is slow rather than wrong, raise NET.TimeoutSeconds",
        ),
    )


async def check_tls_expiry(ctx: CheckContext) -> CheckOutcome:
    """Inspect the certificate of every ``NET.TlsEndpoints`` entry concurrently.

    Per endpoint: fail when the handshake fails (which includes an expired certificate, since
    verification rejects it) or the certificate has expired; warn when it expires within
    ``NET.ExpiryWarnDays``; pass otherwise. The check's status is the worst of them.
    """
    settings = _settings(ctx.config)
    endpoints = settings.endpoints()
    if not endpoints:
        return CheckOutcome(
            status=Status.SKIP, message="No TLS endpoints configured (NET.TlsEndpoints is empty)"
        )
    try:
        context = tls_context(settings.CaBundle)
    except ProbeError as exc:
        return CheckOutcome(
            status=Status.FAIL,
            message=str(exc),
            evidence={"endpoints": {}, "warn_days": settings.ExpiryWarnDays},
            remediation=("Point NET.CaBundle at a readable PEM file of CA certificates",),
        )

    now = datetime.now(UTC)
    timeout_s = _probe_timeout(settings, ctx)
    verdicts = await asyncio.gather(
        *(_inspect(endpoint, context, timeout_s, settings.ExpiryWarnDays, now) for endpoint in endpoints)
    )
    paired = list(zip(endpoints, verdicts, strict=True))
    evidence_per_endpoint = {str(endpoint): verdict.evidence for endpoint, verdict in paired}
    evidence: dict[str, Any] = {"endpoints": evidence_per_endpoint, "warn_days": settings.ExpiryWarnDays}
    ctx.log.debug("tls endpoints inspected", endpoints=evidence_per_endpoint)

    failed = [(endpoint, verdict) for endpoint, verdict in paired if verdict.status is Status.FAIL]
    if failed:
        return CheckOutcome(
            status=Status.FAIL,
            message="; ".join(f"{endpoint}: {verdict.problem}" for endpoint, verdict in failed),
            evidence=evidence,
            remediation=(
                "Connect by hand to see what a client sees: "
                "'openssl s_client -connect <host>:<port> -servername <host>'",
                "If the certificate has expired, renew it and reload the server",
                "If the server uses a private CA, set NET.CaBundle to a PEM file containing it",
                "If the host name does not match, use the name the certificate was issued for",
            ),
        )
    expiring = [(endpoint, verdict) for endpoint, verdict in paired if verdict.status is Status.WARN]
    if expiring:
        return CheckOutcome(
            status=Status.WARN,
            message="; ".join(f"{endpoint}: {verdict.problem}" for endpoint, verdict in expiring),
            evidence=evidence,
            remediation=(
                "Renew the certificate(s) before they expire and reload the server(s)",
                "Automate renewal (for example with an ACME client) so this does not recur",
            ),
        )
    soonest = min(v.days_left for v in verdicts if v.days_left is not None)
    return CheckOutcome(
        status=Status.PASS,
        message=f"All {len(endpoints)} certificate(s) valid for at least {soonest} more days",
        evidence=evidence,
    )


@dataclass(frozen=True)
class EndpointVerdict:
    """One endpoint's status, the reason when it is not ``pass``, and its evidence."""

    status: Status
    problem: str
    evidence: dict[str, Any]
    days_left: int | None


async def _inspect(
    endpoint: Endpoint, context: ssl.SSLContext, timeout_s: float, warn_days: int, now: datetime
) -> EndpointVerdict:
    try:
        cert = await fetch_certificate(endpoint, context, timeout_s)
    except ProbeError as exc:
        evidence = {"not_after": None, "days_left": None, "subject": None, "issuer": None, "error": str(exc)}
        return EndpointVerdict(Status.FAIL, str(exc), evidence, None)
    return judge_certificate(cert, now, warn_days=warn_days)


def judge_certificate(cert: CertificateInfo, now: datetime, *, warn_days: int) -> EndpointVerdict:
    """The verdict on one verified certificate, seen at ``now``: a pure function of its dates."""
    days_left = math.floor((cert.not_after - now).total_seconds() / 86400)
    evidence = {
        "not_after": cert.not_after.isoformat(),
        "days_left": days_left,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "error": None,
    }
    expiry = cert.not_after.strftime("%Y-%m-%d")
    if cert.not_after <= now:
        return EndpointVerdict(Status.FAIL, f"certificate expired on {expiry}", evidence, days_left)
    if days_left < warn_days:
        return EndpointVerdict(
            Status.WARN, f"certificate expires in {days_left} day(s), on {expiry}", evidence, days_left
        )
    return EndpointVerdict(Status.PASS, "", evidence, days_left)
