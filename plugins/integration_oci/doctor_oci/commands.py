"""The ``doctor oci`` command group: ``doctor oci referrers IMAGE``.

The plugin registers :data:`oci_command` through the core's ``doctor_add_commands`` hook. Only
this module's light imports run when plugins load; the client and discovery are imported when the
command runs. The command is a thin shell around :func:`doctor_oci.referrers.discover_referrers`
(the same code the referrers check runs), with the ``OCI`` configuration for credentials and TLS.

Exit codes: 0 the lookup worked (also with zero referrers), 1 it could not (authentication,
image or repository not found, network, a registry without the API under ``--method api``),
2 usage errors (a malformed IMAGE or option, a malformed cosign repository from the option,
``OCI.CosignRepository`` or ``COSIGN_REPOSITORY``). Errors are one redacted line on stderr.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from typing import TYPE_CHECKING, TextIO

from doctor_core import DEFAULT_DEADLINE_S, Command, CommandApp, ConfigError, redact

if TYPE_CHECKING:
    from doctor_oci.client.reference import Reference
    from doctor_oci.referrers.models import Referrer, ReferrersResult
    from doctor_oci.settings import OciSettings

PROG = "doctor oci referrers"
_IMAGE_HELP = """\
IMAGE is a tag or digest reference: [REGISTRY/]REPOSITORY[:TAG][@DIGEST].

Which registry is asked:
  - IMAGE names a registry (its first part is 'localhost' or contains '.' or ':',
    e.g. registry.example.com/app:1.0, 127.0.0.1:5000/app@sha256:...): that registry.
  - IMAGE has no registry part (app:1.0, team/app:1.0): OCI.RegistryUrl when it is
    configured, else Docker Hub (docker.io, where 'app' means 'library/app').
The OCI configuration (credentials, CaBundle, Insecure, TimeoutSeconds) applies; configured
credentials are sent only to the RegistryUrl host (other registries: docker config or anonymous).

Methods:
  auto      the OCI 1.1 referrers API when the registry supports it, else the fallback
  api       the referrers API only (exit 1 when the registry does not support it)
  fallback  the referrers tag schema (tag sha256-<hex>) and cosign tags (.sig/.att/.sbom)

