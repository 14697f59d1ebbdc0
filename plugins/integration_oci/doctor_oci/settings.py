"""The ``OCI`` configuration section: the seed's keys, exactly as users write them.

YAML::

    OCI:
      RegistryUrl: "https://registry.example.com"
      Username: "service-account"
      PasswordSecretRef: "env:REGISTRY_PASSWORD"
      TestRepository: "stellaops/test"

Environment: ``OCI__RegistryUrl=...``, ``OCI__Username=...`` (keys match case-insensitively).
Command line: ``--insecure`` sets ``Insecure``.

Credentials are checked for what their HTTP header can carry, at configuration time (a
configuration error, exit 2, naming the key and never quoting the value):

* ``Token`` goes into ``Authorization: Bearer <token>`` as is: only visible ASCII (``!`` .. ``~``)
  is accepted -- no whitespace, control characters or non-ASCII (RFC 6750's ``b64token`` is a
  subset). A newline could otherwise split the header; non-ASCII cannot be encoded at all.
* ``Username`` and ``Password`` travel base64-encoded in ``Authorization: Basic``, as UTF-8
  (RFC 7617 ``charset="UTF-8"``; docker and Go send the string's UTF-8 bytes too), so any
  Unicode text works, but RFC 7617 forbids control characters in both and a ``:`` in the user.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

import doctor_oci.hosting  # noqa: F401  (installs doctor's client hooks: every OciSettings user has them)
from doctor_core import SecretRef


def _no_registries() -> list[RegistryEntry]:
    """``OCI.Registries``' default: a Python function, not the builtin ``list``.

    pydantic reads a default factory's signature when it builds the model; a builtin's is parsed
    from its text with :mod:`tokenize`, whose patterns compile on first use -- 2-6 ms of every
    cold ``doctor --tag registry`` run, which builds no other model with a builtin factory.
    """
    return []


class OciSettings(BaseModel):
    """Validated ``OCI`` section. Secrets are ``SecretStr``: never shown by ``repr`` or ``str``."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    RegistryUrl: str | None = Field(
        default=None,
        description="Registry to check, with or without scheme (https assumed; http only when "
        "written explicitly, or for localhost/127.0.0.1 as docker does)",
    )
    Username: str | None = Field(default=None, description="User for basic auth / token exchange")
    Password: SecretStr | None = Field(default=None, description="Password (prefer PasswordSecretRef)")
    PasswordSecretRef: SecretRef | None = Field(
        default=None, description="Where to read the password: 'env:NAME' or 'file:PATH'"
    )
    Token: SecretStr | None = Field(
        default=None, description="Static bearer token (alternative to username/password)"
    )
    TestRepository: str = Field(default="library/alpine", description="Repository probed by the checks")
    TestTag: str = Field(default="latest", description="Tag probed by the pull and referrers checks")
    TimeoutSeconds: float = Field(
        default=10.0, gt=0, le=600, description="Connect/read timeout per HTTP request"
    )
    CaBundle: Path | None = Field(
        default=None, description="PEM file of CA certificates to trust (private CAs)"
    )
    Insecure: bool = Field(
        default=False, description="Skip TLS verification (also --insecure). Not for production."
    )
    DockerConfig: Path | None = Field(
        default=None,
        description="Docker config.json to read credentials from when none are configured "
        "(default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json)",
    )
    CosignRepository: str | None = Field(
        default=None,
        description="[registry/]repository holding the test image's cosign .sig/.att/.sbom tags, as "
        "cosign's COSIGN_REPOSITORY (which is used when this is unset; an empty value ignores it). "
        "Without a registry part: a repository on RegistryUrl",
    )

    @field_validator("RegistryUrl")
    @classmethod
    def _registry_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # Imported here: the client package pulls in httpx, which `doctor list` must not pay for.
        from doctor_oci.client.reference import InvalidRegistryUrl, RegistryEndpoint

        try:
            RegistryEndpoint.parse(value)
        except InvalidRegistryUrl as exc:
            raise ValueError(str(exc)) from None
        return value.strip()

    @field_validator("Token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        # Imported here, like RegistryUrl's parser: `doctor list` must not import httpx.
        from doctor_oci.client.auth import usable_token

        if not usable_token(value.get_secret_value().strip()):
            raise ValueError(
                "the token cannot go into an HTTP Authorization header: only visible ASCII is "
                "allowed (no spaces, newlines, control characters or non-ASCII); the value is not shown"
            )
        return SecretStr(value.get_secret_value().strip())

    @field_validator("Username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is not None and (_has_control(value) or ":" in value):
            raise ValueError("a user name may not contain ':' or control characters (RFC 7617)")
        return value

    @field_validator("Password")
    @classmethod
    def _password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and _has_control(value.get_secret_value()):
            raise ValueError(
                "a password may not contain control characters (RFC 7617); the value is not shown"
            )
        return value

    @field_validator("TestRepository")
    @classmethod
    def _repository(cls, value: str) -> str:
        value = value.strip("/")
        if not value:
            raise ValueError("must name a repository, e.g. 'library/alpine'")
        return value

    @field_validator("CosignRepository")
    @classmethod
    def _cosign_repository(cls, value: str | None) -> str | None:
        if not value:
            return value  # None: unset (COSIGN_REPOSITORY applies); "": explicitly none
        # Imported here, like RegistryUrl's parser: `doctor list` must not import httpx.
        from doctor_oci.referrers.cosign import InvalidCosignRepository, parse_cosign_repository

        try:
            parse_cosign_repository(value)
        except InvalidCosignRepository as exc:
            raise ValueError(f"not a usable [registry/]repository: {exc.reason}") from None
        return value

    @field_validator("CaBundle")
    @classmethod
    def _ca_bundle(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"CA bundle {str(value)!r} is not a readable file")
        return value.expanduser() if value is not None else None

    Registries: list[RegistryEntry] = Field(
        default_factory=_no_registries,
        description="More registries to check in the same run, each with the keys above plus a "
        "Name (see docs/configuration.md: what an entry inherits from the top level)",
    )

    @field_validator("Registries")
    @classmethod
    def _unique_names(cls, entries: list[RegistryEntry] | None) -> list[RegistryEntry] | None:
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries or ()):
            folded = entry.Name.lower()
            if folded in seen:
                raise ValueError(
                    f"duplicate registry Name {entry.Name!r} (entries {seen[folded]} and {index}); "
                    "each entry needs its own Name"
                )
            seen[folded] = index
        return entries

    @model_validator(mode="after")
    def _default_name_free(self) -> OciSettings:
        if self.RegistryUrl and any(entry.Name.lower() == DEFAULT_TARGET for entry in self.Registries or ()):
            raise ValueError(
                f"registry Name {DEFAULT_TARGET!r} is taken by OCI.RegistryUrl's registry; "
                "give the entry another Name"
            )
        return self

    def password(self) -> str | None:
        """The configured password: ``Password``, else the one ``PasswordSecretRef`` resolved to."""
        if self.Password is not None:
            return self.Password.get_secret_value()
        if self.PasswordSecretRef is not None:
            return self.PasswordSecretRef.get()
        return None


def _has_control(text: str) -> bool:
    """True when ``text`` holds a C0/C1 control character or DEL (Unicode category ``Cc``)."""
    return any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in text)


