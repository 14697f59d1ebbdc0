"""The fault matrix's summary table: one row per fault, one column per target, totals at the end.

Outcomes are collected by the reliability ``conftest.py`` from the reports of the parametrized
matrix test, so the table shows exactly what pytest decided (``ok``, ``FAIL``, ``xfail`` for a
known product bug, ``XPASS`` when such a bug got fixed).
"""

from __future__ import annotations

MATRIX_OUTCOMES: dict[tuple[str, str], str] = {}

_SYMBOL = {"passed": "ok", "failed": "FAIL", "xfail": "xfail", "xpass": "XPASS", "skipped": "skip"}


def render_table(outcomes: dict[tuple[str, str], str]) -> list[str]:
    """Markdown-compatible table lines plus a totals line."""
    faults = list(dict.fromkeys(fault for fault, _ in outcomes))
    targets = list(dict.fromkeys(target for _, target in outcomes))
    header = ["fault", *targets]
    rows = [[fault, *(_SYMBOL.get(outcomes.get((fault, t), ""), "-") for t in targets)] for fault in faults]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    lines = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [line(row) for row in rows]
    total = len(outcomes)
    passed = sum(1 for o in outcomes.values() if o == "passed")
    known = sum(1 for o in outcomes.values() if o == "xfail")
    failed = sum(1 for o in outcomes.values() if o == "failed")
    lines.append(f"cells passed: {passed}/{total}; known product bugs (xfail): {known}; failed: {failed}")
    return lines
