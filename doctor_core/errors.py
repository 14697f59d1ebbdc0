"""Exceptions the core raises to callers (the CLI maps each to an exit code and a message).

Every message is written for the person running doctor: it names the key, file, check or plugin
involved and what to do. None carries a secret (messages pass through :mod:`doctor_core.redaction`).
"""

from __future__ import annotations


class DoctorError(Exception):
    """Base class of every error doctor reports without a traceback."""

    exit_code = 1


class UsageError(DoctorError):
    """The command line asks for something that does not exist or does not fit (exit 2)."""

    exit_code = 2


class ConfigError(DoctorError):
    """The configuration file, environment or a secret reference is invalid (exit 2).

    ``key`` is the dotted path of the offending key (``OCI.TimeoutSeconds``) when known.
    """

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None) -> None:
        self.key = key
        self.source = source
        where = f"{key}: " if key else ""
        origin = f" (from {source})" if source else ""
        super().__init__(f"{where}{message}{origin}")


class PluginError(DoctorError):
    """A plugin could not be loaded or registered and ``--strict-plugins`` is on (exit 2)."""

    exit_code = 2
