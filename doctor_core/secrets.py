"""``SecretRef``: configuration values that point at a secret instead of holding it.

A ``...SecretRef`` key takes ``env:NAME`` (an environment variable) or ``file:PATH`` (a file whose
content, without the trailing newline, is the secret). Use it in a plugin's settings model::

    class Settings(BaseModel):
        PasswordSecretRef: SecretRef | None = None

During validation the reference is resolved: the model then holds a :class:`ResolvedSecret`
whose ``value`` is a ``pydantic.SecretStr`` and whose ``ref`` (the reference text, not the
secret) is safe to show. The value is registered with :mod:`doctor_core.redaction`. A missing
variable or unreadable file is a validation error, so the user gets exit code 2 with the key.

Errors never echo what they cannot be sure is not the secret itself: users paste the password
into ``...SecretRef`` by mistake (``OCI__PasswordSecretRef=<the password>``, ``env:<the password>``,
``file:<the password>``). So a reference that is not ``env:NAME`` / ``file:PATH`` is described by
its shape ("a 24-character value without a scheme"); a variable name is shown only when it is a
valid name (letters, digits, ``_``, not starting with a digit); a file path only when it looks
like a path (it has a ``/``, or starts with ``~`` or ``.``) or the file exists.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, SecretStr

from doctor_core.redaction import register_secret

#: Larger secret files are refused: a SecretRef pointing at the wrong file should not load it.
MAX_SECRET_FILE_BYTES = 64 * 1024


@dataclass(frozen=True, repr=False)  # its own __repr__ (below): don't generate one to discard
class ResolvedSecret:
    """A secret resolved from a reference. ``str()`` and ``repr()`` never show the value."""

    ref: str
    value: SecretStr

    def get(self) -> str:
        return self.value.get_secret_value()

    def __repr__(self) -> str:
        return f"ResolvedSecret(ref={self.ref!r}, value=***)"

    __str__ = __repr__


_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def describe_shape(value: str) -> str:
    """What ``value`` looks like, showing none of it: ``"a value of 24 characters without a scheme"``."""
    if not value:
        return "an empty value"
    scheme, sep, _rest = value.partition(":")
    if not sep:
        return f"a value of {len(value)} characters without a scheme"
    return (
        f"a value of {len(value)} characters whose part before ':' ({len(scheme)} characters) "
        "is not 'env' or 'file'"
    )


def _shown_variable(name: str) -> str:
    if _VARIABLE_NAME.fullmatch(name):
        return f"environment variable {name!r} named by the secret reference"
    return (
        f"the environment variable named by the secret reference ({len(name)} characters, "
        "not a valid variable name)"
    )


def _shown_path(path: Path, target: str, exists: bool) -> str:
    if exists or "/" in target or target.startswith(("~", ".")):
        return f"secret file {str(path)!r}"
    return f"the secret file named by the reference ({len(target)} characters, without a directory)"


def resolve_secret_ref(ref: str) -> ResolvedSecret:
    """Resolve ``env:NAME`` or ``file:PATH``; raise ``ValueError`` with a user-facing reason.

    The reason never contains ``ref`` itself (it may be the secret; see the module docstring).
    """
    scheme, sep, target = ref.partition(":")
    scheme = scheme.strip().lower()
    target = target.strip()
    if not sep or not target or scheme not in {"env", "file"}:
        raise ValueError(
            f"a secret reference must be 'env:NAME' or 'file:PATH'; got {describe_shape(ref.strip())}"
        )
    if scheme == "env":
        if target not in os.environ:
            raise ValueError(f"{_shown_variable(target)} is not set")
        value = os.environ[target]
        shown = _shown_variable(target)
    else:
        path = Path(target).expanduser()
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ValueError(f"{_shown_path(path, target, exists=False)} does not exist") from None
        except OSError as exc:
            shown = _shown_path(path, target, exists=False)
            raise ValueError(f"{shown} cannot be read: {type(exc).__name__}") from None
        shown = _shown_path(path, target, exists=True)
        if size > MAX_SECRET_FILE_BYTES:
            raise ValueError(f"{shown} is larger than {MAX_SECRET_FILE_BYTES} bytes")
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{shown} cannot be read: {type(exc).__name__}") from None
    if not value:
        raise ValueError(f"the secret reference resolves to an empty value ({shown})")
    register_secret(value)
    return ResolvedSecret(ref=ref, value=SecretStr(value))


def _validate(value: Any) -> ResolvedSecret:
    if isinstance(value, ResolvedSecret):
        return value
    if not isinstance(value, str):
        raise ValueError("a secret reference must be a string like 'env:NAME' or 'file:PATH'")
    return resolve_secret_ref(value)


#: Pydantic field type for ``...SecretRef`` keys; serializes back to the reference text.
SecretRef = Annotated[
    ResolvedSecret,
    BeforeValidator(_validate),
    PlainSerializer(lambda secret: secret.ref, return_type=str),
]
