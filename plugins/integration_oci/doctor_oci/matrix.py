"""``doctor oci matrix``: the seeds' compatibility matrix, measured on the registries in front of you.

One row per registry, every cell either a measured value with the evidence behind it or
"not measured" with the reason -- never copied from :data:`doctor_oci.registries.MATRIX` (the
vendors' claims).

One probing mechanism: the row runs the real referrers and capabilities checks (their ``run``
functions, with a context of their own and one client shared by both, as in a doctor run), so the
referrers API probe, the chunked-upload, cross-mount and delete probes are exactly the ones
``doctor --tag registry`` sends. What the checks do not report is asked of the same shared
functions they use: :func:`~doctor_oci.referrers.probe_referrers_api` (cached per client, so the
unfiltered probe is not sent twice) with an ``artifactType`` filter, and
:func:`~doctor_oci.referrers.fallback.tag_schema_referrers` for the ``<alg>-<hex>`` tag index.

Cells:

* ``product``: :func:`doctor_oci.registries.identify` on the host and ``/v2/`` headers; a version
  only when the registry announces one (``X-JFrog-Version``), else "not announced";
* ``referrers_api``: ``native`` (the API answers with an OCI index and lists every referrer the
  tag schema index holds), ``partial`` (it answers, but misses referrers the tag index lists, or a
  filtered query fails), ``fallback`` (no usable API: the probe's reason);
* ``artifact_type_filter``: ``server-side`` (``OCI-Filters-Applied: artifactType``, or the draft
  index annotation ``org.opencontainers.referrers.filtersApplied``),
  ``client-side`` (the answer says no filter was applied, or there is no API: doctor filters);
* ``tag_schema_fallback``: ``yes`` when discovery needs the ``sha256-<hex>`` tag index (no usable
  referrers API), else ``no`` (the evidence says how many the index holds anyway);
* ``chunked_upload``, ``cross_repo_mount``, ``manifest_delete``, ``blob_delete``: the
  capabilities check's ``supports_*`` evidence (``yes``/``no``; its "unknown" is "not measured"
  with the check's message);
* ``measured_at``: when the row's probing started (UTC, seconds).

Credentials: a configured registry (a target name, or all of them by default) is probed with its
own configured settings; a REGISTRY given as an address gets no configured credentials at all --
its host's docker config / credential helper credentials, or none.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from doctor_core import UsageError, describe_exception, redact, register_secret

if TYPE_CHECKING:
    from doctor_core import CheckContext, CommandApp
    from doctor_oci.client import RegistryClient
    from doctor_oci.settings import OciSettings

#: The artifact type of the filtered referrers query (matches nothing: only the answer's
#: ``OCI-Filters-Applied`` header matters).
PROBE_ARTIFACT_TYPE = "application/vnd.doctor.matrix.probe"
#: Longest time one registry's row may take before its remaining cells are "not measured".
ROW_TIMEOUT_S = 120.0
#: Registries probed at the same time.
CONCURRENCY = 8

COLUMNS: tuple[tuple[str, str], ...] = (
    ("product", "Product"),
    ("referrers_api", "Referrers API"),
    ("artifact_type_filter", "Artifact-type filter"),
    ("tag_schema_fallback", "Tag-schema fallback"),
    ("chunked_upload", "Chunked upload"),
    ("cross_repo_mount", "Cross-repo mount"),
    ("manifest_delete", "Manifest delete"),
    ("blob_delete", "Blob delete"),
)
_CAPABILITY_CELLS = {
    "chunked_upload": "supports_chunked_upload",
    "cross_repo_mount": "supports_cross_repo_mount",
    "manifest_delete": "supports_manifest_delete",
    "blob_delete": "supports_blob_delete",
}
#: What the capabilities check's probe saw for each value (its rules: see its module docstring).
_CAPABILITY_EVIDENCE = {
    ("chunked_upload", True): "a PATCHed chunk was answered 202 with the matching Range; session cancelled",
    ("chunked_upload", False): "the upload session did not take a chunk (no 202 with the matching Range)",
    ("cross_repo_mount", True): "POST ?mount= of a test-image blob was answered 201",
    ("cross_repo_mount", False): "POST ?mount= was not answered 201 (an upload session instead; cancelled)",
    ("manifest_delete", True): "DELETE of a manifest digest nobody has was answered 404, not 405",
    ("manifest_delete", False): "DELETE of a manifest digest was answered 405 / UNSUPPORTED",
    ("blob_delete", True): "DELETE of a blob digest nobody has was answered 404, not 405",
    ("blob_delete", False): "DELETE of a blob digest was answered 405 / UNSUPPORTED",
}


@dataclass(frozen=True)
class Cell:
    """One measured fact: ``value`` (``None``: not measured) and the evidence or the reason."""

    value: str | None
    evidence: str

    @classmethod
    def not_measured(cls, why: str) -> Cell:
        return cls(None, why)

    def text(self) -> str:
        return (
            f"{self.value} ({self.evidence})" if self.value is not None else f"not measured: {self.evidence}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "measured": self.value is not None, "evidence": self.evidence}


@dataclass
class MatrixRow:
    """One registry's measured row."""

    registry: str
    url: str | None
    measured_at: datetime
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def measured_anything(self) -> bool:
        return any(cell.value is not None for cell in self.cells.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "url": self.url,
            "measured_at": self.measured_at.isoformat(),
            **{key: self.cells[key].as_dict() for key, _ in COLUMNS},
        }


