"""Render the registry compatibility section of ``docs/registry-compatibility.md`` from ``MATRIX``.

The page's text between ``<!-- matrix:begin -->`` and ``<!-- matrix:end -->`` is exactly
:func:`render_matrix` of :data:`doctor_oci.registries.MATRIX`; ``test_docs.py`` asserts it, so the
page and the data the checks act on cannot drift. After changing ``registries/profiles.py`` regenerate with::

    .venv/bin/python tests/docs/docs_matrix_table.py
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from doctor_oci.registries import RegistryProfile

BEGIN = "<!-- matrix:begin -->"
END = "<!-- matrix:end -->"
PAGE = Path(__file__).resolve().parents[2] / "docs" / "registry-compatibility.md"

_SUPPORT = {
    "native": "Native",
    "partial": "Partial (version/config)",
    "none": "None (tag fallback)",
    "unknown": "Unknown (probe decides)",
}


def _cell(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def render_matrix(matrix: Iterable[RegistryProfile] | None = None) -> str:
    """The generated Markdown: the reconciled table, then one section per registry."""
    if matrix is None:
        from doctor_oci.registries import MATRIX

        matrix = MATRIX
    profiles = list(matrix)
    header = (
        "Registry",
        "`registry_type`",
        "Referrers API (reconciled)",
        "Seed 004",
        "Seed 000",
        "Min. version (API)",
        "Fallback tags",
        "Artifact-type filter",
        "Chunked upload",
        "Cross-mount",
        "Delete",
        "Recommended",
    )
    lines = [_row(header), _row("---" for _ in header)]
    for p in profiles:
        lines.append(
            _row(
                (
                    f"**{p.name}**",
                    f"`{p.key}`",
                    _SUPPORT.get(p.referrers_api, p.referrers_api),
                    p.seed_004,
                    p.seed_000,
                    p.min_referrers_version,
                    "Yes" if p.fallback_tags else "No",
                    p.artifact_type_filter,
                    p.chunked_upload,
                    p.cross_mount,
                    p.delete,
                    p.recommended,
                )
            )
        )
    sections = ["", "### Per registry: reconciliation, known issues, sources"]
    for p in profiles:
        sections += ["", f"#### {p.name} (`{p.key}`)", "", f"**Reconciled:** {p.reconciliation}"]
        if p.known_issues:
            sections += ["", "Known issues:", ""]
            sections += [f"- {issue}" for issue in p.known_issues]
        if p.sources:
            sections += ["", "Sources: " + "; ".join(p.sources) + "."]
    return "\n".join(lines + sections) + "\n"


def page_region(text: str) -> str:
    """The text between the markers (``ValueError`` when they are missing or out of order)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{PAGE.name} must contain {BEGIN!r} followed by {END!r}")
    return text[start + len(BEGIN) : end].strip("\n") + "\n"


def regenerate(page: Path = PAGE) -> None:
    text = page.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{page} must contain {BEGIN!r} followed by {END!r}")
    new = text[: start + len(BEGIN)] + "\n" + render_matrix() + text[end:]
    page.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    regenerate(Path(sys.argv[1]) if len(sys.argv) > 1 else PAGE)
