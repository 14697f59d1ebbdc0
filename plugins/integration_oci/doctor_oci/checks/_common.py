"""What the five checks share: outcome assembly, error-to-outcome mapping, test-image resolution.

Rules every check follows (so the report reads the same for all five):

* evidence = the seed's keys for the check + :func:`doctor_oci.runtime.common_evidence`;
* in insecure mode the message says TLS verification is disabled;
* when access failed (the shared ``GET /v2/`` or the probe: unreachable, credentials missing or
  rejected, token service broken, rate limit, 5xx ...) the check is FAIL with the shared cause of
  :mod:`doctor_oci.checks.diagnosis` -- the ping's failure wins over whatever the probe ran into,
  so every check names the same cause; another client error (a permission refusal, a protocol
  violation) is judged at the check's default severity; any other exception propagates (the
  engine reports ``error``);
* every string is redacted before it leaves the check.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from doctor_core import Cause, CheckContext, CheckOutcome, Severity, Status, redact, redact_value
from doctor_oci.checks.diagnosis import AccessFailure, failure_from_error, failure_from_ping, fresh_evidence
from doctor_oci.client import (
    PermissionDenied,
    PingResult,
    ProtocolError,
    RegistryClient,
    RegistryError,
    parse_www_authenticate,
)
from doctor_oci.client.jsonbody import parse_json
from doctor_oci.registries import RegistryProfile, advice, recommendations
from doctor_oci.runtime import check_metrics, common_evidence, registry_client, registry_profile, settings_of
from doctor_oci.settings import OciSettings

NOT_CONFIGURED = "OCI.RegistryUrl is not configured"

#: A syntactically valid digest that names no content (not all zeros: Quay answers 400 to unknown
#: subjects, and some registries special-case the zero digest). Used when the test image is missing.
PROBE_DIGEST = "sha256:" + hashlib.sha256(b"doctor referrers probe").hexdigest()

_DEFAULT_STATUS = {Severity.FAIL: Status.FAIL, Severity.WARN: Status.WARN, Severity.INFO: Status.INFO}


def random_digest() -> str:
    """A fresh sha256 digest that no registry holds (for the non-destructive DELETE probes)."""
    return "sha256:" + hashlib.sha256(secrets.token_bytes(32)).hexdigest()


def short_digest(digest: str | None) -> str:
    """``sha256:abc123def456...``: the algorithm plus 12 hex characters, as the seed shows it."""
    if not digest:
        return "no digest"
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}..." if encoded else digest


def failure_status(ctx: CheckContext) -> Status:
    """The status a not-passing verdict gets: the check's default severity."""
    return _DEFAULT_STATUS[ctx.definition.default_severity]


def status_text(status: int | None, code: str | None) -> str:
    """``401 UNAUTHORIZED`` / ``404`` / ``no HTTP status``."""
    if status is None:
        return code or "no HTTP status"
    return f"{status} {code}" if code else str(status)


def error_code(response: httpx.Response) -> str | None:
    """The first ``errors[].code`` of a registry error body, if the body is one."""
    if not response.content:
        return None
    try:
        body = parse_json(response.content, what="the error body")
    except ProtocolError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        return str(code) if code else None
    return None


def insufficient_scope(response: httpx.Response) -> bool:
    """True when a 401 says the (valid) token lacks an action: ``error="insufficient_scope"``."""
    values = response.headers.get_list("www-authenticate")
    if not values:
        return False
    return any(challenge.error == "insufficient_scope" for challenge in parse_www_authenticate(values))


def refused_for_permission(client: RegistryClient, response: httpx.Response, ping: PingResult | None) -> bool:
    """Tell "no permission" from "bad credentials" for a 401/403 answer.

    403 is always a permission refusal. A 401 is one when the client classifies it as
    :class:`PermissionDenied`, or when it carries ``insufficient_scope`` while ``/v2/`` accepted the
    same credentials (distribution's token mode never answers 403).
    """
    if response.status_code == 403:
        return True
    if response.status_code != 401:
        return False
    if isinstance(client.error_for(response), PermissionDenied):
        return True
    authenticated = ping is not None and ping.status == 200
    return insufficient_scope(response) and authenticated


