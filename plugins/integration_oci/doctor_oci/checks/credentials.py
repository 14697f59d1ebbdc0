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
from doctor_oci.checks._common import NOT_CONFIGURED, Verdict, error_verdict, finish, status_text
from doctor_oci.client import RegistryClient, RegistryError
from doctor_oci.registries import UNKNOWN, advice, recommendations
from doctor_oci.runtime import registry_client, registry_profile, settings_of
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
                Status.FAIL, NOT_CONFIGURED, _evidence(settings, None), advice("not_configured", UNKNOWN)
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
            ),
        )
    client = await registry_client(ctx)
    evidence = _evidence(settings, client)
    if client.credentials.problem:
        return finish(
            ctx,
            client,
            settings,
            Verdict(
                Status.FAIL,
                f"Credential configuration problem: {client.credentials.problem}",
                evidence,
                advice("credentials_incomplete", registry_profile(client)),
            ),
        )
    with client.metrics.label(ctx.definition.check_id):
        client.start_discovery()  # one /v2/ challenge for all checks (RegistryClient.start_discovery)
        try:
            verdict = await _authenticate(client, evidence)
        except RegistryError as exc:
            verdict = error_verdict(ctx, client, exc, evidence, doing="authenticating to")
        return finish(ctx, client, settings, verdict)


async def _authenticate(client: RegistryClient, evidence: dict[str, Any]) -> Verdict:
    ping = await client.ping()
    profile = registry_profile(client)
    host = client.host
    evidence["auth_challenge"] = ping.challenge
    configured = client.credentials.method != "anonymous"
    if ping.status == 200:
        evidence["credentials_valid"] = True
        if ping.authenticated:
            evidence["auth_method"] = ping.auth_scheme or client.credentials.method
            return Verdict(Status.PASS, f"Credentials valid for {host}", evidence)
        evidence["auth_method"] = "anonymous"
        note = (
            "the registry asked for no credentials, so the configured ones were not used"
            if configured
            else "anonymous access; no credentials configured or needed"
        )
        return Verdict(Status.PASS, f"Credentials valid for {host} ({note})", evidence)
    if ping.error is not None and ping.status not in (401, 403):
        return error_verdict_for_ping(client, ping.error, evidence)
    if ping.status == 401:
        code = ping.error.code if ping.error is not None else None
        if not configured:
            return Verdict(
                Status.FAIL,
                f"{host} requires authentication ({status_text(401, code)}) "
                "and no credentials are configured",
                evidence,
                advice("auth_required", profile, host=host),
            )
        return Verdict(
            Status.FAIL,
            f"Invalid credentials ({status_text(401, code)}) for {host}",
            evidence,
            advice("invalid_credentials", profile, host=host),
        )
    if ping.status == 403:
        evidence["credentials_valid"] = True
        return Verdict(
            Status.FAIL,
            f"Access to {host} forbidden (403): the credentials are accepted but lack permission",
            evidence,
            advice("no_permission", profile, host=host),
        )
    if ping.status == 404:
        return Verdict(
            Status.FAIL,
            f"{host} does not implement the OCI distribution API: GET /v2/ answered 404",
            evidence,
            advice("unexpected_response", profile, host=host, status=404),
        )
    return Verdict(
        Status.FAIL,
        f"Unexpected answer from {host}: GET /v2/ answered {ping.status}",
        evidence,
        advice("unexpected_response", profile, host=host, status=ping.status),
    )


def error_verdict_for_ping(client: RegistryClient, exc: RegistryError, evidence: dict[str, Any]) -> Verdict:
    """A stored ping error that is not 401/403 (rate limit, server error) as a failing verdict."""
    profile = registry_profile(client)
    code = status_text(exc.status, exc.code)
    if exc.status == 429:
        return Verdict(
            Status.FAIL,
            f"Rate limited by {client.host} while authenticating ({code})",
            evidence,
            advice("rate_limited", profile, host=client.host, retry_after=getattr(exc, "retry_after", None)),
            recommendations("rate_limited", profile),
        )
    return Verdict(
        Status.FAIL,
        f"Authentication against {client.host} failed ({code}): {exc}",
        evidence,
        advice("unexpected_response", profile, host=client.host, status=code),
    )
