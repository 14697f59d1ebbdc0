"""docs/registry-compatibility.md's "measured" table is what ``doctor oci matrix`` measures today."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from docs_measured_matrix import PAGE, REGISTRIES, measured_table, page_region, without_times


def test_measured_table_matches_a_fresh_measurement(
    registry_factory: Callable[..., Any], referrers_registry_binary: Path, tmp_path: Path
) -> None:
    fresh = measured_table(registry_factory, tmp_path, referrers_registry_binary)
    committed = page_region(PAGE.read_text(encoding="utf-8"))
    assert without_times(committed) == without_times(fresh), (
        "docs/registry-compatibility.md's measured table drifted from `doctor oci matrix`: run "
        "'.venv/bin/python tests/docs/docs_measured_matrix.py'"
    )
    for name in REGISTRIES:
        assert f"| {name} |" in committed
    assert "not measured" not in committed  # every cell of the local registries is measurable
