"""The OCI checks' targets: one per configured registry (``OCI.RegistryUrl`` and ``OCI.Registries``).

With the seed's single registry (no ``OCI.Registries``) there are no targets: every check runs
once, exactly as before, and its result has ``target`` null. With entries, the top-level registry
(when ``OCI.RegistryUrl`` is set) is the target ``default`` and each entry is the target of its
``Name``; each gets its own settings (an entry's own keys plus the inherited non-secret defaults,
:data:`doctor_oci.settings.INHERITED_KEYS`), and the core scopes ``ctx.shared`` by target, so each
registry gets its own client: credentials are never shared between registries.
"""

from __future__ import annotations

from typing import Any

from doctor_core import Target
from doctor_oci.settings import DEFAULT_TARGET, OciSettings, RegistryEntry


def registries(settings: OciSettings) -> list[tuple[str, OciSettings]]:
    """``(name, settings)`` of every configured registry, in configuration order (the top-level
    one first, named ``default``); empty when ``OCI.Registries`` is not used."""
    if not settings.Registries:
        return []
    found: list[tuple[str, OciSettings]] = []
    if settings.RegistryUrl:
        found.append((DEFAULT_TARGET, settings.model_copy(update={"Registries": []})))
    found.extend((entry.Name, entry.inheriting(settings)) for entry in settings.Registries)
    return found


def registry_targets(config: Any) -> list[Target]:
    """``Check.targets`` of the five OCI checks (see :mod:`doctor_core.targets`)."""
    if not isinstance(config, OciSettings) or isinstance(config, RegistryEntry):
        return []
    return [Target(name, settings) for name, settings in registries(config)]
