"""Fixtures of the core tests: real entry-point plugin distributions and isolated processes."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

from doctor_core import redaction as redact

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
GROUP = "doctor.plugins"


@dataclass
class PluginSite:
    """A directory on ``sys.path`` holding test plugin distributions (``*.dist-info``)."""

    path: Path
    modules: set[str] = field(default_factory=set)

    def add_distribution(self, dist: str, entry_points: dict[str, str], modules: list[str]) -> None:
        info = self.path / f"{dist.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
        lines = [f"[{GROUP}]", *(f"{name} = {target}" for name, target in entry_points.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module in modules:
            shutil.copy(FIXTURES / f"{module}.py", self.path / f"{module}.py")
            self.modules.add(module)
        importlib.invalidate_caches()

    def foreign_plugins(self) -> list[str]:
        """Entry point names installed in the environment that are not ours (to disable them)."""
        return sorted(
            ep.name for ep in importlib.metadata.entry_points(group=GROUP) if not ep.name.startswith("dtp")
        )


def _reset_stevedore() -> None:
    from stevedore import ExtensionManager

    ExtensionManager.ENTRY_POINT_CACHE.clear()


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginSite]:
    """Distributions visible through real entry points, with stevedore's caches isolated."""
    from stevedore import _cache

    site = tmp_path / "site"
    site.mkdir()
    cache = _cache.Cache(cache_dir=str(tmp_path / "entrypoint-cache"))
    monkeypatch.setattr(_cache, "get_group_all", cache.get_group_all)
    monkeypatch.syspath_prepend(str(site))
    _reset_stevedore()
    holder = PluginSite(site)
    yield holder
    _reset_stevedore()
    for module in holder.modules:
        sys.modules.pop(module, None)


@pytest.fixture(autouse=True)
def _isolated_state() -> Iterator[None]:
    """Secrets registered and logging configured by one test must not leak into the next."""
    from doctor_core import logs

    yield
    redact.forget_secrets()
    logs.reset()


@pytest.fixture
def seed_plugin() -> ModuleType:
    from tests.core.fixtures import seed_plugin

    return seed_plugin


def isolated_site(tmp_path: Path) -> Path:
    """A copy (by symlinks) of the venv's site-packages without any doctor plugin distribution.

    Run with ``python -S`` and ``PYTHONPATH=<site>:<repo>``: an environment where only doctor-core
    is installed, as after ``pip install -e .`` on a fresh machine.
    """
    import sysconfig

    source = Path(sysconfig.get_paths()["purelib"])
    site = tmp_path / "core-only-site"
    if site.exists():
        return site
    site.mkdir()
    for entry in source.iterdir():
        if entry.name.endswith(".dist-info"):
            eps = entry / "entry_points.txt"
            if eps.exists() and f"[{GROUP}]" in eps.read_text():
                continue
        if entry.suffix == ".pth" or entry.name.startswith("__editable__"):
            continue
        (site / entry.name).symlink_to(entry)
    return site


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCTOR_", "OCI__"))}
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg-cache"), NO_COLOR="1", **extra)
    return env
