"""Installable fake plugins for command-line tests: real distributions on a temporary ``PYTHONPATH``.

Each plugin is a ``*.dist-info`` directory (``METADATA`` with its distribution name,
``entry_points.txt`` in the ``doctor.plugins`` group) next to its module, exactly what pip would
leave, so the tests go through the same discovery (stevedore, importlib.metadata) as a user's run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tests.reliability.runner import base_environment

GROUP = "doctor.plugins"
HEADER = "from doctor_core import Check, CheckDefinition, CheckOutcome, Status, hookimpl\n"
PASS = "return CheckOutcome(status=Status.PASS, message='fine')"


def check_module(check_id: str, *body: str, tag: str, sync: bool = False, top: str = "") -> str:
    """Source of a plugin module contributing one check whose body is ``body`` (lines).

    ``top`` is module-level code run at import; ``sync`` makes the check a plain function.
    """
    name = check_id.rsplit(".", 1)[-1]
    lines = "\n".join(f"    {line}" for line in body)
    definition = (
        f"CheckDefinition(check_id={check_id!r}, name={name!r}, tags=({tag!r},), estimated_duration_s=1)"
    )
    keyword = "def" if sync else "async def"
    return (
        f"{HEADER}{top}\n\n{keyword} _run(ctx):\n{lines}\n\n\n@hookimpl\ndef doctor_add_checks():\n"
        f"    return [Check({definition}, run=_run)]\n"
    )


def install(site: Path, plugins: Mapping[str, tuple[str, str]]) -> Path:
    """Write ``{distribution: (module, source)}`` as installed distributions under ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    for dist, (module, source) in plugins.items():
        info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
        (info / "entry_points.txt").write_text(f"[{GROUP}]\n{module} = {module}\n")
        (site / f"{module}.py").write_text(source)
    return site


def environment(site: Path, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean doctor environment with ``site`` first on ``PYTHONPATH``."""
    env = base_environment(home, extra)
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    return env
