"""``pip`` as the documentation test runs it: installs go to a throw-away directory, never the venv.

The plugin walk-through in ``docs/writing-plugins.md`` ends with ``pip install ./doctor-my-checks``
and ``pip uninstall -y doctor-my-checks``. Run verbatim they would change the project's virtualenv,
which other tests (and other engineers) share. The test defines a shell function ``pip`` that calls
this script instead:

* ``pip install [OPTIONS] PATH...`` -> ``python -m pip install --no-deps --target $DOCS_SITE
  PATH...`` (``$DOCS_SITE`` is on ``PYTHONPATH`` of every block of the page, so the installed
  distribution's ``doctor.plugins`` entry point is found exactly as in a venv); the build runs in
  place when the interpreter can build wheels, else in pip's isolated build environment;
* ``pip uninstall [-y] NAME...`` -> removes the files listed in the distribution's ``RECORD`` under
  ``$DOCS_SITE``;
* anything else is passed to ``python -m pip`` unchanged.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path


def _site() -> Path:
    site = os.environ.get("DOCS_SITE")
    if not site:
        raise SystemExit("docs_pip_shim: DOCS_SITE is not set")
    return Path(site)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _can_build_in_place() -> bool:
    """Whether this interpreter can build a wheel itself (``bdist_wheel``: setuptools >= 70.1 or
    the ``wheel`` package). Then the build runs in place (fast, offline); otherwise pip builds in an
    isolated environment, fetching setuptools from the configured index, as a user's pip would."""
    from importlib.util import find_spec

    if find_spec("wheel") is not None:
        return True
    try:
        from importlib.metadata import version

        major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    except (ValueError, ImportError):
        return False
    return (major, minor) >= (70, 1)


def install(args: list[str]) -> int:
    targets = [arg for arg in args if not arg.startswith("-")]
    if not targets:
        print("docs_pip_shim: pip install needs a path", file=sys.stderr)
        return 2
    isolation = ["--no-build-isolation"] if _can_build_in_place() else []
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        *isolation,
        "--upgrade",
        "--target",
        str(_site()),
        *targets,
    ]
    return subprocess.run(command, check=False).returncode


def _remove_empty(directory: Path, site: Path) -> None:
    """Remove ``directory`` and its parents up to ``site`` while they are empty (caches included)."""
    for cache in directory.glob("__pycache__"):
        for item in cache.iterdir():
            item.unlink()
        cache.rmdir()
    while directory != site and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def uninstall(args: list[str]) -> int:
    site = _site()
    names = [arg for arg in args if not arg.startswith("-")]
    status = 0
    for name in names:
        wanted = _normalize(name)
        infos = [p for p in site.glob("*.dist-info") if _normalize(p.name.split("-")[0]) == wanted]
        if not infos:
            print(f"WARNING: Skipping {name} as it is not installed.", file=sys.stderr)
            status = 1
            continue
        for info in infos:
            with (info / "RECORD").open(newline="") as handle:
                files = [site / row[0] for row in csv.reader(handle) if row]
            for path in files:
                path.unlink(missing_ok=True)
            parents = sorted({path.parent for path in files}, key=lambda p: len(p.parts), reverse=True)
            for directory in parents:
                _remove_empty(directory, site)
        print(f"Successfully uninstalled {name}")
    return status


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        return install(argv[1:])
    if argv[:1] == ["uninstall"]:
        return uninstall(argv[1:])
    return subprocess.run([sys.executable, "-m", "pip", *argv], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
