"""What the registry client needs from the application hosting it, injected in one place.

The client depends on httpx and the standard library only. Four things come from its host, as
one frozen :class:`ClientHooks` installed process-wide with :func:`install_hooks`:

* ``redact(text) -> text``: applied to every string the client puts in an error (``str`` and
  ``repr`` of :class:`~doctor_oci.client.errors.RegistryError`, ``Credentials``, the client), a
  request description or a log event;
* ``register_secret(value, *, username=None)``: called with every credential the client resolves
  or obtains (passwords, static and identity tokens, docker ``auth`` values, the ``Basic``
  header value, tokens and refresh tokens from a token service) before it is used; with
  ``username``, the ``user:password`` base64 form belongs to it too;
* ``logger_factory() -> logger``: called per event; the logger has
  ``debug(event, **fields)`` (structlog's shape) and, optionally, ``is_enabled_for(level)``;
* ``time_left() -> seconds | None``: the caller's remaining time (no attempt or retry of a
  request outlives it), ``None`` for no deadline.

**Defaults** (no host installed, e.g. the client used on its own): ``redact`` masks the secrets
registered through ``register_secret`` -- the client's own, in their plain and base64 forms --
and nothing else (no pattern matching: that is the host's job); the logger discards every
event; there is no deadline. Secrets registered while the defaults are in effect are handed to
the host's ``register_secret`` when a host installs its hooks, so nothing learned before is lost.

**doctor** installs ``doctor_core``'s redaction, secret registry, logger and check deadline
(:mod:`doctor_oci.hosting`, imported by ``doctor_oci.settings`` and so by every route of the
plugin to a client): then doctor's redaction is the only one, and the defaults above play no part.

The client's modules call the module-level :func:`redact`, :func:`register_secret`,
:func:`logger` and :func:`time_left`, which read the installed hooks at each call.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "MASK",
    "ClientHooks",
    "ClientLogger",
    "RegisterSecret",
    "install_hooks",
    "installed_hooks",
    "logger",
    "redact",
    "register_secret",
    "time_left",
]

#: What a masked value is replaced with (doctor's ``MASK`` too).
MASK = "***"
#: Shorter values are not registered by the defaults: masking "a" everywhere would destroy output.
MIN_SECRET_LENGTH = 4


class ClientLogger(Protocol):
    """The logging the client does: structured debug events (``structlog``'s call shape)."""

    def debug(self, event: str, /, **fields: Any) -> Any: ...


class RegisterSecret(Protocol):
    def __call__(self, value: str | None, *, username: str | None = None) -> None: ...


class _SilentLogger:
    """The default logger: every event discarded, and said so before it is built."""

    def debug(self, event: str, /, **fields: Any) -> None:
        return None

    def is_enabled_for(self, level: int) -> bool:
        return False


_SILENT = _SilentLogger()

# -- the defaults' own registered secrets ---------------------------------------------------------
_lock = threading.Lock()
#: ``(value, username)`` as registered, replayed to a host installing its hooks later.
_registered: dict[tuple[str, str | None], None] = {}
#: Every masked form, longest first (a tuple swapped in whole: read without the lock).
_forms: tuple[str, ...] = ()


def _b64_forms(value: str) -> set[str]:
    raw = value.encode()
    forms: set[str] = set()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode()
        forms.update((text, text.rstrip("=")))
    return forms


def default_register_secret(value: str | None, *, username: str | None = None) -> None:
    """Remember ``value`` (and its base64 forms; with ``username``, those of ``username:value``)."""
    global _forms
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value} | _b64_forms(value)
    if username is not None:
        forms |= _b64_forms(f"{username}:{value}")
    with _lock:
        _registered[(value, username)] = None
        merged = set(_forms) | {form for form in forms if len(form) >= MIN_SECRET_LENGTH}
        _forms = tuple(sorted(merged, key=len, reverse=True))


def default_redact(text: str) -> str:
    """``text`` with the secrets registered through :func:`default_register_secret` masked."""
    if not text:
        return text
    for form in _forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def _silent_logger() -> ClientLogger:
    return _SILENT


def _no_deadline() -> float | None:
    return None


@dataclass(frozen=True)
class ClientHooks:
    """The host's services the client uses (see the module docstring). Defaults: standalone."""

    redact: Callable[[str], str] = default_redact
    register_secret: RegisterSecret = default_register_secret
    logger_factory: Callable[[], ClientLogger] = _silent_logger
    time_left: Callable[[], float | None] = _no_deadline


_installed = ClientHooks()


def install_hooks(hooks: ClientHooks) -> ClientHooks:
    """Make ``hooks`` the client's, process-wide; returns the hooks installed before.

    Secrets the defaults registered so far are passed to ``hooks.register_secret`` first.
    Installing the previous hooks again restores them (tests).
    """
    global _installed
    with _lock:
        known = list(_registered)
    for value, username in known:
        hooks.register_secret(value, username=username)
    previous, _installed = _installed, hooks
    return previous


def installed_hooks() -> ClientHooks:
    """The hooks in effect."""
    return _installed


def redact(text: str) -> str:
    """``text`` passed through the installed ``redact``."""
    return _installed.redact(text)


def register_secret(value: str | None, *, username: str | None = None) -> None:
    """Register ``value`` with the installed ``register_secret``."""
    _installed.register_secret(value, username=username)


def logger() -> ClientLogger:
    """The installed logger (asked for per event: a host may configure logging after import)."""
    return _installed.logger_factory()


def time_left() -> float | None:
    """Seconds the caller has left (``<= 0`` once passed), ``None`` for no deadline."""
    return _installed.time_left()
