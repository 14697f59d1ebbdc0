"""A real registry with the OCI 1.1 referrers API: ``oras-project/distribution``, built from source.

Debian's ``docker-registry`` (distribution 2.8) has no referrers API, so the native discovery path
needs another real registry. The ORAS fork of distribution (commit ``5468963e``, dependencies
vendored) builds offline with Debian's Go and takes the same configuration file, so
:func:`devtools.registry.start_registry` starts it unchanged (``binary=``).

Where the program comes from, first match wins:

1. ``$DOCTOR_TEST_REFERRERS_REGISTRY`` -- a path to a registry binary the user built elsewhere
   (a path that is not an executable file is an error, never silently ignored);
2. ``.cache/oras-registry/registry`` in the repository (``make test`` builds it there once);
3. built now into that folder from the source archive, when ``go`` and the archive exist.

The source archive is ``$DOCTOR_REFERRERS_REGISTRY_SOURCE``, else the first
``oras-distribution-*.tar.gz`` in ``vendor/`` or ``../shared/vendor/`` next to the repository.
Neither Go nor the source: :class:`ReferrersRegistryUnavailable` says which is missing (the test
fixtures skip with that reason).

How this registry deviates from the final spec (its README, observed on loopback): pages of 10
referrers, ``n`` up to 100; the draft filter annotation instead of ``OCI-Filters-Applied``;
``artifactType`` listed as the config media type; index referrers not listed.

``python -m devtools.referrers_registry build`` builds (or finds) it and prints its path.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devtools.registry import Mode, RunningRegistry, start_registry

ENV_BINARY = "DOCTOR_TEST_REFERRERS_REGISTRY"
ENV_SOURCE = "DOCTOR_REFERRERS_REGISTRY_SOURCE"
REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / ".cache" / "oras-registry"
CACHED_BINARY = CACHE_DIR / "registry"
ARCHIVE_GLOB = "oras-distribution-*.tar.gz"
BUILD_TIMEOUT = 600.0
#: The registry's page size for referrers when ``n`` is not sent, and the largest ``n`` it honours.
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


class ReferrersRegistryUnavailable(RuntimeError):
    """No referrers-API registry binary, and it cannot be built here (the reason says why)."""


def source_archive() -> Path | None:
    """The source archive to build from, or ``None`` when there is none."""
    configured = os.environ.get(ENV_SOURCE, "").strip()
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ReferrersRegistryUnavailable(f"{ENV_SOURCE}={configured} is not a file")
        return path
    for folder in (REPO_ROOT / "vendor", REPO_ROOT.parent / "shared" / "vendor"):
        found = sorted(folder.glob(ARCHIVE_GLOB)) if folder.is_dir() else []
        if found:
            return found[-1]
    return None


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time across processes (pytest workers, make)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(archive: Path, target: Path = CACHED_BINARY) -> Path:
    """Build the registry from ``archive`` into ``target`` (atomically replaced); return ``target``.

    Offline: ``GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0``; the Go build cache lives in the
    cache folder so that a rebuild is fast. Raises :class:`ReferrersRegistryUnavailable` without
    ``go`` or when the build fails (its output quoted).
    """
    go = shutil.which("go")
    if go is None:
        raise ReferrersRegistryUnavailable(
            "the 'go' program is missing (Debian: apt-get install golang-go; make test installs it as root)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="src-", dir=target.parent) as scratch:
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
        roots = [p for p in Path(scratch).iterdir() if (p / "cmd" / "registry").is_dir()]
        if not roots:
            raise ReferrersRegistryUnavailable(f"{archive} holds no cmd/registry")
        partial = target.with_name(target.name + ".partial")
        env = {
            **os.environ,
            "GOFLAGS": "-mod=vendor",
            "GOPROXY": "off",
            "CGO_ENABLED": "0",
            "GOCACHE": str(target.parent / "gocache"),
        }
        done = subprocess.run(
            [go, "build", "-o", str(partial), "./cmd/registry"],
            cwd=roots[0],
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise ReferrersRegistryUnavailable(
                f"building {archive.name} failed (go build exit {done.returncode}):\n{done.stderr[-2000:]}"
            )
        partial.replace(target)
    return target


def find_referrers_registry(*, build_if_missing: bool = True) -> Path:
    """The referrers-API registry program (see the module docstring for the order)."""
    configured = os.environ.get(ENV_BINARY, "").strip()
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ReferrersRegistryUnavailable(f"{ENV_BINARY}={configured} is not an executable file")
        return path
    if CACHED_BINARY.is_file():
        return CACHED_BINARY
    if not build_if_missing:
        raise ReferrersRegistryUnavailable(f"{CACHED_BINARY} is not built (make test builds it)")
    archive = source_archive()
    if archive is None and shutil.which("go") is None:
        raise ReferrersRegistryUnavailable(
            f"neither Go nor the oras-project/distribution source ({ARCHIVE_GLOB}) is available; "
            f"set {ENV_BINARY} to a registry with the referrers API"
        )
    if archive is None:
        raise ReferrersRegistryUnavailable(
            f"no {ARCHIVE_GLOB} in vendor/ or ../shared/vendor/ (set {ENV_SOURCE} or {ENV_BINARY})"
        )
    with _build_lock():
        if CACHED_BINARY.is_file():  # built by another process meanwhile
            return CACHED_BINARY
        return build(archive)


def start_referrers_registry(mode: Mode, *, workdir: Path, **options: Any) -> RunningRegistry:
    """:func:`~devtools.registry.start_registry` with the referrers-API registry (same modes and
    options: ``open``, ``htpasswd-tls``, ``token``)."""
    return start_registry(mode, workdir=workdir, binary=find_referrers_registry(), **options)


def main(argv: list[str]) -> int:
    """``build``: find or build the binary, print its path (exit 1 with the reason if impossible)."""
    if argv != ["build"]:
        print("usage: python -m devtools.referrers_registry build", file=sys.stderr)
        return 2
    try:
        print(find_referrers_registry())
    except ReferrersRegistryUnavailable as exc:
        print(f"referrers registry unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
