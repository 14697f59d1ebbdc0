"""The network probes behind the checks: I/O only, no verdicts.

Keeping "ask the network" apart from "decide pass/warn/fail" (:mod:`doctor_example_net.checks`)
makes each half easy to read and to test. Every probe is async, bounded by a timeout, and raises
:class:`ProbeError` with a one-line reason a person can act on; nothing here prints or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from doctor_example_net.settings import Endpoint

#: Short names for the attributes that usually make up a certificate's subject and issuer.
_NAME_ATTRIBUTES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}


class ProbeError(Exception):
    """The probe could not get an answer. ``str()`` is the reason, without a traceback."""


@dataclass(frozen=True)
class CertificateInfo:
    """What the expiry check needs from a verified peer certificate."""

    not_after: datetime
    subject: str
    issuer: str


async def resolve(host: str, timeout_s: float) -> list[str]:
    """The distinct addresses ``host`` resolves to, in a stable order.

    Uses the event loop's ``getaddrinfo`` (the system resolver in a worker thread, as every
    program on the machine sees it). A lookup still running when the timeout ends is abandoned:
    the thread finishes on its own, but the check gets its answer in time.
    """
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise ProbeError(f"no answer within {timeout_s:g} s") from None
    except socket.gaierror as exc:
        raise ProbeError(exc.strerror or str(exc)) from None
    except (UnicodeError, OSError) as exc:
        raise ProbeError(f"{type(exc).__name__}: {exc}") from None
    return sorted({str(info[4][0]) for info in infos})


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """A verifying client context: the system's CAs, or only those in ``ca_bundle`` when given."""
    try:
        return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(f"cannot load CA bundle {str(ca_bundle)!r}: {exc}") from None


async def fetch_certificate(endpoint: Endpoint, context: ssl.SSLContext, timeout_s: float) -> CertificateInfo:
    """Connect to ``endpoint``, complete a verified TLS handshake and describe the peer certificate.

    The connection is closed before returning. A certificate that does not verify (expired,
    wrong host name, unknown CA) is a :class:`ProbeError` naming OpenSSL's reason, exactly as a
    client of that endpoint would see it.
    """
    try:
        async with asyncio.timeout(timeout_s):
            _reader, writer = await asyncio.open_connection(
                endpoint.host, endpoint.port, ssl=context, server_hostname=endpoint.host
            )
    except TimeoutError:
        raise ProbeError(f"no TLS handshake within {timeout_s:g} s") from None
    except ssl.SSLCertVerificationError as exc:
        raise ProbeError(f"certificate verify failed: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise ProbeError(f"TLS error: {exc.reason or exc}") from None
    except OSError as exc:
        raise ProbeError(f"cannot connect: {exc.strerror or exc}") from None
    try:
        peer: dict[str, Any] | None = writer.get_extra_info("peercert")
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(timeout_s):
                await writer.wait_closed()
    if not peer or "notAfter" not in peer:
        raise ProbeError("the server sent no certificate")
    return CertificateInfo(
        not_after=datetime.fromtimestamp(ssl.cert_time_to_seconds(peer["notAfter"]), UTC),
        subject=_distinguished_name(peer.get("subject", ())),
        issuer=_distinguished_name(peer.get("issuer", ())),
    )


def _distinguished_name(rdns: tuple[tuple[tuple[str, str], ...], ...]) -> str:
    """``ssl``'s nested tuples as ``"CN=example.com, O=Example"``."""
    parts = [f"{_NAME_ATTRIBUTES.get(key, key)}={value}" for rdn in rdns for key, value in rdn]
    return ", ".join(parts)
