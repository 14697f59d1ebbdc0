"""The result of referrer discovery: a public JSON contract.

``ReferrersResult.model_dump_json()`` is what ``doctor oci referrers --format json`` prints and what
embedders receive. The field names below are stable: renaming one is a breaking change.

``method`` names the sources that were *consulted* (not only those that produced an entry), in
the fixed order ``referrers-api``, ``tag-schema``, ``cosign-tags``, joined by ``+``:

* ``referrers-api`` -- the registry's OCI 1.1 referrers API answered (zero or more referrers);
* ``tag-schema+cosign-tags`` -- the API was unsupported (or skipped with ``method="fallback"``),
  so the ``<alg>-<hex>`` index tag and the cosign-style ``.sig``/``.att``/``.sbom`` tags were read.

* ``referrers-api+cosign-tags`` -- the API answered, and cosign's legacy ``.sig``/``.att``/``.sbom``
  tags were read beside it (cosign v2 writes them also on registries with the API).

Each referrer's ``source`` says where it was found first (a digest reachable from several sources
is listed once, with the first source in that order; a cosign tag found for an entry listed
earlier adds its ``tag`` and ``kind`` to it). ``kind`` says what the referrer is (signature,
attestation, SBOM) when its cosign tag or artifact type tells; ``tag`` is the cosign tag it was
found under. ``artifact_type`` is what the API or the index entry lists (``artifactType``); for
cosign tags, read from the manifest itself (see :mod:`doctor_oci.referrers.kinds`).

``stale`` is present only with ``verify=True``: the entries of the ``<alg>-<hex>`` index whose
manifest no longer exists (deleted referrers the index still lists); they are not in ``referrers``.

``cosign_repository`` (``registry/repository``) is present only when the cosign-style tags were
read from a repository other than the subject's (cosign's ``COSIGN_REPOSITORY``); it is left out of
the JSON otherwise, so results without it keep the original shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from doctor_oci.referrers.kinds import Kind

#: How discovery may proceed: the API when supported else fallback, the API only, fallback only.
Method = Literal["auto", "api", "fallback"]
#: Where a referrer was found.
Source = Literal["referrers-api", "tag-schema", "cosign-tags"]

SOURCE_API: Source = "referrers-api"
SOURCE_TAG_SCHEMA: Source = "tag-schema"
SOURCE_COSIGN: Source = "cosign-tags"
#: The order sources are consulted, listed in ``method`` and merged in.
SOURCE_ORDER: tuple[Source, ...] = (SOURCE_API, SOURCE_TAG_SCHEMA, SOURCE_COSIGN)


class Referrer(BaseModel):
    """One artifact whose ``subject`` is the image: a descriptor plus where it was found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    digest: str
    media_type: str
    artifact_type: str | None = Field(
        description="What the referrers API or tag-schema index lists as artifactType (None when it "
        "lists none); for cosign tags the manifest's artifactType, else its layers' media type "
        "(generic config), else its config mediaType"
    )
    size: int = Field(ge=0)
    annotations: dict[str, str] = Field(default_factory=dict)
    source: Source
    kind: Kind | None = Field(
        default=None, description="signature, attestation or sbom, from the cosign tag or the artifact type"
    )
    tag: str | None = Field(
        default=None, description="The cosign tag (sha256-<hex>.sig/.att/.sbom) it was found under"
    )


class Subject(BaseModel):
    """The image whose referrers were listed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: str = Field(description="The image reference, normalized (registry/repository:tag or @digest)")
    digest: str = Field(description="The manifest digest the referrers point to")


class ReferrersResult(BaseModel):
    """What :func:`doctor_oci.referrers.discover_referrers` returns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: Subject
    method: str = Field(description="Sources consulted, '+'-joined: referrers-api, tag-schema, cosign-tags")
    referrers_api_supported: bool | None = Field(
        description="Whether the registry's referrers API is usable (None: not probed, method=fallback)"
    )
    referrers: list[Referrer]
    cosign_repository: str | None = Field(
        default=None,
        description="Where the cosign-style tags were read (registry/repository) when that is not the "
        "subject's repository (COSIGN_REPOSITORY); left out of the output otherwise",
    )
    stale: list[Referrer] | None = Field(
        default=None,
        description="With verify: tag-schema index entries whose manifest no longer exists (not in "
        "referrers); left out of the output otherwise",
    )

    @model_serializer(mode="wrap")
    def _leave_out_unset_optional_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("cosign_repository", "stale"):
            if data.get(key, "") is None:
                del data[key]
        return data


@dataclass(frozen=True)
class ApiProbe:
    """What one ``GET /v2/<name>/referrers/<digest>`` told us about the registry's referrers API.

    ``supported`` decides between the native path and the fallback. ``index`` is the parsed first
    page when supported; ``url`` (the page's final URL) and ``link`` (its raw ``Link`` header) let
    the caller follow pagination from there without repeating the request.
    """

    supported: bool
    status: int
    reason: str
    content_type: str | None
    error_code: str | None
    index: dict[str, Any] | None
    filters_applied: tuple[str, ...]
    url: str | None = None
    link: str | None = None
    #: Bytes of the probe's body (the first page counts against the listing's budget).
    size: int = 0
