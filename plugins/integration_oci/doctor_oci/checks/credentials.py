"""check.integration.oci.credentials -- is the credential configuration usable, and does it work?

Order matters: configuration problems (no registry, a username without a password, a problem
the client found while resolving credentials) fail *before* any request. Then one ``GET /v2/``
(the client's shared ping, including the token exchange) decides.

Evidence: the seed's ``registry_url``, ``auth_method`` (basic | bearer | anonymous), ``username``,
``credentials_valid``, ``auth_challenge`` (the raw WWW-Authenticate, or null), plus
``credentials_source`` (where the credentials came from -- never the secret).
"""

from __future__ import annotations

from typing import Any

from doctor_core import CheckContext, CheckOutcome, Status
from doctor_oci.checks._common import NOT_CONFIGURED, Verdict, error_verdict, finish
from doctor_oci.checks.diagnosis import (
    INCOMPLETE_RECOMMENDATION,
    NOT_CONFIGURED_RECOMMENDATION,
    credential_problem_advice,
    failure_from_ping,
    fresh_evidence,
)
from doctor_oci.client import RegistryClient, RegistryError
from doctor_oci.registries import UNKNOWN, advice
from doctor_oci.runtime import registry_client, settings_of
from doctor_oci.settings import OciSettings


def _configured_method(settings: OciSettings) -> str:
    if settings.Token is not None:
        return "bearer"
    if settings.Username:
        return "basic"
    return "anonymous"


def _evidence(settings: OciSettings, client: RegistryClient | None) -> dict[str, Any]:
    if client is None:
        return {
            "registry_url": settings.RegistryUrl,
            "auth_method": _configured_method(settings),
            "username": settings.Username,
            "credentials_valid": False,
            "auth_challenge": None,
            "credentials_source": "config" if settings.Username or settings.Token else "none",
        }
    credentials = client.credentials
    return {
        "registry_url": client.base_url,
        "auth_method": credentials.method,
        "username": credentials.username,
        "credentials_valid": False,
        "auth_challenge": None,
        "credentials_source": credentials.source,
    }


async def run(ctx: CheckContext) -> CheckOutcome:
    """Validate credential configuration, then authenticate against ``/v2/``."""
    settings = settings_of(ctx)
    if not settings.RegistryUrl:
        return finish(
            ctx,
            None,
            settings,
            Verdict(
                Status.FAIL,
                NOT_CONFIGURED,
                _evidence(settings, None),
                advice("not_configured", UNKNOWN),
                (NOT_CONFIGURED_RECOMMENDATION,),
            ),
        )
    if settings.Username and settings.Token is None and settings.password() is None:
        return finish(
            ctx,
            None,
            settings,
            Verdict(
                Status.FAIL,
                f"Missing required credentials: OCI.Username {settings.Username!r} is set without a password",
                _evidence(settings, None),
                advice("credentials_incomplete", UNKNOWN),
                (INCOMPLETE_RECOMMENDATION,),
            ),
        )
    client = await registry_client(ctx)
    evidence = _evidence(settings, client)
    # The seed calls the token an alternative to username/password: with both, the client uses
    # the token, and the check says so (a warning) instead of refusing a configuration that works.
    both = client.credentials.token is not None and bool(settings.Username or settings.password())
    if client.credentials.problem and not both:
        return finish(
            ctx,
            client,
            settings,
            Verdict(
                Status.FAIL,
                f"Credential configuration problem: {client.credentials.problem}",
                evidence,
                *credential_problem_advice(client),
            ),
        )
    with client.metrics.label(ctx.definition.check_id):
        client.start_discovery()  # one /v2/ challenge for all checks (RegistryClient.start_discovery)
        try:
            verdict = await _authenticate(client, evidence)
        except RegistryError as exc:
            verdict = error_verdict(ctx, client, exc, evidence, doing="authenticating to")
        if both and verdict.status is Status.PASS:
            verdict = Verdict(
                Status.WARN,
                f"Token valid for {client.host}; OCI.Username/Password are ignored (both are configured, "
                "the Token is used)",
                verdict.evidence,
                (TOKEN_AND_PASSWORD_STEP,),
                (TOKEN_AND_PASSWORD_STEP,),
            )
        return finish(ctx, client, settings, verdict)


#: The one fix for a configuration with both a token and a username/password.
TOKEN_AND_PASSWORD_STEP = "Configure either OCI__Token or OCI__Username/OCI__Password, not both"


async def _authenticate(client: RegistryClient, evidence: dict[str, Any]) -> Verdict:
    ping = await client.ping()
    host = client.host
    evidence["auth_challenge"] = ping.challenge
    configured = client.credentials.method != "anonymous"
    if ping.status == 200:
        evidence["credentials_valid"] = True
        if not configured:
            # Nothing was verified: the registry accepted an anonymous client (with or without an
            # anonymous token). Whether anonymous may pull is the pull check's question.
            evidence["auth_method"] = "anonymous"
            message = f"Anonymous access accepted by {host} (no credentials configured)"
            return Verdict(Status.PASS, message, evidence)
        if ping.authenticated:
            evidence["auth_method"] = ping.auth_scheme or client.credentials.method
            return Verdict(Status.PASS, f"Credentials valid for {host}", evidence)
        evidence["auth_method"] = "anonymous"
        return Verdict(
            Status.PASS,
            f"Credentials not needed: {host} accepts anonymous access (the configured ones were not used)",
            evidence,
        )
    failure = failure_from_ping(client, ping)
    assert failure is not None
    if ping.status == 403:
        evidence["credentials_valid"] = True
    return Verdict(
        Status.FAIL,
        failure.message("credentials"),
        fresh_evidence(evidence, failure),
        failure.remediation,
        failure.recommendations,
        failure.cause,
    )