#: The target name of the top-level registry (``OCI.RegistryUrl``) when ``OCI.Registries`` adds more.
DEFAULT_TARGET = "default"

#: Keys an entry of ``OCI.Registries`` takes from the top level when it does not set them: only
#: non-secret defaults of *what* to probe and how long to wait. Credentials (Username, Password,
#: PasswordSecretRef, Token), trust (CaBundle, Insecure) and where to look (CosignRepository) are
#: never inherited: an entry has exactly the credentials and trust written in it. DockerConfig is
#: inherited because a docker config maps each host to its own credentials: the entry still gets
#: only its own host's.
INHERITED_KEYS: tuple[str, ...] = ("TestRepository", "TestTag", "TimeoutSeconds", "DockerConfig")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class RegistryEntry(OciSettings):
    """One entry of ``OCI.Registries``: the seed's keys for another registry, plus its ``Name``.

    ``RegistryUrl`` is required; ``Name`` is a simple word (letters, digits, ``_``, ``-``), unique
    among the entries (case-insensitively), used in the report (``target``) and by ``--target``.
    """

    Name: str = Field(description="Simple word naming this registry in reports and --target")
    # An entry cannot hold entries of its own (the key is accepted only to say so).
    Registries: None = Field(default=None, exclude=True)  # type: ignore[assignment]

    @field_validator("Name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"registry Name {value!r} is not a simple word (letters, digits, '_' or '-', "
                "starting with a letter or digit, at most 63 characters)"
            )
        return value

    @model_validator(mode="after")
    def _needs_url(self) -> RegistryEntry:
        if not self.RegistryUrl:
            raise ValueError(f"registry {self.Name!r} has no RegistryUrl")
        return self

    def inheriting(self, top: OciSettings) -> RegistryEntry:
        """This entry with :data:`INHERITED_KEYS` it does not set taken from ``top``."""
        updates: dict[str, Any] = {
            key: getattr(top, key)
            for key in INHERITED_KEYS
            if key not in self.model_fields_set and key in top.model_fields_set
        }
        return self.model_copy(update=updates) if updates else self


OciSettings.model_rebuild()