# ------------------------------------------------------------------------------ which registries
def registries_to_probe(settings: OciSettings, names: Sequence[str]) -> list[tuple[str, OciSettings]]:
    """``(row name, settings)``: every configured registry, or the ones ``names`` asks for.

    A name that is a configured target (``default`` or an entry's ``Name``) is that registry with
    its configuration; anything else is a registry address, probed with no configured credentials
    (only the non-secret defaults an entry would inherit).

    :raises UsageError: nothing is configured and no REGISTRY is given, or an address is malformed.
    """
    from doctor_oci.settings import DEFAULT_TARGET, INHERITED_KEYS, OciSettings
    from doctor_oci.targets import registries

    configured = registries(settings) or ([(DEFAULT_TARGET, settings)] if settings.RegistryUrl else [])
    if not names:
        if not configured:
            raise UsageError(
                "no registry to measure: configure OCI.RegistryUrl (or OCI.Registries), or name "
                "registries: doctor oci matrix REGISTRY ..."
            )
        return configured
    by_name = dict(configured)
    chosen: list[tuple[str, OciSettings]] = []
    for name in names:
        if name in by_name:
            chosen.append((name, by_name[name]))
            continue
        inherited = {
            key: getattr(settings, key) for key in INHERITED_KEYS if key in settings.model_fields_set
        }
        try:
            chosen.append((name, OciSettings(RegistryUrl=name, **inherited)))
        except ValueError as exc:
            import difflib

            close = difflib.get_close_matches(name, list(by_name), n=3, cutoff=0.6)
            hint = f" (did you mean: {', '.join(close)}?)" if close else ""
            raise UsageError(
                f"REGISTRY {name!r} is neither a configured registry{hint} nor a registry address: "
                f"{_first_error(exc)}"
            ) from None
    return chosen


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors(include_url=False, include_input=False)
        if found:
            return str(found[0]["msg"]).removeprefix("Value error, ")
    return str(exc)


# ------------------------------------------------------------------------------------- probing
def _context(check_id: str, settings: OciSettings, shared: Any, log: Any, name: str) -> CheckContext:
    from doctor_core import CheckContext
    from doctor_oci.plugin import DEFINITIONS

    definition = next(d for d in DEFINITIONS if d.check_id == check_id)
    return CheckContext(
        definition=definition,
        config=settings,
        shared=shared,
        log=log,
        secrets=register_secret,
        timeout_s=ROW_TIMEOUT_S,
        target=name,
    )


