"""The plugin object doctor loads through the ``doctor.plugins`` entry point.

This module is imported for every ``doctor`` invocation, including ``doctor list`` and
``doctor --help``, so it only *describes* what the plugin contributes:

* :func:`doctor_add_config_sections` declares the ``NET`` section and the model validating it,
  also as an import string (``"doctor_example_net.settings:NetSettings"``): the core imports
  :mod:`doctor_example_net.settings` (and pydantic) only when the configuration is read, so
  ``doctor list`` and ``doctor --help`` stay fast;
* :func:`doctor_add_checks` declares the two checks, pointing at their code with import strings
  (``"doctor_example_net.checks:check_tls_expiry"``) so that :mod:`doctor_example_net.checks`
  and what it imports (``ssl``, ``socket``) are loaded only when one of them is selected to run.

Everything used here is the public API of ``doctor_core``.
"""

from __future__ import annotations

from collections.abc import Iterator

from doctor_core import Check, CheckDefinition, ConfigKey, ConfigSection, Severity, hookimpl

#: The section name users write (``NET:`` in YAML, ``NET__Hosts`` in the environment).
SECTION = "NET"
DNS_CHECK_ID = "check.example.dns.resolve"
TLS_CHECK_ID = "check.example.tls.expiry"


@hookimpl
def doctor_add_config_sections() -> Iterator[ConfigSection]:
    """The ``NET`` section: which hosts to resolve and which TLS endpoints to inspect."""
    yield ConfigSection(
        name=SECTION,
        model="doctor_example_net.settings:NetSettings",
        description="Example network checks: DNS resolution and TLS certificate expiry",
        keys=(
            ConfigKey("Hosts", "host names the DNS check resolves"),
            ConfigKey("TlsEndpoints", "host:port endpoints whose TLS certificate is inspected"),
            ConfigKey("ExpiryWarnDays", "warn when a certificate expires within this many days"),
            ConfigKey("TimeoutSeconds", "time allowed for each lookup or TLS handshake"),
            ConfigKey("CaBundle", "PEM file of CA certificates to trust instead of the system's"),
            ConfigKey("PerHost", "run the DNS check once per host (one result per host)"),
        ),
    )


@hookimpl
def doctor_add_checks() -> Iterator[Check]:
    """The example's checks; the engine imports their module only when they run."""
    yield Check(
        CheckDefinition(
            check_id=DNS_CHECK_ID,
            name="DNS Resolution",
            description="Every host in NET.Hosts resolves to at least one address.",
            default_severity=Severity.FAIL,
            tags=("network", "dns", "example"),
            estimated_duration_s=2,
        ),
        run="doctor_example_net.checks:check_dns_resolve",
        # With NET.PerHost: once per host (doctor_core.targets); otherwise once over all hosts.
        targets="doctor_example_net.settings:host_targets",
    )
    yield Check(
        CheckDefinition(
            check_id=TLS_CHECK_ID,
            name="TLS Certificate Expiry",
            description="The certificate of every endpoint in NET.TlsEndpoints verifies and is not "
            "about to expire.",
            default_severity=Severity.WARN,
            tags=("network", "tls", "example"),
            estimated_duration_s=3,
        ),
        run="doctor_example_net.checks:check_tls_expiry",
    )
