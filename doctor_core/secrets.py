"""``SecretRef``: configuration values that point at a secret instead of holding it.

A ``...SecretRef`` key takes ``env:NAME`` (an environment variable) or ``file:PATH`` (a file whose
content, without the trailing newline, is the secret). Use it in a plugin's settings model::

    class Settings(BaseModel):
        PasswordSecretRef: SecretRef | None = None

During validation the reference is resolved: the model then holds a :class:`ResolvedSecret`
whose ``value`` is a ``pydantic.SecretStr`` and whose ``ref`` (the reference text, not the
secret) is safe to show. The value is registered with :mod:`doctor_core.redact`. A missing
variable or unreadable file is a validation error naming the variable or file, so the user gets
exit code 2 with the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, SecretStr

from doctor_core.redact import register_secret

#: Larger secret files are refused: a SecretRef pointing at the wrong file should not load it.
MAX_SECRET_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class ResolvedSecret:
    """A secret resolved from a reference. ``str()`` and ``repr()`` never show the value."""

    ref: str
    value: SecretStr

    def get(self) -> str:
        return self.value.get_secret_value()

    def __repr__(self) -> str:
        return f"ResolvedSecret(ref={self.ref!r}, value=***)"

    __str__ = __repr__


def resolve_secret_ref(ref: str) -> ResolvedSecret:
    """Resolve ``env:NAME`` or ``file:PATH``; raise ``ValueError`` with a user-facing reason."""
    scheme, sep, target = ref.partition(":")
    scheme = scheme.strip().lower()
    target = target.strip()
    if not sep or not target or scheme not in {"env", "file"}:
        raise ValueError(f"secret reference {ref!r} must be 'env:NAME' or 'file:PATH'")
    if scheme == "env":
        if target not in os.environ:
            raise ValueError(f"environment variable {target!r} named by the secret reference is not set")
        value = os.environ[target]
    else:
        path = Path(target).expanduser()
        try:
            if path.stat().st_size > MAX_SECRET_FILE_BYTES:
                raise ValueError(f"secret file {str(path)!r} is larger than {MAX_SECRET_FILE_BYTES} bytes")
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except FileNotFoundError:
            raise ValueError(f"secret file {str(path)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"secret file {str(path)!r} cannot be read: {type(exc).__name__}") from None
    if not value:
        raise ValueError(f"the secret reference {ref!r} resolves to an empty value")
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