@dataclass(eq=False, repr=False)  # internal: never compared or printed
class Verdict:
    """A check's conclusion before it becomes a :class:`CheckOutcome`."""

    status: Status
    message: str
    evidence: dict[str, Any]
    remediation: tuple[str, ...] = ()
    recommendations: tuple[str, ...] = ()
    cause: Cause | None = None


def failure_verdict(check: str, failure: AccessFailure, evidence: Mapping[str, Any]) -> Verdict:
    """The verdict of a check that could not establish its fact because access failed: FAIL."""
    return Verdict(
        Status.FAIL,
        failure.message(check),
        fresh_evidence(evidence, failure),
        failure.remediation,
        failure.recommendations,
        failure.cause,
    )


def check_name(ctx: CheckContext) -> str:
    """``pull`` for ``check.integration.oci.pull``."""
    return ctx.definition.check_id.rsplit(".", 1)[-1]


def finish(
    ctx: CheckContext, client: RegistryClient | None, settings: OciSettings, verdict: Verdict
) -> CheckOutcome:
    """Assemble the outcome: seed evidence + common keys, insecure notice, metrics, redaction."""
    evidence = dict(verdict.evidence)
    evidence.update(common_evidence(client, settings))
    message = verdict.message
    remediation = tuple(verdict.remediation)
    recs = tuple(verdict.recommendations)
    if settings.Insecure:
        message = f"{message} [TLS verification is disabled]"
        profile = registry_profile(client) if client is not None else None
        if profile is not None:
            recs = _merge(recs, recommendations("insecure", profile))
    cause = verdict.cause
    if cause is not None:
        cause = Cause(
            key=redact(cause.key),
            summary=redact(cause.summary),
            remediation=tuple(redact(step) for step in cause.remediation),
        )
    return CheckOutcome(
        status=verdict.status,
        message=redact(message),
        cause=cause,
        evidence=redact_value(evidence),
        remediation=tuple(redact(step) for step in remediation),
        recommendations=tuple(redact(line) for line in recs),
        metrics=check_metrics(client, ctx.definition.check_id),
    )