Cosign tags in another repository (cosign's COSIGN_REPOSITORY):
  The fallback reads the cosign tags from --cosign-repository, else OCI.CosignRepository,
  else $COSIGN_REPOSITORY, instead of IMAGE's repository (the sha256-<hex> index stays on
  IMAGE's). An empty value ('') means IMAGE's repository and ignores the later sources. Without
  a registry part it names a repository on OCI.RegistryUrl when configured, else on Docker Hub.
  On another registry, OCI credentials are not sent there either.

cosign tags (sha256-<hex>.sig/.att/.sbom) are read on every method but 'api', beside the
referrers API too; KIND says signature, attestation or sbom, SOURCE 'cosign-tags (.sig)' the tag.
--verify checks that every manifest the sha256-<hex> index lists still exists (one HEAD each)
and reports the missing ones as stale instead of listing them.

--deadline bounds the whole lookup (default 300 s, like a run's); every paged listing is also
bounded in bytes, entries, pages and time.

Exit status: 0 lookup done (even with no referrers), 1 lookup failed or the deadline passed,
2 usage error.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``referrers`` sub-command to the ``oci`` group's parser."""
    commands = parser.add_subparsers(dest="oci_command", metavar="COMMAND", required=True)
    referrers = commands.add_parser(
        "referrers",
        help="list the artifacts (signatures, SBOMs, attestations) linked to an image",
        description="List the referrers of IMAGE: artifacts whose subject is that image.",
        epilog=_IMAGE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    referrers.add_argument("image", metavar="IMAGE", help="tag or digest reference of the subject image")
    referrers.add_argument(
        "--artifact-type",
        dest="artifact_type",
        metavar="TYPE",
        default=None,
        help="only referrers of this artifact type (e.g. application/spdx+json)",
    )
    referrers.add_argument(
        "--format",
        dest="referrers_format",
        choices=("text", "json"),
        default="text",
        help="output format (json: the ReferrersResult model)",
    )
    referrers.add_argument(
        "--method",
        dest="referrers_method",
        choices=("auto", "api", "fallback"),
        default="auto",
        help="discovery method (default: auto)",
    )
    referrers.add_argument(
        "--cosign-repository",
        dest="cosign_repository",
        metavar="[REGISTRY/]REPO",
        default=None,
        help="read cosign tags (.sig/.att/.sbom) from this repository instead of IMAGE's "
        "(default: OCI.CosignRepository, else $COSIGN_REPOSITORY; '' for IMAGE's own)",
    )
    referrers.add_argument(
        "--verify",
        action="store_true",
        help="check that every manifest the sha256-<hex> index lists exists; report missing ones as stale",
    )
    referrers.add_argument(
        "--deadline",
        dest="referrers_deadline",
        type=_positive_seconds,
        metavar="SECONDS",
        default=DEFAULT_DEADLINE_S,
        help=f"give up after SECONDS in total (default: {DEFAULT_DEADLINE_S:g})",
    )

    from doctor_oci.matrix import add_parser as add_matrix_parser

    add_matrix_parser(commands)  # doctor oci matrix


def _positive_seconds(text: str) -> float:
    """``--deadline``'s value: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def image_reference(image: str, settings: OciSettings) -> Reference:
    """The :class:`Reference` ``doctor oci referrers IMAGE`` asks about (see the ``--help`` text).

    Raises ``InvalidReference`` for a malformed IMAGE and ``ConfigError`` for an unusable
    ``OCI.RegistryUrl``.
    """
    from doctor_oci.client.reference import InvalidRegistryUrl, Reference, on_configured_registry

    try:
        qualified = on_configured_registry(image, settings.RegistryUrl)
    except InvalidRegistryUrl as exc:
        raise ConfigError(str(exc), key="OCI.RegistryUrl") from exc
    return Reference.parse(qualified)


def _printable(text: str | None) -> str:
    """``text`` safe for a terminal: control and format characters (escape sequences) become '?'."""
    if not text:
        return "-"
    return "".join("?" if unicodedata.category(char) in ("Cc", "Cf") else char for char in text)


def short_digest(digest: str) -> str:
    """``sha256:abcdef123456`` (algorithm and the first 12 characters of the encoded part); the
    text output no longer uses it (full digests, copyable), kept for callers."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}"


def _source_cell(referrer: Referrer) -> str:
    """``cosign-tags (.sig)``: the source, with the cosign tag's suffix when it was under one."""
    if referrer.tag is None:
        return referrer.source
    return f"{referrer.source} (.{referrer.tag.rpartition('.')[2]})"


def _table(referrers: list[Referrer]) -> list[str]:
    header = ("DIGEST", "KIND", "ARTIFACT TYPE", "MEDIA TYPE", "SIZE", "SOURCE")
    rows = [
        (
            _printable(referrer.digest),
            referrer.kind or "-",
            _printable(referrer.artifact_type),
            _printable(referrer.media_type),
            str(referrer.size),
            _printable(_source_cell(referrer)),
        )
        for referrer in referrers
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(widths[i]) if i == 4 else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()

    return [line(header), *(line(row) for row in rows)]


def render_text(result: ReferrersResult) -> str:
    """The human layout: a header, then a table DIGEST / KIND / ARTIFACT TYPE / MEDIA TYPE / SIZE /
    SOURCE with full digests (copyable into the next command); with ``--verify``, the stale index
    entries in a second table."""
    supported = {True: "supported", False: "not supported", None: "not probed (--method fallback)"}
    lines = [
        f"Subject:        {_printable(result.subject.reference)}",
        f"Digest:         {_printable(result.subject.digest)}",
        f"Method:         {result.method}",
        *([f"Cosign tags:    {_printable(result.cosign_repository)}"] if result.cosign_repository else []),
        f"Referrers API:  {supported[result.referrers_api_supported]}",
        f"Referrers:      {len(result.referrers)}",
        *([f"Stale:          {len(result.stale)}"] if result.stale is not None else []),
    ]
    lines += ["", *_table(result.referrers)] if result.referrers else ["", "No referrers found."]
    if result.stale:
        lines += [
            "",
            "Stale (listed in the referrers tag index, but the manifest no longer exists):",
            *_table(result.stale),
        ]
    return "\n".join(lines) + "\n"


def _streams(app: CommandApp) -> tuple[TextIO, TextIO]:
    """Where to write: the app's streams when the core provides them, else the process's."""
    return getattr(app, "stdout", None) or sys.stdout, getattr(app, "stderr", None) or sys.stderr


async def run_referrers(args: argparse.Namespace, app: CommandApp) -> int:
    """``doctor oci referrers``: look up, print, return the exit code."""
    import asyncio  # here, not at module import: `doctor list` and `--help` import this module

    from doctor_oci.client.errors import RegistryError
    from doctor_oci.client.reference import InvalidReference
    from doctor_oci.referrers import discover_referrers
    from doctor_oci.referrers.cosign import InvalidCosignRepository, cosign_repository_in_effect

    stdout, stderr = _streams(app)

    def fail(message: str, code: int) -> int:
        stderr.write(redact(f"{PROG}: error: {message}") + "\n")
        return code

    settings = app.section("OCI")
    try:
        reference = image_reference(args.image, settings)
    except InvalidReference as exc:
        return fail(f"invalid IMAGE {args.image!r}: {exc}", 2)
    try:
        cosign = cosign_repository_in_effect(settings, args.cosign_repository)
    except InvalidCosignRepository as exc:
        return fail(str(exc), 2)
    deadline = getattr(args, "referrers_deadline", DEFAULT_DEADLINE_S)
    try:
        async with asyncio.timeout(deadline):
            result = await discover_referrers(
                reference,
                args.artifact_type,
                method=args.referrers_method,
                settings=settings,
                cosign_repository=cosign.reference if cosign is not None else None,
                verify=getattr(args, "verify", False),
            )
    except TimeoutError:
        return fail(f"the lookup did not finish within the deadline of {deadline:g} s (--deadline)", 1)
    except RegistryError as exc:
        return fail(str(exc), 1)
    except ValueError as exc:
        return fail(str(exc), 2)
    if args.referrers_format == "json":
        stdout.write(redact(result.model_dump_json()) + "\n")
    else:
        stdout.write(redact(render_text(result)))
    return 0


async def run(args: argparse.Namespace, app: CommandApp) -> int:
    """Dispatch ``doctor oci COMMAND``."""
    if getattr(args, "oci_command", None) == "referrers":
        return await run_referrers(args, app)
    if getattr(args, "oci_command", None) == "matrix":
        from doctor_oci.matrix import run_matrix

        return await run_matrix(args, app)
    _, stderr = _streams(app)
    stderr.write("doctor oci: error: a command is required (referrers, matrix)\n")
    return 2


#: The command group the plugin contributes through ``doctor_add_commands``.
oci_command = Command(
    name="oci",
    help="OCI registry tools: referrer discovery (doctor oci referrers IMAGE), the measured "
    "compatibility matrix (doctor oci matrix)",
    configure=configure,
    run=run,
)
#: The name ``doctor_oci.plugin`` looks up (``doctor_add_commands``).
command = oci_command
