"""What the registry client reads from its configuration, as a structural type.

The client is a lower layer than the plugin's configuration model: it never imports
:mod:`doctor_oci.settings`. It is built from any object with these read-only attributes --
``doctor_oci.settings.OciSettings`` is one (the adapter the checks and commands use,
:mod:`doctor_oci.runtime`), a test or an embedder may pass another. Secrets are objects with
``get_secret_value()`` (:class:`SecretValue`, pydantic's ``SecretStr`` or anything shaped like
them), so that they are never plain strings in a ``repr``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

__all__ = ["ClientSettings", "Secret", "SecretValue"]


class Secret(Protocol):
    """A secret value that does not show itself in ``repr`` (:class:`SecretValue` and
    ``pydantic.SecretStr`` are two)."""

    def get_secret_value(self) -> str: ...


class SecretValue:
    """The client's own :class:`Secret`: a string whose ``repr`` and ``str`` never show it.

    What the client resolves itself (docker config, credential helpers, containers auth) is held
    as one. Equal when the values are equal, like ``pydantic.SecretStr``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue('**********')" if self._value else "SecretValue('')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)


class ClientSettings(Protocol):
    """The configuration a :class:`~doctor_oci.client.client.RegistryClient` is built from."""

    @property
    def RegistryUrl(self) -> str | None: ...
    @property
    def Username(self) -> str | None: ...
    @property
    def Password(self) -> Secret | None: ...
    @property
    def PasswordSecretRef(self) -> Any: ...
    @property
    def Token(self) -> Secret | None: ...
    @property
    def TestRepository(self) -> str: ...
    @property
    def TestTag(self) -> str: ...
    @property
    def TimeoutSeconds(self) -> float: ...
    @property
    def CaBundle(self) -> Path | None: ...
    @property
    def Insecure(self) -> bool: ...
    @property
    def DockerConfig(self) -> Path | None: ...

    def password(self) -> str | None:
        """The password: ``Password``, else what ``PasswordSecretRef`` resolves to."""
        ...
