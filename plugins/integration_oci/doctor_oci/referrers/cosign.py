"""cosign's ``COSIGN_REPOSITORY``: where an image's cosign-style tags live.

cosign writes (and reads) the legacy tags ``sha256-<hex>.sig`` / ``.att`` / ``.sbom`` in the
image's own repository, unless ``COSIGN_REPOSITORY=[registry/]repository`` names another one; then
it uses that repository *instead* [sigstore/cosign ``pkg/oci/remote/remote.go``, ``options.go``].

* :func:`parse_cosign_repository` -- the library rule, cosign's: ``[registry/]repository`` with the
  image-reference grammar and normalisation (no registry part means Docker Hub), no tag, no digest.
* :func:`cosign_repository_in_effect` -- what ``doctor oci referrers`` and the referrers check use:
  the ``--cosign-repository`` option, else ``OCI.CosignRepository``, else ``$COSIGN_REPOSITORY``
  (an empty value at any step means "none", and stops the search); a value without a registry
  part means the configured registry, as for the command's ``IMAGE``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from doctor_oci.client.reference import (
    InvalidReference,
    InvalidRegistryUrl,
    Reference,
    RegistryEndpoint,
    on_configured_registry,
)
from doctor_oci.settings import OciSettings

__all__ = [
    "COSIGN_REPOSITORY_ENV",
    "SETTING_KEY",
    "CosignRepository",
    "InvalidCosignRepository",
    "cosign_repository_in_effect",
    "parse_cosign_repository",
]

#: The environment variable cosign reads.
COSIGN_REPOSITORY_ENV = "COSIGN_REPOSITORY"
#: The configuration key that overrides it.
SETTING_KEY = "OCI.CosignRepository"
OPTION = "--cosign-repository"

_EXAMPLE = "e.g. registry.example.com/team/signatures"
_PARSE_PREFIX = re.compile(r"^invalid reference(?: format)?(?: '[^']*')?:\s*")


class InvalidCosignRepository(InvalidReference):
    """A cosign repository value that cannot be used: ``invalid <what> '<value>': <reason>``.

    ``reason`` alone (without the value) is what configuration errors show.
    """

    def __init__(self, what: str, value: str, reason: str) -> None:
        self.what = what
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {what} {value!r}: {reason}")


def parse_cosign_repository(value: str | Reference, *, what: str = "cosign repository") -> Reference:
    """``value`` (``[registry/]repository``, as cosign takes ``COSIGN_REPOSITORY``) as a
    :class:`Reference` without tag or digest (``str()`` gives ``registry/repository``).

    A string follows :meth:`Reference.parse` (``docker.io`` when no registry is named, ``library/``
    for single-segment Hub names); a tag, a digest, an empty value or a registry address that
    cannot be used raise :class:`InvalidCosignRepository` (an :class:`InvalidReference`, so a
    ``ValueError``) whose message starts with ``invalid <what> '<value>'``. A :class:`Reference`
    is taken as is, unless it carries a digest or a tag other than the default ``latest``.
    """
    if isinstance(value, Reference):
        if value.digest is not None or value.tag not in (None, "latest"):
            raise InvalidCosignRepository(
                what, str(value), f"name a repository, without tag or digest ({_EXAMPLE})"
            )
        return Reference(value.registry, value.repository, tag=None)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string or a Reference, got {type(value).__name__}")
    text = value.strip()

    def invalid(reason: str) -> InvalidCosignRepository:
        return InvalidCosignRepository(what, text, reason)

    if not text:
        raise invalid(f"empty; expected [REGISTRY/]REPOSITORY ({_EXAMPLE})")
    if "@" in text:
        raise invalid(f"a repository cannot have a digest; expected [REGISTRY/]REPOSITORY ({_EXAMPLE})")
    if ":" in text.rsplit("/", 1)[-1]:
        alone = "" if "/" in text else ", and a registry alone is not a repository"
        raise invalid(f"a repository cannot have a tag{alone}; expected [REGISTRY/]REPOSITORY ({_EXAMPLE})")
    try:
        parsed = Reference.parse(text)
        RegistryEndpoint.parse(parsed.registry)
    except (InvalidReference, InvalidRegistryUrl) as exc:
        reason = _PARSE_PREFIX.sub("", str(exc))
        if reason.startswith("expected"):
            reason = "expected [REGISTRY/]REPOSITORY, lowercase path components separated by '/'"
            reason += f" ({_EXAMPLE})"
        raise invalid(reason) from None
    return Reference(parsed.registry, parsed.repository, tag=None)


@dataclass(frozen=True)
class CosignRepository:
    """The cosign repository in effect for a command or check run, and where it was set."""

    reference: Reference
    #: ``--cosign-repository``, ``OCI.CosignRepository`` or ``COSIGN_REPOSITORY``.
    source: str

    def __str__(self) -> str:
        return str(self.reference)


def cosign_repository_in_effect(
    settings: OciSettings, option: str | None = None, environ: Mapping[str, str] | None = None
) -> CosignRepository | None:
    """The cosign repository the command and the check read cosign-style tags from, or ``None``.

    The first of ``option`` (``--cosign-repository``), ``settings.CosignRepository`` and
    ``$COSIGN_REPOSITORY`` (``environ``, default the process environment, like ``DOCKER_CONFIG``)
    that is set decides; an empty value means "the image's own repository" and ignores the later
    ones. A value without a registry part names a repository on ``OCI.RegistryUrl`` when that is
    configured (the command's rule for ``IMAGE``), else on Docker Hub.

    Raises :class:`InvalidCosignRepository` naming the source (``invalid COSIGN_REPOSITORY 'X': ...``).
    """
    env = os.environ if environ is None else environ
    for source, raw in (
        (OPTION, option),
        (SETTING_KEY, settings.CosignRepository),
        (COSIGN_REPOSITORY_ENV, env.get(COSIGN_REPOSITORY_ENV)),
    ):
        if raw is None:
            continue
        text = raw.strip()
        if not text:
            return None
        qualified = on_configured_registry(text, settings.RegistryUrl)
        try:
            reference = parse_cosign_repository(qualified, what=source)
        except InvalidCosignRepository:
            if qualified == text:
                raise
            # Report the value as written, not with the registry prepended.
            parse_cosign_repository(text, what=source)
            raise
        return CosignRepository(reference, source)
    return None
