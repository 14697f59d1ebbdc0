"""Look at distribution's filesystem storage: snapshots, diffs, live upload sessions.

The push check promises to be non-destructive; the tests prove it by comparing the storage tree
before and after (:func:`snapshot`, :func:`diff`), and prove no upload session is left open with
:func:`live_uploads`. Layout (filesystem driver, under ``rootdirectory``)::

    docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data
    docker/registry/v2/repositories/<name>/_layers/ _manifests/ _uploads/<uuid>/

Paths are relative to the storage root, with ``/`` separators; directories map to ``"<dir>"`` so an
empty directory left behind is visible too.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

DIR = "<dir>"
REPOSITORIES = "docker/registry/v2/repositories"


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def snapshot(storage_root: Path) -> dict[str, str]:
    """Every file (sha256 of its content) and directory (``"<dir>"``) under ``storage_root``.

    Symlinks are recorded as ``"-> target"`` and not followed. A missing root is an error (a typo
    would otherwise make every diff empty).
    """
    root = Path(storage_root)
    if not root.is_dir():
        raise FileNotFoundError(f"registry storage root {root} does not exist or is not a directory")
    entries: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames:
            path = base / name
            rel = path.relative_to(root).as_posix()
            entries[rel] = f"-> {os.readlink(path)}" if path.is_symlink() else DIR
        for name in filenames:
            path = base / name
            rel = path.relative_to(root).as_posix()
            entries[rel] = f"-> {os.readlink(path)}" if path.is_symlink() else _file_digest(path)
    return entries


@dataclass(frozen=True)
class StorageDiff:
    """What changed between two snapshots: sorted relative paths."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    @property
    def empty(self) -> bool:
        return not self

    def ignoring(self, *patterns: str | Callable[[str], bool]) -> StorageDiff:
        """The same diff without paths matching any glob pattern (``fnmatch``) or predicate.

        For the documented residue of a probe, e.g. ``"docker/registry/v2/repositories/*/_uploads"``.
        """

        def keep(path: str) -> bool:
            for pattern in patterns:
                hit = pattern(path) if callable(pattern) else fnmatch.fnmatchcase(path, pattern)
                if hit:
                    return False
            return True

        return StorageDiff(
            tuple(filter(keep, self.added)),
            tuple(filter(keep, self.removed)),
            tuple(filter(keep, self.changed)),
        )

    def __str__(self) -> str:
        if not self:
            return "storage unchanged"
        lines = [
            f"storage changed: {len(self.added)} added, {len(self.removed)} removed, "
            f"{len(self.changed)} changed"
        ]
        lines += [f"  + {p}" for p in self.added]
        lines += [f"  - {p}" for p in self.removed]
        lines += [f"  ~ {p}" for p in self.changed]
        return "\n".join(lines)


def diff(before: Mapping[str, str], after: Mapping[str, str]) -> StorageDiff:
    """Compare two :func:`snapshot` results."""
    return StorageDiff(
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(sorted(p for p in before.keys() & after.keys() if before[p] != after[p])),
    )


def _upload_dirs(storage_root: Path) -> list[Path]:
    """Every ``_uploads/<uuid>`` directory below ``repositories`` (names may be nested: ``test/foo``)."""
    repositories = Path(storage_root) / REPOSITORIES
    found: list[Path] = []
    if not repositories.is_dir():
        return found
    for dirpath, dirnames, _files in os.walk(repositories):
        if os.path.basename(dirpath) == "_uploads":
            found.extend(Path(dirpath) / name for name in dirnames)
            dirnames.clear()
        else:
            # Layer links and manifest revisions never hold upload sessions; skip their subtrees.
            dirnames[:] = [d for d in dirnames if d not in ("_layers", "_manifests")]
    return found


def live_uploads(storage_root: Path) -> list[str]:
    """Upload sessions the registry would still resume.

    Paths are ``docker/registry/v2/repositories/<name>/_uploads/<uuid>``.

    Live means the session's ``startedat`` file exists -- distribution 2.8 answers 404
    ``BLOB_UPLOAD_UNKNOWN`` for a session without it. A cancelled session is *not* live even though
    2.8 leaves its directory behind (see :func:`upload_residue`). Sorted paths relative to the root.
    """
    root = Path(storage_root)
    return sorted(p.relative_to(root).as_posix() for p in _upload_dirs(root) if (p / "startedat").is_file())


def upload_residue(storage_root: Path) -> list[str]:
    """Upload directories that are not live sessions: what a cancelled upload leaves behind.

    Distribution 2.8 removes a cancelled session's ``data`` and ``startedat`` but then rewrites
    ``hashstates/sha256/0`` when the request closes the upload, so ``_uploads/<uuid>/hashstates/...``
    stays in storage for good (only upload purging removes it). Sorted paths relative to the root.
    """
    root = Path(storage_root)
    return sorted(
        p.relative_to(root).as_posix() for p in _upload_dirs(root) if not (p / "startedat").is_file()
    )
