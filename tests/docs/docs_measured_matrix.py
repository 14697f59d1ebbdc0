"""The "measured" table of ``docs/registry-compatibility.md``: ``doctor oci matrix`` on local registries.

The page's text between ``<!-- measured:begin -->`` and ``<!-- measured:end -->`` is what
:func:`measured_table` prints: ``doctor oci matrix --format markdown`` (the real command, in
process) against Debian's distribution 2.8 started twice, with ``storage.delete`` on and off, and
against the referrers-API registry built from ``../shared/vendor/`` (oras-project/distribution,
:mod:`devtools.referrers_registry`), each holding ``stellaops/test:latest`` with one SBOM referrer
(pushed with its ``subject``, and listed in its ``sha256-<hex>`` tag index as oras and the fallback
writers leave it). ``test_docs_measured_matrix.py`` regenerates it and
fails when it differs, times of measurement excluded. After a change to the probes or the
command, regenerate with::

    .venv/bin/python tests/docs/docs_measured_matrix.py
"""

from __future__ import annotations

import io
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "registry-compatibility.md"
BEGIN = "<!-- measured:begin -->"
END = "<!-- measured:end -->"
REPOSITORY = "stellaops/test"
#: Row name -> start_registry options: the local registries the table is measured on
#: (``referrers_api``: the referrers-API registry's program instead of docker-registry).
REGISTRIES: dict[str, dict[str, Any]] = {
    "distribution-2_8-delete-on": {"delete_enabled": True},
    "distribution-2_8-delete-off": {"delete_enabled": False},
    "oras-distribution-referrers-api": {"delete_enabled": True, "referrers_api": True},
}
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ")


def measured_table(start: Callable[..., Any], workdir: Path, referrers_binary: Path) -> str:
    """Start the registries with ``start(mode, **options)`` (``binary=referrers_binary`` for the
    referrers-API one), fill them, run the command, return its Markdown (the registries are the
    caller's to stop)."""
    import yaml

    from devtools.images import push_image, push_referrer, push_tag_schema_index
    from doctor_core.cli import run_cli

    entries = []
    for name, declared in REGISTRIES.items():
        options = dict(declared)
        if options.pop("referrers_api", False):
            options["binary"] = referrers_binary
        registry = start("open", **options)
        image = push_image(registry, REPOSITORY, "latest")
        sbom = push_referrer(registry, REPOSITORY, image, "application/spdx+json")
        push_tag_schema_index(registry, REPOSITORY, image.digest, [sbom])
        entries.append({"Name": name, "RegistryUrl": registry.url})
    config = workdir / "doctor.yaml"
    config.write_text(yaml.safe_dump({"OCI": {"TestRepository": REPOSITORY, "Registries": entries}}))
    out, err = io.StringIO(), io.StringIO()
    code = run_cli(
        ["--config", str(config), "oci", "matrix", "--format", "markdown"],
        environ={"HOME": str(workdir)},
        stdout=out,
        stderr=err,
    )
    if code != 0:
        raise RuntimeError(f"doctor oci matrix exited {code}: {err.getvalue()}")
    return out.getvalue()


def without_times(text: str) -> str:
    """The table with every time of measurement replaced (they change on every run)."""
    return _TIMESTAMP.sub("<time>", text)


def page_region(text: str) -> str:
    start = text.index(BEGIN) + len(BEGIN)
    return text[start : text.index(END, start)].strip("\n") + "\n"


def main() -> int:
    from devtools.referrers_registry import find_referrers_registry
    from devtools.registry import start_registry

    started: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="doctor-measured-") as tmp:
        workdir = Path(tmp)

        def start(mode: str, **options: Any) -> Any:
            registry = start_registry(mode, workdir=workdir, **options)  # type: ignore[arg-type]
            started.append(registry)
            return registry

        try:
            table = measured_table(start, workdir, find_referrers_registry())
        finally:
            for registry in started:
                registry.stop()
    text = PAGE.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    PAGE.write_text(f"{head}{BEGIN}\n{table}{END}{tail}", encoding="utf-8")
    print(f"wrote the measured table to {PAGE}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