async def measure(name: str, settings: OciSettings, log: Any = None) -> MatrixRow:
    """Measure one registry's row (never raises for what the registry does)."""
    from doctor_core import RunResources

    row = MatrixRow(
        registry=name, url=settings.RegistryUrl, measured_at=datetime.now(UTC).replace(microsecond=0)
    )
    resources = RunResources()
    try:
        async with asyncio.timeout(ROW_TIMEOUT_S):
            await _measure(row, settings, resources, log)
    except TimeoutError:
        _fill(row, f"timed out after {ROW_TIMEOUT_S:g} s")
    except Exception as exc:  # a defect or a registry error outside the checks' frames
        _fill(row, redact(describe_exception(exc)))
    finally:
        await resources.aclose(5.0, lambda _key, _exc: None)
    return row


def _fill(row: MatrixRow, why: str) -> None:
    for key, _ in COLUMNS:
        row.cells.setdefault(key, Cell.not_measured(why))


#: Causes (doctor_oci.checks.diagnosis kinds) under which the registry gave nothing to measure;
#: under the others (credentials missing or refused, rate limits) its headers and answers still say
#: what it is and what an anonymous client may do.
_UNREACHABLE = frozenset(
    {
        "tls",
        "dns",
        "refused",
        "reset",
        "connect",
        "timeout",
        "plain-http-to-tls",
        "not-a-registry",
        "unexpected",
    }
)


async def _measure(row: MatrixRow, settings: OciSettings, resources: Any, log: Any) -> None:
    from doctor_core import Status
    from doctor_oci.checks import capabilities, referrers
    from doctor_oci.checks._common import PROBE_DIGEST, resolve_test_image
    from doctor_oci.client import RegistryClient
    from doctor_oci.runtime import CLIENT_KEY

    log = log if log is not None else _null_log()
    referrers_outcome, capabilities_outcome = await asyncio.gather(
        referrers.run(_context("check.integration.oci.referrers", settings, resources, log, row.registry)),
        capabilities.run(
            _context("check.integration.oci.capabilities", settings, resources, log, row.registry)
        ),
    )

    async def create() -> RegistryClient:  # already created by the checks: the same client
        return await RegistryClient.open(settings)

    client = await resources.get(CLIENT_KEY, create)
    row.url = client.base_url
    cause = capabilities_outcome.cause
    # What happened, once: the checks' shared cause (what failed and why) when they named one.
    why = redact(cause.summary if cause is not None else capabilities_outcome.message)
    kind = cause.key.split(":", 1)[0].removeprefix("oci.") if cause is not None else None
    unreachable = (
        capabilities_outcome.status is Status.FAIL
        and referrers_outcome.status is Status.FAIL
        and (kind is None or kind in _UNREACHABLE)
    )
    if unreachable:  # no answer to measure anything by: say what happened in every cell
        _fill(row, why)
        return
    row.cells["product"] = _product(client)
    evidence = capabilities_outcome.evidence
    for key, evidence_key in _CAPABILITY_CELLS.items():
        value = evidence.get(evidence_key)
        if isinstance(value, bool):
            row.cells[key] = Cell("yes" if value else "no", _CAPABILITY_EVIDENCE[(key, value)])
        else:
            row.cells[key] = Cell.not_measured(
                "the capabilities probe got no verdict (refused with 401/403/429, or no test image "
                f"to probe with): {why}"
            )
    repository = settings.TestRepository
    image = await resolve_test_image(client, repository, settings.TestTag)
    digest = image.digest if image.exists and image.digest else PROBE_DIGEST
    await _referrers_cells(row, client, repository, digest, image.exists, settings)


