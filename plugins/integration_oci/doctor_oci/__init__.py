"""doctor's OCI registry integration: the five registry checks and referrer discovery.

Library use (no doctor run needed)::

    from doctor_oci import discover_referrers_sync
    result = discover_referrers_sync("registry.example.com/app@sha256:...")

Names are imported lazily so that loading the plugin (``doctor list``) does not import httpx.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "OciSettings": "doctor_oci.settings",
    "RegistryClient": "doctor_oci.client",
    "Reference": "doctor_oci.client.reference",
    "discover_referrers": "doctor_oci.referrers",
    "discover_referrers_sync": "doctor_oci.referrers",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'doctor_oci' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
