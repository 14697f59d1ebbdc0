"""Keeps bench S5 (many registries in one run) working: a small fleet at 0 ms, one round.

The numbers of the real scenario (20 registries, 50 ms) come from ``python -m bench.s5_registries``;
here the code path runs end to end against real registries, and what does not depend on timing is
asserted: every registry gets its five results, and none receives more requests on the wire than a
one-registry run of its kind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.s5_registries import configuration, render_markdown, run_s5, start_fleet


def test_small_fleet_end_to_end(registry_binary: Path, tmp_path: Path) -> None:
    fleet = start_fleet(tmp_path, 3, token_every=2, progress=lambda _: None)
    try:
        assert [m.kind for m in fleet.members] == ["token", "open", "token"]
        result = run_s5(fleet, sizes=(1, 3), rtt_s=0.0, repeat=1, rss=False, progress=lambda _: None)
    finally:
        fleet.stop()
    assert set(result.samples) == {"1", "1-open", "3"}
    three = result.samples["3"][0]
    assert set(three.requests) == {"r00", "r01", "r02"}
    assert all(count > 0 for count in three.requests.values())
    assert result.max_requests("3", "token") <= result.max_requests("1", "token")
    assert result.max_requests("3", "open") <= result.max_requests("1-open", "open")
    assert result.targets()["requests"] is True and result.targets()["rss"] is None
    text = render_markdown(result)
    assert "| 3 |" in text and "requests per registry <= a one-registry run of its kind: met" in text


def test_configuration_single_registry_is_the_seed_form(registry_binary: Path, tmp_path: Path) -> None:
    fleet = start_fleet(tmp_path, 2, token_every=0, progress=lambda _: None)
    try:
        single = configuration(fleet.members[:1])["OCI"]
        assert "Registries" not in single and single["RegistryUrl"] == fleet.members[0].url
        many = configuration(fleet.members)["OCI"]
        assert [entry["Name"] for entry in many["Registries"]] == ["r00", "r01"]
        assert "Username" not in many["Registries"][0]  # open registries get no credentials
    finally:
        fleet.stop()
    with pytest.raises(Exception, match="at least one registry"):
        start_fleet(tmp_path, 0)
