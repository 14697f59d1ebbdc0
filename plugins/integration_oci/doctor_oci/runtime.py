"""The per-run registry client the five checks share, and what every outcome carries.

One :class:`~doctor_oci.client.RegistryClient` per run (stored in ``ctx.shared``) means one token
cache and one connection pool: the checks run concurrently, and the ``/v2/`` ping, each token and
the referrers probe are fetched once for all of them. The engine closes the client when the run
ends (it has ``aclose()``).
"""

from __future__ import annotations

from typing import Any

from doctor_core import CheckContext
from doctor_oci.client import RegistryClient
from doctor_oci.registries import RegistryProfile, identify
from doctor_oci.settings import OciSettings

CLIENT_KEY = "doctor_oci.client"


class RegistryNotConfigured(LookupError):
    """``OCI.RegistryUrl`` is not set: there is no registry to check."""

    def __init__(self) -> None:
        super().__init__("OCI.RegistryUrl is not configured")


def settings_of(ctx: CheckContext) -> OciSettings:
    """The validated ``OCI`` section (an empty one when the section is absent)."""
    config = ctx.config
    if config is None:
        return OciSettings()
    if not isinstance(config, OciSettings):
        raise TypeError(f"the OCI checks need an OciSettings config, got {type(config).__name__}")
    return config


async def registry_client(ctx: CheckContext) -> RegistryClient:
    """The run's shared client (created on first use). Raises :class:`RegistryNotConfigured`."""
    settings = settings_of(ctx)
    if not settings.RegistryUrl:
        raise RegistryNotConfigured

    async def create() -> RegistryClient:
        return await RegistryClient.open(settings)

    return await ctx.shared.get(CLIENT_KEY, create)


def registry_profile(client: RegistryClient) -> RegistryProfile:
    """The identified product, from the host, the ``/v2/`` headers and the ``/v2/`` challenge."""
    headers = dict(client.server_headers.items())
    challenge = client.challenge
    if challenge and not any(key.lower() == "www-authenticate" for key in headers):
        headers["www-authenticate"] = challenge
    return identify(client.host, headers)


def common_evidence(client: RegistryClient | None, settings: OciSettings) -> dict[str, Any]:
    """Keys every OCI outcome adds to its seed keys: the product, rate limits, TLS mode."""
    evidence: dict[str, Any] = {
        "registry_type": registry_profile(client).key if client is not None else "unknown",
    }
    limit = getattr(client, "rate_limit", None) if client is not None else None
    if limit is not None:
        if getattr(limit, "limit", None) is not None:
            evidence["rate_limit_limit"] = limit.limit
        if getattr(limit, "remaining", None) is not None:
            evidence["rate_limit_remaining"] = limit.remaining
    if settings.Insecure:
        evidence["tls_verified"] = False
    return evidence


def check_metrics(client: RegistryClient | None, check_id: str) -> dict[str, int | float]:
    """``http_requests`` and ``token_fetches`` this check caused (token fetches are included in
    ``http_requests``). A request the checks share is counted for the check that sent it, so the
    sums over a run's checks are the run's totals."""
    if client is None:
        return {"http_requests": 0, "token_fetches": 0}
    metrics = client.metrics
    return {
        "http_requests": int(metrics.by_label.get(check_id, 0)),
        "token_fetches": int(metrics.tokens_by_label.get(check_id, 0)),
    }
