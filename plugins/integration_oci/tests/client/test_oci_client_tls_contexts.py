"""Clients share one TLS context per trust setting (client/tls.py), and still verify as before."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import trustme
from doctor_oci.client import RegistryClient
from doctor_oci.client.tls import verifying_context
from doctor_oci.settings import OciSettings

from devtools.registry import RunningRegistry


async def test_clients_with_the_same_trust_share_one_context(
    tls_registry: RunningRegistry, tmp_path: Path
) -> None:
    settings = OciSettings.model_validate(tls_registry.oci_config())
    first, second = RegistryClient(settings), RegistryClient(settings)
    try:
        assert verifying_context(settings.CaBundle) is verifying_context(settings.CaBundle)
        assert (await first.ping()).status == 200  # the shared context trusts the registry's CA
        assert (await second.ping()).status == 200
    finally:
        await first.aclose()
        await second.aclose()
    # Without the CA bundle the same registry is not trusted: the default context is another one.
    default = verifying_context(None)
    assert default is not verifying_context(settings.CaBundle)
    assert default.verify_mode is ssl.CERT_REQUIRED and default.check_hostname


def test_a_changed_bundle_gets_a_fresh_context(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    before = verifying_context(bundle)
    assert verifying_context(bundle) is before
    trustme.CA().cert_pem.write_to_path(str(bundle))
    os.utime(bundle, ns=(1, 1))  # a different modification time, whatever the clock resolution
    assert verifying_context(bundle) is not before