def _merge(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for line in (*first, *second):
        seen.setdefault(line, None)
    return tuple(seen)


def not_configured_skip(
    ctx: CheckContext, settings: OciSettings, evidence: Mapping[str, Any]
) -> CheckOutcome:
    """The outcome of a check other than credentials when there is no registry to check."""
    return finish(
        ctx,
        None,
        settings,
        Verdict(Status.SKIP, f"not run: {NOT_CONFIGURED}", dict(evidence)),
    )


def error_verdict(
    ctx: CheckContext,
    client: RegistryClient,
    exc: RegistryError,
    evidence: dict[str, Any],
    *,
    doing: str,
    operation: str | None = None,
) -> Verdict:
    """Turn a client error into a verdict naming the fault. ``doing`` reads "pulling", "probing" ...

    An access failure (see :mod:`doctor_oci.checks.diagnosis`) is FAIL with its shared cause in
    every check; what remains (a permission refusal, a protocol violation, a missing object) is
    judged at the check's default severity.
    """
    failure = failure_from_error(client, exc)
    if failure is not None:
        return failure_verdict(check_name(ctx), failure, evidence)
    profile: RegistryProfile = registry_profile(client)
    host = client.host
    code = status_text(exc.status, exc.code)
    if isinstance(exc, PermissionDenied):
        message = f"No {operation or 'access'} permission on {host} ({code})"
        steps = advice("no_permission", profile, host=host, operation=operation)
        return Verdict(failure_status(ctx), message, evidence, steps, (NO_PERMISSION_RECOMMENDATION,))
    if isinstance(exc, ProtocolError):
        message = f"Unexpected response from {host} while {doing} it: {exc}"
    else:
        message = f"Registry error while {doing} {host} ({code}): {exc}"
    steps = advice("unexpected_response", profile, host=host, status=code)
    return Verdict(failure_status(ctx), message, evidence, steps)


#: The report line for a permission refusal (the seed's "No Permission (403)" first step).
NO_PERMISSION_RECOMMENDATION = "No permission (403): verify the service account has required permissions"

#: The report line when the test image is missing (nothing could be verified with it).
TEST_IMAGE_RECOMMENDATION = (
    "Test image missing: point OCI__TestRepository/OCI__TestTag at an image that exists"
)


@dataclass(frozen=True, eq=False, repr=False)  # internal: never compared or printed
class TestImage:
    """What a HEAD of ``TestRepository:TestTag`` told us."""

    status: int
    digest: str | None
    response: httpx.Response

    @property
    def exists(self) -> bool:
        return self.status == 200 and self.digest is not None


async def resolve_test_image(client: RegistryClient, repository: str, tag: str) -> TestImage:
    """HEAD the test image with the full Accept list; the digest from ``Docker-Content-Digest`` or a GET."""
    response = await client.resolve_manifest(repository, tag)
    digest: str | None = None
    if response.status_code == 200:
        digest = response.headers.get("docker-content-digest")
        if not digest:
            digest = (await client.get_manifest(repository, tag)).digest
    return TestImage(response.status_code, digest, response)


async def blob_of_image(client: RegistryClient, repository: str, digest: str) -> str | None:
    """A blob digest the test image references (a layer, else its config), for the mount probes.

    An index is followed to its first platform manifest. ``None`` when there is no blob (an
    artifact without layers and config cannot be mounted).
    """
    manifest = await client.get_manifest(repository, digest)
    data: dict[str, Any] = manifest.data
    children = data.get("manifests")
    if isinstance(children, list) and children:
        first = children[0]
        if isinstance(first, dict) and isinstance(first.get("digest"), str):
            data = (await client.get_manifest(repository, first["digest"])).data
    layers = data.get("layers")
    if isinstance(layers, list):
        for layer in layers:
            if isinstance(layer, dict) and isinstance(layer.get("digest"), str):
                return str(layer["digest"])
    config = data.get("config")
    if isinstance(config, dict) and isinstance(config.get("digest"), str):
        return str(config["digest"])
    return None


EvidenceFactory = Callable[[OciSettings, RegistryClient | None], dict[str, Any]]
Probe = Callable[[CheckContext, RegistryClient, OciSettings, dict[str, Any]], Awaitable[Verdict]]


async def run_probe(
    ctx: CheckContext,
    *,
    evidence: EvidenceFactory,
    probe: Probe,
    doing: str,
    operation: str | None = None,
    on_error: Callable[[RegistryError, dict[str, Any]], None] | None = None,
) -> CheckOutcome:
    """The frame every registry probe runs in: the one place that decides what happens around it.

    Not configured -> SKIP; otherwise the run's shared client, the check's request label (its
    ``http_requests``/``token_fetches`` metrics), the probe run beside the shared ping, and -- when
    the ping failed -- the ping's access failure as the verdict (identical in every check); else a
    client error turned into a verdict naming the fault (``doing`` reads "pulling from", "probing
    the referrers API of"; ``operation`` picks the permission advice). ``on_error`` may adjust the
    evidence for such an error.
    """
    settings = settings_of(ctx)
    if not settings.RegistryUrl:
        return not_configured_skip(ctx, settings, evidence(settings, None))
    client = await registry_client(ctx)
    facts = evidence(settings, client)
    with client.metrics.label(ctx.definition.check_id):
        client.start_discovery()  # one /v2/ challenge for all checks (RegistryClient.start_discovery)
        # The probe and the shared ping run together; when /v2/ itself failed, that is the cause
        # for every check (identical in all of them), whatever the probe ran into meanwhile.
        ping_task: asyncio.Future[PingResult] = asyncio.ensure_future(client.ping())
        verdict: Verdict | None = None
        error: RegistryError | None = None
        try:
            verdict = await probe(ctx, client, settings, facts)
        except RegistryError as exc:
            error = exc
        except BaseException:
            ping_task.cancel()
            raise
        failure = await _ping_failure(client, ping_task)
        if failure is not None:
            verdict = failure_verdict(check_name(ctx), failure, evidence(settings, client))
        elif error is not None:
            verdict = error_verdict(ctx, client, error, facts, doing=doing, operation=operation)
            if on_error is not None:
                on_error(error, verdict.evidence)
        assert verdict is not None
        return finish(ctx, client, settings, verdict)


async def _ping_failure(
    client: RegistryClient, ping_task: asyncio.Future[PingResult]
) -> AccessFailure | None:
    """The access failure of the shared ``GET /v2/``, or None when it answered 200."""
    try:
        ping = await ping_task
    except RegistryError as exc:
        return failure_from_error(client, exc)
    return failure_from_ping(client, ping)
