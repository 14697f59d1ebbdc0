"""Keeps bench S5 (many registries in one run) working: a small fleet at 0 ms, one round.

The numbers of the real scenario (20 registries, 50 ms) come from ``python -m bench.s5_registries``;
here the code path runs end to end against real registries, and what does not depend on timing is
asserted: every registry gets its five results, and none receives more requests on the wire than a
one-registry run of its kind; the reference client's ``--fleet`` run after each of doctor's probes
every registry of the size, and what it says it sent is what each registry's proxy saw.
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
    # The reference client did the same registries after each of doctor's runs, one round each.
    assert {size: len(samples) for size, samples in result.reference.items()} == {"1": 1, "1-open": 1, "3": 1}
    kinds = {"r00": "token", "r01": "open", "r02": "token"}
    per_kind: dict[str, set[int]] = {"token": set(), "open": set()}
    for size, samples in result.reference.items():
        ref = samples[0]
        assert set(ref.requests) == set(result.samples[size][0].requests), size
        for name, wire in ref.requests.items():
            # Its token request goes to the token server's proxy, not the registry's.
            assert ref.reported[name] == wire + (1 if kinds[name] == "token" else 0), (size, name)
            per_kind[kinds[name]].add(wire)
    # Nothing repeated or lost when it probes more registries at once.
    assert all(len(counts) == 1 and min(counts) > 0 for counts in per_kind.values()), per_kind
    assert result.factor("3", reference=True) is not None
    assert result.as_dict()["sizes"]["3"]["reference"]["max_requests_per_registry"]["open"] > 0
    text = render_markdown(result)
    assert "| 3 |" in text and "requests per registry <= a one-registry run of its kind: met" in text
    assert "reference wall" in text and "the reference client" in text and "in the same rounds" in text


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
