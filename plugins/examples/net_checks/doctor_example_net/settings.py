"""The ``NET`` configuration section of the example plugin.

YAML::

    NET:
      Hosts: ["localhost", "registry.example.com"]
      TlsEndpoints: ["registry.example.com:443"]
      ExpiryWarnDays: 21
      TimeoutSeconds: 5
      CaBundle: /etc/ssl/private-ca.pem

Environment: ``NET__ExpiryWarnDays=30`` (keys match case-insensitively).

The model is the whole contract between the user's configuration and the checks: the core
validates the section with it before a check runs, so the checks can trust every value and a
mistake reaches the user as "``NET.TlsEndpoints``: ..." with exit code 2, not as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``host:port`` pair. ``str()`` gives it back in the form the user wrote."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """``"host:port"`` or ``"[v6-address]:port"`` as an :class:`Endpoint`.

    Raises ``ValueError`` with the offending text when the port is missing or out of range, so
    the configuration error names exactly what to fix.
    """
    value = text.strip()
    if value.startswith("["):
        host, sep, port_text = value[1:].partition("]:")
    else:
        host, sep, port_text = value.rpartition(":")
    bare_ipv6 = ":" in host and not value.startswith("[")
    if not sep or not host or bare_ipv6:
        raise ValueError(f"{text!r} is not 'host:port' (write IPv6 addresses as '[::1]:443')")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: port must be a number from 1 to 65535")
    return Endpoint(host=host, port=int(port_text))


class NetSettings(BaseModel):
    """Validated ``NET`` section. Field names are the keys users write.

    ``defer_build``: the core imports every declared section's model when a run reads the
    configuration (a broken model is reported even in a run that selects none of this plugin's
    checks), but validates only the sections of the plugins whose checks run. Building the
    validator is most of this module's import cost (about 10 ms), so it is built on the first
    validation, not at import: a ``--tag registry`` run never pays it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)

    Hosts: list[str] = Field(
        default_factory=lambda: ["localhost"],
        description="Host names the DNS check resolves",
    )
    TlsEndpoints: list[str] = Field(
        default_factory=list,
        description="'host:port' endpoints whose TLS certificate the expiry check inspects",
    )
    ExpiryWarnDays: int = Field(
        default=21, ge=0, le=3650, description="Warn when a certificate expires within this many days"
    )
    TimeoutSeconds: float = Field(
        default=5.0, gt=0, le=300, description="Time allowed for each lookup or TLS handshake"
    )
    CaBundle: Path | None = Field(
        default=None,
        description="PEM file of the CA certificates to trust instead of the system's (private CAs)",
    )
    PerHost: bool = Field(
        default=False,
        description="Run the DNS check once per host: one result per host, each naming it "
        "(target), selectable with 'doctor --target HOST'",
    )

    @field_validator("Hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        hosts = [host.strip() for host in value]
        for host in hosts:
            if not host or any(ch.isspace() for ch in host):
                raise ValueError(f"{host!r} is not a host name")
        return hosts

    @field_validator("TlsEndpoints")
    @classmethod
    def _endpoints(cls, value: list[str]) -> list[str]:
        return [str(parse_endpoint(item)) for item in value]

    @field_validator("CaBundle")
    @classmethod
    def _ca_bundle(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        path = value.expanduser()
        if not path.is_file():
            raise ValueError(f"CA bundle {str(value)!r} is not a readable file")
        return path

    def endpoints(self) -> list[Endpoint]:
        """:attr:`TlsEndpoints` parsed (they were validated, so this cannot fail)."""
        return [parse_endpoint(item) for item in self.TlsEndpoints]


def host_targets(config: NetSettings | None) -> list[Any]:
    """The DNS check's targets (``Check.targets``): with ``PerHost``, one per host, each with a
    copy of the section holding only that host; otherwise none (the check runs once, over all).

    This is the core's "checks per target" feature (``doctor_core.targets``) in its smallest form.
    """
    from doctor_core import Target

    if config is None or not config.PerHost:
        return []
    return [Target(host, config.model_copy(update={"Hosts": [host]})) for host in dict.fromkeys(config.Hosts)]
