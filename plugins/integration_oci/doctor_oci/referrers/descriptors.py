"""Validating what registries send as descriptors, and naming the fallback tags.

Registries and other clients write the referrers index; a malformed entry must not crash discovery
or reach the user as a referrer. :func:`referrers_from_index` keeps the entries that are real
descriptors and counts the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from doctor_oci.referrers.kinds import kind_of
from doctor_oci.referrers.models import Referrer, Source

OCI_INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
#: rc1 of distribution-spec v1.1 announced server-side filtering with this index annotation.
FILTERS_ANNOTATION = "org.opencontainers.referrers.filtersApplied"
FILTERS_HEADER = "OCI-Filters-Applied"
#: The suffixes cosign gives its legacy tags (signatures, attestations, SBOMs).
COSIGN_SUFFIXES: tuple[str, ...] = ("att", "sbom", "sig")

_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_NOT_TAG_CHARS = re.compile(r"[^a-zA-Z0-9._-]")


def is_valid_digest(value: object) -> bool:
    """Whether ``value`` is an OCI digest (``alg:encoded``; sha256/sha512 checked as lowercase hex)."""
    if not isinstance(value, str) or not _DIGEST.match(value):
        return False
    algorithm, _, encoded = value.partition(":")
    expected = _HEX_LENGTHS.get(algorithm)
    if expected is None:
        return True
    return len(encoded) == expected and all(c in "0123456789abcdef" for c in encoded)


def referrers_tag(digest: str) -> str:
    """The referrers tag schema's tag for ``digest`` (distribution-spec main, PR #563).

    ``<alg>-<encoded>`` with the algorithm truncated to 32 characters, the encoded part to 64, and
    every character not allowed in a tag replaced by ``-``: ``sha256:<hex>`` -> ``sha256-<hex>``,
    ``sha512:<hex>`` -> ``sha512-<first 64 hex>``. Raises ``ValueError`` for a malformed digest.
    """
    if not is_valid_digest(digest):
        raise ValueError(f"not a valid digest: {digest!r}")
    algorithm, _, encoded = digest.partition(":")
    return _NOT_TAG_CHARS.sub("-", f"{algorithm[:32]}-{encoded[:64]}")


def cosign_tags(digest: str) -> frozenset[str]:
    """The cosign-style tags that may hold artifacts for ``digest``.

    cosign writes ``<alg>-<full hex>.<sig|att|sbom>``; for digests longer than a tag allows, the
    truncated referrers-tag form is accepted too.
    """
    if not is_valid_digest(digest):
        raise ValueError(f"not a valid digest: {digest!r}")
    algorithm, _, encoded = digest.partition(":")
    stems = {f"{algorithm}-{encoded}", referrers_tag(digest)}
    return frozenset(f"{stem}.{suffix}" for stem in stems for suffix in COSIGN_SUFFIXES)


def _string_map(value: object) -> dict[str, str] | None:
    """``value`` as annotations (``None`` when it is not a mapping of strings to strings)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return None
    if not all(isinstance(key, str) and isinstance(item, str) for key, item in value.items()):
        return None
    return dict(value)


def referrer_from_descriptor(entry: object, source: Source) -> Referrer | None:
    """A :class:`Referrer` from one index entry, or ``None`` when the entry is not a descriptor.

    A descriptor needs ``mediaType`` (non-empty string), a valid ``digest`` and an integer
    ``size >= 0``; ``artifactType`` (string) and ``annotations`` (strings) are optional.
    """
    if not isinstance(entry, Mapping):
        return None
    media_type, digest, size = entry.get("mediaType"), entry.get("digest"), entry.get("size")
    artifact_type = entry.get("artifactType")
    annotations = _string_map(entry.get("annotations"))
    if not isinstance(media_type, str) or not media_type or not is_valid_digest(digest):
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return None
    if artifact_type is not None and not isinstance(artifact_type, str):
        return None
    if annotations is None:
        return None
    return Referrer(
        digest=str(digest),
        media_type=media_type,
        artifact_type=artifact_type or None,
        size=size,
        annotations=annotations,
        source=source,
        kind=kind_of(artifact_type or None, annotations),
    )


@dataclass(frozen=True, eq=False, repr=False)  # internal: never compared or printed
class ParsedEntries:
    """The referrers read from one index: the valid ones and how many entries were skipped."""

    referrers: tuple[Referrer, ...]
    skipped: int


def referrers_from_index(
    index: Mapping[str, Any], source: Source, *, artifact_type: str | None = None
) -> ParsedEntries:
    """The descriptors in ``index['manifests']`` as referrers, malformed entries skipped and counted.

    With ``artifact_type``, only referrers of that artifact type are kept (client-side filtering;
    the caller decides whether the registry already filtered).
    """
    entries = index.get("manifests")
    if not isinstance(entries, list):
        return ParsedEntries((), 0)
    kept: list[Referrer] = []
    skipped = 0
    for entry in entries:
        referrer = referrer_from_descriptor(entry, source)
        if referrer is None:
            skipped += 1
        elif artifact_type is None or referrer.artifact_type == artifact_type:
            kept.append(referrer)
    return ParsedEntries(tuple(kept), skipped)


def _json_or_none(body: bytes) -> Any:
    """``body`` through the client's one bounded JSON parser; ``None`` for anything unusable.

    Imported here: the client package pulls in httpx, which ``doctor list`` must not pay for.
    """
    from doctor_oci.client.errors import ProtocolError
    from doctor_oci.client.jsonbody import parse_json

    try:
        return parse_json(body, what="the referrers answer")
    except ProtocolError:
        return None


def parse_index(body: bytes, content_type: str | None) -> dict[str, Any] | None:
    """``body`` as an OCI image index, or ``None`` when it is not one.

    An index is a JSON object with a ``manifests`` list whose own ``mediaType`` or the response's
    ``Content-Type`` is the OCI index type. Malformed JSON, another document or another media type
    give ``None``: the caller treats that as "no index" (API unsupported / no tag-schema referrers).
    """
    data = _json_or_none(body)
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("manifests"), list):
        return None
    declared = data.get("mediaType")
    if declared is not None and declared != OCI_INDEX_MEDIA_TYPE:
        return None
    if declared is None and base_media_type(content_type) != OCI_INDEX_MEDIA_TYPE:
        return None
    return data


def base_media_type(content_type: str | None) -> str | None:
    """``application/json; charset=utf-8`` -> ``application/json`` (``None`` stays ``None``)."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def filters_applied(header_values: Iterable[str], index: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The filters the registry says it applied: ``OCI-Filters-Applied`` plus the rc1 annotation."""
    names: list[str] = []
    sources = list(header_values)
    annotations = index.get("annotations") if index is not None else None
    if isinstance(annotations, Mapping) and isinstance(annotations.get(FILTERS_ANNOTATION), str):
        sources.append(annotations[FILTERS_ANNOTATION])
    for value in sources:
        for name in value.split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return tuple(names)


def error_code(body: bytes) -> str | None:
    """The first ``errors[].code`` of a distribution error body, if it is one."""
    data = _json_or_none(body)
    if data is None:
        return None
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        return code if isinstance(code, str) else None
    return None
