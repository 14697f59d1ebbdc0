"""check.integration.oci.push -- may these credentials push to the test repository? Without pushing.

Two probes, the one with the smaller footprint first:

* **Mount probe** (when the test image exists and the registry is not Docker Hub, whose manifest
  GETs count against the pull rate limit): ``POST /v2/<repo>/blobs/uploads/?mount=<blob>&from=<repo>``
  for a blob the repository already holds. A registry that lets us push answers 201 *without
  opening a session*: push rights are proven and nothing new is written (on distribution 2.8 the
  storage tree stays byte-identical). A 202 means the registry opened an ordinary session instead;
  it is cancelled like below.
* **Upload probe** (the seed's): ``POST /v2/<repo>/blobs/uploads/`` then ``DELETE <Location>`` at
  once. On distribution 2.8 the session is gone afterwards (its URL answers 404
  ``BLOB_UPLOAD_UNKNOWN``) but ``_uploads/<uuid>/hashstates/sha256/0`` stays in storage until upload
  purging removes it (168 h by default), and the repository directory is created when the
  repository did not exist (measured; see docs/checks.md).

Both run inside :func:`doctor_oci.checks._uploads.upload_session`, which cancels any session the
registry opened on every path: error, timeout, cancellation. The token scope asks for
``pull,push,delete`` so the cancel is authorized where the token server grants delete.

Refusals: 401 is bad credentials, *unless* it carries ``error="insufficient_scope"`` while ``/v2/``
accepted the credentials (distribution's token mode never sends 403): that, and 403, is "no push
permission" with ``credentials_valid: true``.

Evidence: ``registry_url``, ``test_repository``, ``push_authorized``, ``upload_session_cancelled``,
``http_status``, ``credentials_valid``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from doctor_core import CheckContext, CheckOutcome, Status
from doctor_oci.checks._common import (
    NO_PERMISSION_RECOMMENDATION,
    Verdict,
    blob_of_image,
    error_code,
    failure_status,
    failure_verdict,
    refused_for_permission,
    resolve_test_image,
    run_probe,
    status_text,
)
from doctor_oci.checks._uploads import UploadSession, mount_probe, upload_session
from doctor_oci.checks.diagnosis import credentials_recommendation, failure_from_error, failure_from_refusal
from doctor_oci.client import PingResult, RegistryClient, RegistryError
from doctor_oci.registries import advice, recommendations
from doctor_oci.runtime import registry_profile
from doctor_oci.settings import OciSettings

#: Registries where the mount probe is not used (reading the manifest costs rate-limit budget).
_NO_MOUNT_PROBE = frozenset({"dockerhub"})


def _evidence(settings: OciSettings, client: RegistryClient | None) -> dict[str, Any]:
    return {
        "registry_url": client.base_url if client is not None else settings.RegistryUrl,
        "test_repository": settings.TestRepository,
        "push_authorized": False,
        "upload_session_cancelled": None,
        "http_status": None,
        "credentials_valid": None,
    }


async def run(ctx: CheckContext) -> CheckOutcome:
    """Prove push rights with the smallest-footprint probe, cancelling whatever it opened."""
    return await run_probe(
        ctx,
        evidence=_evidence,
        probe=_probe,
        doing="pushing to",
        operation="push",
        on_error=_credentials_valid_from_error,
    )


def _credentials_valid_from_error(exc: RegistryError, evidence: dict[str, Any]) -> None:
    """A 403 means the registry accepted who we are and refused what we asked."""
    if evidence["credentials_valid"] is None:
        evidence["credentials_valid"] = exc.status == 403


async def _mountable_blob(client: RegistryClient, settings: OciSettings) -> str | None:
    """A blob of the test image to mount onto its own repository, or None (use the upload probe)."""
    if registry_profile(client).key in _NO_MOUNT_PROBE:
        return None
    image = await resolve_test_image(client, settings.TestRepository, settings.TestTag)
    if not image.exists or image.digest is None:
        return None
    return await blob_of_image(client, settings.TestRepository, image.digest)


async def _probe(
    ctx: CheckContext, client: RegistryClient, settings: OciSettings, evidence: dict[str, Any]
) -> Verdict:
    ping, blob = await asyncio.gather(client.ping(), _mountable_blob(client, settings))
    evidence["credentials_valid"] = ping.status == 200
    repository = settings.TestRepository
    scopes = (client.scope(repository, "pull", "push", "delete"),)
    if blob is not None:
        session = await mount_probe(client, repository, blob, scopes=scopes)
    else:
        async with upload_session(client, repository, scopes=scopes) as session:
            pass
    return _judge(ctx, client, settings, session, ping, evidence, mounted=blob is not None)


def _judge(
    ctx: CheckContext,
    client: RegistryClient,
    settings: OciSettings,
    session: UploadSession,
    ping: PingResult,
    evidence: dict[str, Any],
    *,
    mounted: bool,
) -> Verdict:
    response = session.response
    status = response.status_code
    code = error_code(response)
    evidence["http_status"] = status
    profile = registry_profile(client)
    host = client.host
    repository = settings.TestRepository
    if status == 201 and mounted:
        evidence.update(push_authorized=True, upload_session_cancelled=True, credentials_valid=True)
        # The seed's words; http_status 201 (not 202) in the evidence says the mount proved it.
        return Verdict(Status.PASS, "Push authorization verified", evidence)
    if status == 202:
        evidence.update(
            push_authorized=True, credentials_valid=True, upload_session_cancelled=bool(session.cancelled)
        )
        if session.cancelled:
            return Verdict(Status.PASS, "Push authorization verified", evidence)
        cancel = status_text(session.cancel_status, None) if session.cancel_status else session.cancel_error
        return Verdict(
            Status.WARN,
            f"Push authorized, but the probe's upload session could not be cancelled ({cancel})",
            evidence,
            advice("upload_cancel_refused", profile, host=host, status=cancel),
            recommendations("upload_cancel_refused", profile),
        )
    if status in (401, 403):
        failure = failure_from_refusal(client, response, ping, repository)
        if failure is not None:
            return failure_verdict("push", failure, evidence)
        if refused_for_permission(client, response, ping):
            evidence["credentials_valid"] = True
            return Verdict(
                failure_status(ctx),
                f"No push permission for {repository} on {host} ({status_text(status, code)}): "
                "the credentials are valid but not allowed to push",
                evidence,
                advice("no_permission", profile, host=host, operation="push"),
                (NO_PERMISSION_RECOMMENDATION,),
            )
        evidence["credentials_valid"] = False
        return Verdict(
            failure_status(ctx),
            f"Push not authorized ({status_text(status, code)}) for {repository} on {host}",
            evidence,
            advice("invalid_credentials", profile, host=host),
            credentials_recommendation(host),
        )
    failure = failure_from_error(client, client.error_for(response)) if status >= 400 else None
    if failure is not None:
        return failure_verdict("push", failure, evidence)
    if status == 405 or code == "UNSUPPORTED":
        return Verdict(
            failure_status(ctx),
            f"{host} does not accept pushes to {repository} ({status_text(status, code)}): "
            "read-only registry or pull-through cache?",
            evidence,
            advice("no_permission", profile, host=host, operation="push"),
        )
    return Verdict(
        failure_status(ctx),
        f"Push probe refused by {host} ({status_text(status, code)})",
        evidence,
        advice("unexpected_response", profile, host=host, status=status_text(status, code)),
    )
