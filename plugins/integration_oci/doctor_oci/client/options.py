"""What the registry client reads from its configuration, as a structural type.

The client is a lower layer than the plugin's configuration model: it never imports
:mod:`doctor_oci.settings`. It is built from any object with these read-only attributes --
``doctor_oci.settings.OciSettings`` is one (the adapter the checks and commands use,
:mod:`doctor_oci.runtime`), a test or an embedder may pass another. Secrets are objects with
``get_secret_value()`` (pydantic's ``SecretStr`` or anything shaped like it), so that they are
never plain strings in a ``repr``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

__all__ = ["ClientSettings", "Secret"]


class Secret(Protocol):
    """A secret value that does not show itself in ``repr`` (``pydantic.SecretStr`` is one)."""

    def get_secret_value(self) -> str: ...


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
