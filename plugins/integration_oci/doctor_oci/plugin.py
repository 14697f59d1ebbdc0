"""The ``integration_oci`` plugin: the five registry checks, the ``OCI`` section and ``doctor oci``.

This module is the entry point (group ``doctor.plugins``). ``doctor list`` imports it, so it must
stay import-cheap: no httpx, no pydantic, no check module, no client, no settings module. Checks
and the ``OCI`` settings model are given as import strings: the engine imports a check when it is
selected to run, and the model when the configuration is read. The command module is imported
inside its hook.

Ids, names, severities, tags and estimated durations are the seed's (registry diagnostics
document), verbatim.
"""

from __future__ import annotations

from collections.abc import Iterator

from doctor_core import (
    Check,
    CheckDefinition,
    Command,
    ConfigFlag,
    ConfigKey,
    ConfigSection,
    Severity,
    hookimpl,
)

_CHECKS = "doctor_oci.checks"
#: The ``OCI`` section's pydantic model, imported by the core only when the configuration is read.
SETTINGS_MODEL = "doctor_oci.settings:OciSettings"

#: The ``OCI`` keys as ``doctor --help`` lists them (``OCI__RegistryUrl`` ...), without importing
#: the settings module. Must name exactly OciSettings' fields (a test in tests/core holds them equal).
SETTINGS_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("RegistryUrl", "registry to check (https assumed; http when written, or for localhost)"),
    ConfigKey("Username", "user for basic auth / token exchange"),
    ConfigKey("Password", "password (prefer PasswordSecretRef)"),
    ConfigKey("PasswordSecretRef", "where to read the password: env:NAME or file:PATH"),
    ConfigKey("Token", "static bearer token (alternative to username/password)"),
    ConfigKey("TestRepository", "repository probed by the checks (default library/alpine)"),
    ConfigKey("TestTag", "tag probed by the pull and referrers checks (default latest)"),
    ConfigKey("TimeoutSeconds", "timeout per HTTP request (default 10)"),
    ConfigKey("CaBundle", "PEM file of CA certificates to trust"),
    ConfigKey("Insecure", "skip TLS verification (also --insecure; not for production)"),
    ConfigKey("DockerConfig", "docker config.json to read credentials from"),
    ConfigKey("CosignRepository", "repository holding cosign signatures (as COSIGN_REPOSITORY)"),
    ConfigKey("Registries", "more registries: these keys plus Name each (OCI__Registries__0__RegistryUrl)"),
)

#: The five definitions, in the seed's order (also the order ``doctor list`` shows them).
DEFINITIONS: tuple[CheckDefinition, ...] = (
    CheckDefinition(
        check_id="check.integration.oci.credentials",
        name="OCI Registry Credentials",
        description="Validate registry credential configuration and authentication.",
        default_severity=Severity.FAIL,
        tags=("registry", "oci", "credentials", "secrets", "auth"),
        estimated_duration_s=5,
    ),
    CheckDefinition(
        check_id="check.integration.oci.pull",
        name="OCI Registry Pull Authorization",
        description="Verify pull authorization for the configured test repository.",
        default_severity=Severity.FAIL,
        tags=("registry", "oci", "pull", "authorization"),
        estimated_duration_s=5,
    ),
    CheckDefinition(
        check_id="check.integration.oci.push",
        name="OCI Registry Push Authorization",
        description="Verify push authorization for the configured test repository.",
        default_severity=Severity.FAIL,
        tags=("registry", "oci", "push", "authorization"),
        estimated_duration_s=10,
    ),
    CheckDefinition(
        check_id="check.integration.oci.referrers",
        name="OCI Registry Referrers API Support",
        description="Verify OCI 1.1 referrers API support for artifact linking.",
        default_severity=Severity.WARN,
        tags=("registry", "oci", "referrers", "oci-1.1"),
        estimated_duration_s=10,
    ),
    CheckDefinition(
        check_id="check.integration.oci.capabilities",
        name="OCI Registry Capability Matrix",
        description="Comprehensive registry capability matrix detection.",
        default_severity=Severity.INFO,
        tags=("registry", "oci", "capabilities", "compatibility"),
        estimated_duration_s=30,
    ),
)

#: Each check runs once per configured registry (``OCI.Registries``; once when there is only the
#: seed's ``OCI.RegistryUrl``): see :mod:`doctor_oci.targets`.
TARGETS = "doctor_oci.targets:registry_targets"

#: check id -> "module:function" of its body.
RUNNERS: dict[str, str] = {
    "check.integration.oci.credentials": f"{_CHECKS}.credentials:run",
    "check.integration.oci.pull": f"{_CHECKS}.pull:run",
    "check.integration.oci.push": f"{_CHECKS}.push:run",
    "check.integration.oci.referrers": f"{_CHECKS}.referrers:run",
    "check.integration.oci.capabilities": f"{_CHECKS}.capabilities:run",
}


@hookimpl
def doctor_add_checks() -> Iterator[Check]:
    """The five registry checks (bodies imported lazily by the engine)."""
    for definition in DEFINITIONS:
        yield Check(definition, run=RUNNERS[definition.check_id], targets=TARGETS)


@hookimpl
def doctor_add_config_sections() -> Iterator[ConfigSection]:
    """The ``OCI`` section (seed keys) and the ``--insecure`` flag."""
    yield ConfigSection(
        name="OCI",
        model=SETTINGS_MODEL,
        description="The OCI registry to check and how to authenticate to it.",
        flags=(ConfigFlag("--insecure", "Insecure", help="skip TLS verification (not for production)"),),
        keys=SETTINGS_KEYS,
    )


@hookimpl
def doctor_add_commands() -> Iterator[Command]:
    """``doctor oci ...`` (referrer discovery). Imported here, not at module import.

    ``doctor_oci.commands`` exposes ``command``: either the :class:`Command` itself or a
    zero-argument factory returning it.
    """
    from doctor_oci import commands

    found = getattr(commands, "command", None)
    if isinstance(found, Command):
        yield found
        return
    if callable(found):
        built = found()
        if isinstance(built, Command):
            yield built
            return
    raise TypeError("doctor_oci.commands.command must be a doctor_core.Command or a factory returning one")