def _product(client: RegistryClient) -> Cell:
    from doctor_oci.runtime import registry_profile

    profile = registry_profile(client)
    version = client.server_headers.get("x-jfrog-version")
    api = client.api_version or "no Docker-Distribution-Api-Version header"
    if profile.key == "unknown":
        return Cell.not_measured(f"not identified from the host and /v2/ headers ({api})")
    shown = f"{profile.name} {version}" if version else profile.name
    said = "version announced" if version else "version not announced"
    return Cell(shown, f"from the host and /v2/ headers; {said}; API {api}")


async def _referrers_cells(
    row: MatrixRow,
    client: RegistryClient,
    repository: str,
    digest: str,
    image_exists: bool,
    settings: OciSettings,
) -> None:
    from doctor_oci.client.errors import RegistryError
    from doctor_oci.referrers import probe_referrers_api
    from doctor_oci.referrers.api import list_api_referrers
    from doctor_oci.referrers.fallback import tag_schema_referrers

    subject = f"{repository}:{settings.TestTag}" if image_exists else "a digest no image has"
    try:
        probe = await probe_referrers_api(client, repository, digest)
    except RegistryError as exc:
        why = f"the referrers probe for {subject} got no verdict: {redact(str(exc))}"
        for key in ("referrers_api", "artifact_type_filter", "tag_schema_fallback"):
            row.cells[key] = Cell.not_measured(why)
        return
    tagged: list[Any] = []
    if image_exists:
        try:
            tagged = await tag_schema_referrers(client, repository, digest)
        except RegistryError as exc:
            row.cells["tag_schema_fallback"] = Cell.not_measured(f"reading the tag index failed: {exc}")
    if not probe.supported:
        row.cells["referrers_api"] = Cell("fallback", f"GET /v2/<name>/referrers/<digest>: {probe.reason}")
        row.cells["artifact_type_filter"] = Cell(
            "client-side", "no referrers API: the tag-schema fallback is filtered by doctor"
        )
        held = (
            f"the sha256-<hex> tag index of {subject} holds {len(tagged)}"
            if image_exists
            else f"the test image {repository}:{settings.TestTag} was not found, so no tag index was read"
        )
        row.cells.setdefault(
            "tag_schema_fallback", Cell("yes", f"no referrers API: discovery uses it; {held}")
        )
        return
    listed: list[Any] = []
    partial: str | None = None
    try:
        listed = await list_api_referrers(client, repository, probe)
    except RegistryError as exc:
        partial = f"listing failed: {exc}"
    try:
        filtered = await probe_referrers_api(client, repository, digest, artifact_type=PROBE_ARTIFACT_TYPE)
    except RegistryError as exc:
        filtered = None
        partial = partial or f"a query with ?artifactType= failed: {exc}"
    missing = {r.digest for r in tagged} - {r.digest for r in listed}
    if missing and partial is None:
        partial = f"{len(missing)} referrer(s) in the tag index are not listed by the API"
    if partial is not None:
        row.cells["referrers_api"] = Cell("partial", f"{probe.reason}, but {redact(partial)}")
    else:
        row.cells["referrers_api"] = Cell("native", f"{probe.reason}; lists {len(listed)} for {subject}")
    if filtered is None or not filtered.supported:
        row.cells["artifact_type_filter"] = Cell.not_measured("the filtered query got no usable answer")
    elif "artifactType" in filtered.filters_applied:
        row.cells["artifact_type_filter"] = Cell(
            "server-side",
            "the answer says it applied artifactType (OCI-Filters-Applied, or the draft index "
            "annotation org.opencontainers.referrers.filtersApplied)",
        )
    else:
        row.cells["artifact_type_filter"] = Cell(
            "client-side", "the answer does not say it applied artifactType (doctor filters)"
        )
    if not image_exists:
        row.cells.setdefault(
            "tag_schema_fallback",
            Cell.not_measured(f"the test image {repository}:{settings.TestTag} does not exist"),
        )
    else:
        row.cells.setdefault(
            "tag_schema_fallback",
            Cell(
                "no",
                f"the referrers API is used; the sha256-<hex> tag index of {subject} also holds "
                f"{len(tagged)}, not needed for discovery",
            ),
        )


