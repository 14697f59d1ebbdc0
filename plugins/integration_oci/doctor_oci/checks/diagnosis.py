"""The shared diagnosis: what kept the registry from answering, named once, identically in every check.

A check establishes one fact (credentials accepted, pull allowed, ...). When access itself failed
-- the registry unreachable, the credentials rejected, the token service broken -- no check can
establish its fact, whatever its default severity: each reports ``fail`` (the rule where the seed
is silent; a ``warn``/``info`` default grades the registry's *answers*, and none came), with

* a short message: the check's consequence plus the cause in a few words
  ("Cannot verify pull: registry unreachable (connection refused)");
* the same :class:`~doctor_core.models.Cause` in every check that failed for that reason (same
  ``key``, ``summary`` and ``remediation``), so the report states it once;
* the remediation and the report-level recommendations of the cause (the seed's "Remediation
  Steps" wording where it has one), never advice about the registry's features.

:func:`failure_from_error` maps a client error by its base class (so new subclasses land in a
sensible row); :func:`failure_from_ping` maps a ``GET /v2/`` that did not answer 200;
:func:`failure_from_refusal` maps a 401/403 on a repository after ``/v2/`` answered 200. Each
returns ``None`` when the fault is the check's own business (a permission refusal, a missing
repository), which the check judges itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from doctor_core import Cause
from doctor_oci.client import (
    AuthenticationError,
    ConnectError,
    CredentialRedirectRefused,
    InsecureTransportRefused,
    NotFound,
    PermissionDenied,
    PingResult,
    ProtocolError,
    RateLimited,
    RedirectedToAnotherHost,
    RegistryClient,
    RegistryError,
    RegistryTimeout,
    TLSError,
    TokenServiceError,
    Unsupported,
)
from doctor_oci.registries import advice, recommendations, v2_url
from doctor_oci.runtime import registry_profile

CheckName = Literal["credentials", "pull", "push", "referrers", "capabilities"]

#: What a check could not do, the first words of its message when access failed.
CONSEQUENCE: Mapping[str, str] = {
    "credentials": "Cannot verify credentials",
    "pull": "Cannot verify pull",
    "push": "Cannot verify push",
    "referrers": "Cannot probe the referrers API",
    "capabilities": "Cannot probe capabilities",
}

#: Causes that are about who we are: pull and push are then "not authorized" (a fact, not a doubt).
_IDENTITY = frozenset(
    {
        "credentials-rejected",
        "credentials-incomplete",
        "credentials-unusable",
        "no-credentials",
        "anonymous-refused",
    }
)

#: Causes after which the push check knows the credentials were not accepted.
_CREDENTIALS_INVALID = frozenset(
    {"credentials-rejected", "credentials-incomplete", "credentials-unusable", "no-credentials"}
)


@dataclass(frozen=True, eq=False, repr=False)  # internal: never compared or printed
class AccessFailure:
    """One root cause that kept a check from establishing its fact.

    ``kind`` is the stable name of the cause (the diagnosis table's rows use it); ``short`` the few
    words a check's message ends with; ``status`` the HTTP status behind it, if any.
    """

    kind: str
    host: str
    short: str
    summary: str
    remediation: tuple[str, ...]
    recommendations: tuple[str, ...] = ()
    status: int | None = None

    @property
    def cause(self) -> Cause:
        """The cause as the report carries it: identical for every check that failed for it."""
        return Cause(key=f"oci.{self.kind}:{self.host}", summary=self.summary, remediation=self.remediation)

    @property
    def credentials_valid(self) -> bool | None:
        """What the cause says about the credentials: false when rejected or missing, else unknown."""
        return False if self.kind in _CREDENTIALS_INVALID else None

    def message(self, check: str) -> str:
        """The check's short message for this cause."""
        if check == "credentials" and self.kind == "credentials-rejected":
            return f"I{self.short[1:]} for {self.host}"
        if check == "credentials" and self.kind == "no-credentials":
            return f"{self.host} requires authentication (401) and no credentials are configured"
        if check == "credentials" and self.kind == "forbidden":
            return f"Access to {self.host} forbidden (403): the credentials are accepted but lack permission"
        if check in ("pull", "push") and self.kind in _IDENTITY:
            return f"{check.capitalize()} not authorized: {self.short}"
        return f"{CONSEQUENCE[check]}: {self.short}"


def _code(exc: RegistryError) -> str:
    if exc.status is None:
        return exc.code or "no HTTP status"
    return f"{exc.status} {exc.code}" if exc.code else str(exc.status)


def _unreachable(
    client: RegistryClient, kind: str, words: str, exc: RegistryError, reason: str
) -> AccessFailure:
    host = client.host
    profile = registry_profile(client)
    if kind == "tls":
        steps = advice("tls", profile, host=host)
        recs = recommendations("tls", profile)
    else:
        steps = advice("network", profile, host=host, reason=reason, url=client.base_url)
        recs = (
            f"Network: verify network connectivity to {host}: curl -v {v2_url({'url': client.base_url})}",
        )
    return AccessFailure(
        kind=kind,
        host=host,
        short=f"registry unreachable ({words})",
        summary=f"{host} could not be reached: {exc.message}",
        remediation=steps,
        recommendations=recs,
    )


#: The report line for a username without a password (the credentials check and the others alike).
INCOMPLETE_RECOMMENDATION = (
    "Complete the credentials: a password for OCI__Username (OCI__PasswordSecretRef), or OCI__Token"
)

#: The report line when credentials from the docker config or a credential helper cannot be used.
DOCKER_CONFIG_RECOMMENDATION = (
    "Docker config: fix the entry or helper doctor read ('docker login <registry>'), or set "
    "OCI__Username with OCI__PasswordSecretRef, or OCI__Token"
)


def _problem_in_configuration(client: RegistryClient) -> bool:
    """Whether ``client.credentials.problem`` is one of the ``OCI`` keys (else of the docker config,
    its credential helper or the containers auth file): where the user fixes it."""
    return client.credentials.source.startswith("config")


def credential_problem_advice(client: RegistryClient) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Remediation and report line for ``client.credentials.problem``, by where it came from.

    A problem of the ``OCI`` keys (a username without a password, or the reverse) is fixed in the
    configuration; one of the docker config, its credential helper or the containers auth file is
    fixed there -- telling that user to add a password for OCI__Username would not fit the cause.
    """
    profile = registry_profile(client)
    if _problem_in_configuration(client):
        return advice("credentials_incomplete", profile), (INCOMPLETE_RECOMMENDATION,)
    return advice("docker_config_unusable", profile, host=client.host), (DOCKER_CONFIG_RECOMMENDATION,)


#: The report line when no registry is configured.
NOT_CONFIGURED_RECOMMENDATION = "Set OCI__RegistryUrl to the registry to check"


def credentials_recommendation(host: str) -> tuple[str, ...]:
    """The report line for rejected credentials (the seed's "Invalid Credentials (401)" steps, short)."""
    return (
        f"Invalid credentials (401) for {host}: verify username and password are correct and not expired",
    )


def _no_credentials(
    client: RegistryClient, status: int | None, *, anonymous_v2: bool, what: str
) -> AccessFailure:
    if client.credentials.problem:
        # Anonymous because the credentials found could not be used: that is the cause, not
        # "no credentials configured" (a broken docker config entry, a password without a user).
        return _credential_problem(client)
    host = client.host
    profile = registry_profile(client)
    if anonymous_v2:
        return AccessFailure(
            kind="anonymous-refused",
            host=host,
            short=f"anonymous access refused ({status})",
            summary=f"{host} accepts anonymous requests at /v2/ but refused anonymous access to {what} "
            f"({status}); no credentials are configured",
            remediation=advice("auth_required", profile, host=host),
            recommendations=(
                f"Configure credentials for {host}: OCI__Username with OCI__PasswordSecretRef, or OCI__Token",
            ),
            status=status,
        )
    return AccessFailure(
        kind="no-credentials",
        host=host,
        short="no credentials configured (401)",
        summary=f"{host} requires authentication (401) and no credentials are configured "
        "(none in the configuration, the docker config or a credential helper)",
        remediation=advice("auth_required", profile, host=host),
        recommendations=(
            f"Configure credentials for {host}: OCI__Username with OCI__PasswordSecretRef, or OCI__Token",
        ),
        status=401,
    )


def _token_broken(client: RegistryClient, exc: RegistryError) -> AccessFailure:
    host = client.host
    return AccessFailure(
        kind="token-service-broken",
        host=host,
        short="token service broken (invalid answer)",
        summary=f"The token service of {host} gave no usable token: {exc.message}",
        remediation=(
            "The registry's token service (the realm of its Bearer challenge) answered something that is "
            "not a token: check that service and its logs.",
            f"Verify the realm it advertises: curl -sI https://{host}/v2/ (WWW-Authenticate)",
        ),
        recommendations=(f"The token service of {host} is broken: check its logs and configuration",),
        status=exc.status,
    )


def _anonymous(client: RegistryClient) -> bool:
    return client.credentials.method == "anonymous"


def _credential_problem(client: RegistryClient) -> AccessFailure:
    """401, and the credentials doctor resolved say why they could not be used
    (``client.credentials.problem``): incomplete ``OCI`` keys, or an unusable docker config entry
    or credential helper. Whatever else the request looked like, that is the cause to fix."""
    host = client.host
    problem = client.credentials.problem
    steps, recs = credential_problem_advice(client)
    if _problem_in_configuration(client):
        kind, short, why = (
            "credentials-incomplete",
            "credentials incomplete",
            "the configured credentials are incomplete",
        )
    else:
        kind, short, why = (
            "credentials-unusable",
            "docker credentials unusable",
            "the credentials found for it cannot be used",
        )
    return AccessFailure(
        kind=kind,
        host=host,
        short=f"{short} (401)",
        summary=f"{host} requires authentication (401) and {why}: {problem}",
        remediation=steps,
        recommendations=recs,
        status=401,
    )


def _rejected(client: RegistryClient, exc: RegistryError) -> AccessFailure:
    """401 for the configured credentials: rejected, or -- when the configuration says so -- not
    usable (:func:`_credential_problem`)."""
    host = client.host
    profile = registry_profile(client)
    if client.credentials.problem and client.credentials.token is None:
        return _credential_problem(client)
    return AccessFailure(
        kind="credentials-rejected",
        host=host,
        short=f"invalid credentials ({_code(exc)})",
        summary=f"{host}: {exc.message}",
        remediation=advice("invalid_credentials", profile, host=host),
        recommendations=credentials_recommendation(host),
        status=exc.status,
    )


def failure_from_error(client: RegistryClient, exc: RegistryError) -> AccessFailure | None:
    """The access failure a client error stands for; ``None`` for a check-specific error."""
    host = client.host
    profile = registry_profile(client)
    if isinstance(exc, TLSError):
        return _unreachable(client, "tls", "TLS certificate not verified", exc, "other")
    if isinstance(exc, RegistryTimeout):
        return _unreachable(client, "timeout", "timed out", exc, "timeout")
    if isinstance(exc, ConnectError):
        reason = getattr(exc, "reason", "other")
        words = {
            "dns": "host name does not resolve",
            "refused": "connection refused",
            "reset": "connection reset",
        }
        kind = reason if reason in words else "connect"
        return _unreachable(client, kind, words.get(reason, "connection failed"), exc, reason)
    if isinstance(exc, CredentialRedirectRefused):
        return AccessFailure(
            kind="credential-redirect-refused",
            host=host,
            short="credentials not sent to another origin (redirect)",
            summary=f"Credentials for {host} were not sent: {exc.message}",
            remediation=(
                f"A request carrying credentials for {host} was redirected to {exc.target}; doctor "
                "never sends credentials to another origin (nor from https to http).",
                "Check the token service and any proxy in front of it: the realm in the registry's "
                "WWW-Authenticate challenge should answer itself, without redirecting elsewhere.",
            ),
            recommendations=(
                f"The token service of {host} redirects credential requests to another origin: "
                "fix its realm or proxy",
            ),
        )
    if isinstance(exc, InsecureTransportRefused):
        return AccessFailure(
            kind="insecure-refused",
            host=host,
            short="credentials not sent over plain http",
            summary=f"Credentials for {host} were not sent: {exc.message}",
            remediation=(
                "Use https:// in OCI__RegistryUrl, or set OCI__Insecure=true only for a registry on a "
                "trusted network (not recommended for production).",
            ),
            recommendations=("Use https:// for registries that need credentials",),
        )
    if isinstance(exc, RateLimited):
        return AccessFailure(
            kind="rate-limited",
            host=host,
            short=f"rate limited ({_code(exc)})",
            summary=f"{host} rate-limited the requests ({_code(exc)}): {exc.message}",
            remediation=advice(
                "rate_limited", profile, host=host, retry_after=getattr(exc, "retry_after", None)
            ),
            recommendations=recommendations("rate_limited", profile),
            status=exc.status,
        )
    if isinstance(exc, PermissionDenied):
        return None
    if isinstance(exc, AuthenticationError):
        if _anonymous(client):
            return _no_credentials(client, exc.status, anonymous_v2=False, what="the registry")
        return _rejected(client, exc)
    if isinstance(exc, RedirectedToAnotherHost):
        return AccessFailure(
            kind="redirected-foreign",
            host=host,
            short=f"redirected to another host ({exc.host}), credentials not forwarded",
            summary=f"{host} redirected a request to {exc.host}, which answered {_code(exc)}: "
            f"credentials are never sent to another host ({exc.message})",
            remediation=advice(
                "unexpected_response", profile, host=host, status=_code(exc), url=client.base_url
            ),
            recommendations=(f"{host} redirects to another host: check its storage/proxy configuration",),
            status=exc.status,
        )
    if isinstance(exc, TokenServiceError) or (isinstance(exc, ProtocolError) and exc.status == 401):
        # A 401 the client could not answer because the token service's reply was unusable.
        return _token_broken(client, exc)
    if isinstance(exc, (NotFound, Unsupported)):
        return None
    if exc.status is not None and exc.status >= 500:
        return _server_error(client, exc.status, exc)
    return None


def _server_error(client: RegistryClient, status: int, exc: RegistryError | None) -> AccessFailure:
    host = client.host
    detail = f": {exc.message}" if exc is not None else ""
    return AccessFailure(
        kind="server-error",
        host=host,
        short=f"registry error ({status})",
        summary=f"{host} answered {status}{detail}",
        remediation=advice(
            "unexpected_response", registry_profile(client), host=host, status=status, url=client.base_url
        ),
        recommendations=(f"{host} answers {status}: check the registry's logs and status page",),
        status=status,
    )


def plain_http_to_tls(client: RegistryClient, status: int | None) -> bool:
    """A 400 to plain http on ``/v2/``: the port speaks TLS (Go answers "HTTP request to an HTTPS server")."""
    return status == 400 and client.base_url.startswith("http://")


def failure_from_ping(client: RegistryClient, ping: PingResult) -> AccessFailure | None:
    """The access failure a ``GET /v2/`` that did not answer 200 stands for (``None`` for 200)."""
    if ping.status == 200:
        return None
    host = client.host
    profile = registry_profile(client)
    if plain_http_to_tls(client, ping.status):
        https = "https://" + client.base_url.removeprefix("http://")
        return AccessFailure(
            kind="plain-http-to-tls",
            host=host,
            short="plain http sent to a TLS port (400)",
            summary=f"{host} answered 400 to plain http: the port speaks TLS (use {https})",
            remediation=(
                f"Use https:// in OCI__RegistryUrl: OCI__RegistryUrl={https}",
                "If the certificate is private, add OCI__CaBundle=/path/to/ca.pem",
            ),
            recommendations=(f"Use https:// for {host}: the port speaks TLS",),
            status=400,
        )
    if ping.error is not None:
        failure = failure_from_error(client, ping.error)
        if failure is not None:
            return failure
    if ping.status == 401:
        if _anonymous(client):
            return _no_credentials(client, 401, anonymous_v2=False, what="the registry")
        if ping.error is not None and isinstance(ping.error, ProtocolError):
            return _token_broken(client, ping.error)
        return _rejected(
            client, ping.error or AuthenticationError("the registry rejected the credentials", status=401)
        )
    if ping.status == 403:
        return AccessFailure(
            kind="forbidden",
            host=host,
            short="access forbidden (403)",
            summary=f"{host} accepted the credentials but forbids access to /v2/ (403)",
            remediation=advice("no_permission", profile, host=host),
            recommendations=("No permission (403): verify the service account has required permissions",),
            status=403,
        )
    if ping.status == 404:
        return AccessFailure(
            kind="not-a-registry",
            host=host,
            short="not an OCI registry (GET /v2/ answered 404)",
            summary=f"{host} does not implement the OCI distribution API: GET /v2/ answered 404",
            remediation=(
                "Check OCI__RegistryUrl: it must be the registry's root (https://host[:port]), not a "
                "web page or a repository path.",
                f"Verify: curl -v {v2_url({'host': host, 'url': client.base_url})} should answer 200 or 401",
            ),
            recommendations=(f"OCI__RegistryUrl does not point at a registry ({host})",),
            status=404,
        )
    if ping.status >= 500:
        return _server_error(client, ping.status, ping.error)
    return AccessFailure(
        kind="unexpected",
        host=host,
        short=f"unexpected answer to GET /v2/ ({ping.status})",
        summary=f"{host} answered {ping.status} to GET /v2/",
        remediation=advice(
            "unexpected_response", profile, host=host, status=ping.status, url=client.base_url
        ),
        status=ping.status,
    )


def failure_from_refusal(
    client: RegistryClient, response: httpx.Response, ping: PingResult, what: str
) -> AccessFailure | None:
    """A 401/403 for a repository after ``/v2/`` answered 200, when it is not a permission refusal.

    ``None`` means "the credentials are valid but lack the permission": the check says so itself.
    """
    status = response.status_code
    if status not in (401, 403):
        return None
    error = client.error_for(response)
    if isinstance(error, ProtocolError) and not isinstance(error, PermissionDenied):
        return _token_broken(client, error)
    if _anonymous(client):
        return _no_credentials(client, status, anonymous_v2=ping.status == 200, what=what)
    if isinstance(error, PermissionDenied) or status == 403:
        return None
    return failure_from_error(client, error) if isinstance(error, AuthenticationError) else None


def fresh_evidence(evidence: Mapping[str, Any], failure: AccessFailure) -> dict[str, Any]:
    """Evidence after an access failure: the check's keys at their "not established" values."""
    facts = dict(evidence)
    if "http_status" in facts and failure.status is not None:
        facts["http_status"] = failure.status
    if "credentials_valid" in facts and facts["credentials_valid"] is None:
        facts["credentials_valid"] = failure.credentials_valid
    return facts
