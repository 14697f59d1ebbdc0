"""doctor as the registry client's host: the client's hooks, installed once, on import.

:mod:`doctor_oci.client` depends on httpx and the standard library only and takes what it needs
from its host through :mod:`doctor_oci.client.hooks`. This module installs doctor's:

* ``redact`` = ``doctor_core.redact`` (known secrets and secret shapes: the one redaction
  mechanism of a doctor process);
* ``register_secret`` = ``doctor_core.register_secret`` (every credential the client resolves or
  obtains is masked everywhere doctor writes: reports, logs, evidence);
* ``logger_factory`` = ``doctor_core.get_logger(component="doctor_oci.client")``, looked up per
  event (the CLI configures the pipeline after import);
* ``time_left`` = ``doctor_core.time_left`` (the running check's deadline).

Importing it is the wiring: ``doctor_oci.settings`` imports it, so every route of the plugin to a
client -- the checks (:mod:`doctor_oci.runtime`), ``doctor oci referrers``, ``doctor oci
matrix``, ``discover_referrers_sync`` and anyone building a client from ``OciSettings`` -- runs
with doctor's hooks. An embedder using :mod:`doctor_oci.client` with its own settings object
gets the client's standalone defaults unless it imports this module (or installs its own hooks).
Cheap: neither httpx nor pydantic is imported here.
"""

from __future__ import annotations

from typing import Any

import doctor_core
from doctor_oci.client.hooks import ClientHooks, install_hooks

__all__ = ["DOCTOR_HOOKS", "install"]


def _logger() -> Any:
    return doctor_core.get_logger(component="doctor_oci.client")


DOCTOR_HOOKS = ClientHooks(
    redact=doctor_core.redact,
    register_secret=doctor_core.register_secret,
    logger_factory=_logger,
    time_left=doctor_core.time_left,
)


def install() -> None:
    """Install doctor's hooks (again: after a test installed others). Done on import."""
    install_hooks(DOCTOR_HOOKS)


install()