def _null_log() -> Any:
    from doctor_core import get_logger

    return get_logger(component="matrix")


async def measure_all(targets: Sequence[tuple[str, OciSettings]], log: Any = None) -> list[MatrixRow]:
    """Every row, :data:`CONCURRENCY` registries at a time, in the order given."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str, settings: OciSettings) -> MatrixRow:
        async with limit:
            return await measure(name, settings, log)

    return list(await asyncio.gather(*(one(name, settings) for name, settings in targets)))


# ------------------------------------------------------------------------------------ rendering
def render_markdown(rows: Sequence[MatrixRow], *, timestamps: bool = True) -> str:
    """A Markdown table, one row per registry (no URLs: ports and hosts are not facts of the product)."""
    header = ["Registry", *(title for _, title in COLUMNS)] + (["Measured at"] if timestamps else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [_md(row.registry), *(_md(_cell_markdown(row.cells[key])) for key, _ in COLUMNS)]
        if timestamps:
            cells.append(row.measured_at.strftime("%Y-%m-%d %H:%M:%SZ"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell_markdown(cell: Cell) -> str:
    return (
        f"**{cell.value}** ({cell.evidence})" if cell.value is not None else f"not measured: {cell.evidence}"
    )


def _md(text: str) -> str:
    """A table cell: ``|`` escaped, one line, ``<``/``>`` as entities (``<digest>`` is not HTML)."""
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def render_text(rows: Sequence[MatrixRow]) -> str:
    """A table of values, then each registry's evidence, cell by cell."""
    header = ["REGISTRY", *(title.upper() for _, title in COLUMNS), "MEASURED AT"]
    table = [
        [
            row.registry,
            *(row.cells[key].value or "not measured" for key, _ in COLUMNS),
            row.measured_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in (header, *table)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in (header, *table)
    ]
    for row in rows:
        lines += ["", f"{row.registry} ({row.url or 'no URL'}):"]
        lines += [f"  {title}: {row.cells[key].text()}" for key, title in COLUMNS]
    return "\n".join(lines) + "\n"


def render_json(rows: Sequence[MatrixRow]) -> str:
    return json.dumps({"registries": [row.as_dict() for row in rows]}, indent=2) + "\n"


# -------------------------------------------------------------------------------------- command
def add_parser(commands: Any) -> None:
    """Add ``matrix`` to the ``doctor oci`` sub-commands."""
    parser = commands.add_parser(
        "matrix",
        help="measure the registry compatibility matrix on the configured registries",
        description="Probe each registry (every configured one, or those named) and print the "
        "compatibility matrix as measured facts: product, referrers API, artifact-type filter, "
        "tag-schema fallback, chunked upload, cross-repository mount, manifest and blob delete.",
        epilog="REGISTRY is a configured registry's name ('default' for OCI.RegistryUrl, or an "
        "OCI.Registries Name) or a registry address; an address gets no configured credentials "
        "(only its own docker-config credentials). Exit status: 0 every registry answered, 1 one "
        "could not be measured at all, 2 usage error.",
    )
    parser.add_argument("registries", nargs="*", metavar="REGISTRY", help="registries to measure")
    parser.add_argument(
        "--format",
        dest="matrix_format",
        choices=("text", "markdown", "json"),
        default="text",
        help="output format (default: text)",
    )


async def run_matrix(args: argparse.Namespace, app: CommandApp) -> int:
    """``doctor oci matrix``: measure, print, exit 1 when a registry could not be measured at all."""
    stdout = getattr(app, "stdout", None)
    settings = app.section("OCI")
    targets = registries_to_probe(settings, list(args.registries))
    rows = await measure_all(targets, app.log)
    render = {"text": render_text, "markdown": render_markdown, "json": render_json}[args.matrix_format]
    text = redact(render(rows))
    if stdout is None:
        import sys

        stdout = sys.stdout
    stdout.write(text)
    return 0 if all(row.measured_anything for row in rows) else 1
