"""doctor: a plugin-based diagnostic framework.

The public API, for plugin authors and for applications embedding the engine::

    from doctor_core import Doctor, Check, CheckDefinition, CheckOutcome, Status, Severity, hookimpl

Names are resolved lazily (PEP 562) so that ``import doctor_core`` -- and therefore
``doctor --version`` -- stays cheap; the first access to a name imports the module holding it.
The names a plugin needs to register (``Check``, ``CheckDefinition``, ``Severity``, ``Status``,
``ConfigSection``, ``Reporter``, ``Command``, ``hookimpl``) do not import pydantic; the report
models (``CheckOutcome``, ``CheckResult``, ``Report`` ...) and ``SecretRef`` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from doctor_core._version import __version__

if TYPE_CHECKING:
    from doctor_core.api import Doctor
    from doctor_core.definitions import CheckDefinition, Severity, Status
    from doctor_core.errors import ConfigError, DoctorError, PluginError, UsageError
    from doctor_core.hookspecs import hookimpl
    from doctor_core.models import Cause, CheckOutcome, CheckResult, PluginProblem, Report, Summary
    from doctor_core.secrets import SecretRef
    from doctor_core.types import (
        Check,
        CheckContext,
        Command,
        CommandApp,
        ConfigFlag,
        ConfigSection,
        RenderOptions,
        Reporter,
    )

_EXPORTS = {
    "Doctor": "doctor_core.api",
    "ConfigError": "doctor_core.errors",
    "DoctorError": "doctor_core.errors",
    "PluginError": "doctor_core.errors",
    "UsageError": "doctor_core.errors",
    "hookimpl": "doctor_core.hookspecs",
    "CheckDefinition": "doctor_core.definitions",
    "Cause": "doctor_core.models",
    "CheckOutcome": "doctor_core.models",
    "CheckResult": "doctor_core.models",
    "PluginProblem": "doctor_core.models",
    "Report": "doctor_core.models",
    "Severity": "doctor_core.definitions",
    "Status": "doctor_core.definitions",
    "Summary": "doctor_core.models",
    "SecretRef": "doctor_core.secrets",
    "Check": "doctor_core.types",
    "CheckContext": "doctor_core.types",
    "Command": "doctor_core.types",
    "CommandApp": "doctor_core.types",
    "ConfigFlag": "doctor_core.types",
    "ConfigSection": "doctor_core.types",
    "RenderOptions": "doctor_core.types",
    "Reporter": "doctor_core.types",
}

__all__ = [
    "Cause",
    "Check",
    "CheckContext",
    "CheckDefinition",
    "CheckOutcome",
    "CheckResult",
    "Command",
    "CommandApp",
    "ConfigError",
    "ConfigFlag",
    "ConfigSection",
    "Doctor",
    "DoctorError",
    "PluginError",
    "PluginProblem",
    "RenderOptions",
    "Report",
    "Reporter",
    "SecretRef",
    "Severity",
    "Status",
    "Summary",
    "UsageError",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'doctor_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
