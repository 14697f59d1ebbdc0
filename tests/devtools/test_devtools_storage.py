"""Storage snapshots and diffs see what the registry writes; live_uploads sees open sessions only."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from devtools.images import PushedImage, push_image
from devtools.registry import RunningRegistry
from devtools.storage import (
    DIR,
    StorageDiff,
    diff,
    live_uploads,
    snapshot,
    upload_residue,
    write_tag_links,
)

BLOBS = "docker/registry/v2/blobs/sha256"


def test_snapshot_and_diff_detect_a_pushed_blob(open_registry: RunningRegistry, unique_repo: str) -> None:
    before = snapshot(open_registry.storage)
    data = f"blob for {unique_repo}".encode()
    digest = open_registry.http().put_blob(unique_repo, data)
    after = snapshot(open_registry.storage)
    changes = diff(before, after)
    hexpart = digest.removeprefix("sha256:")
    blob_path = f"{BLOBS}/{hexpart[:2]}/{hexpart}/data"
    assert blob_path in changes.added
    assert after[blob_path] == hashlib.sha256(data).hexdigest()
    link = f"docker/registry/v2/repositories/{unique_repo}/_layers/sha256/{hexpart}/link"
    assert link in changes.added
    assert changes.removed == () and changes.changed == ()
    assert f"  + {blob_path}" in str(changes)
    assert str(changes).startswith("storage changed: ")
    assert diff(after, snapshot(open_registry.storage)).empty


def test_pulling_changes_nothing(open_registry: RunningRegistry, test_image: PushedImage) -> None:
    before = snapshot(open_registry.storage)
    assert open_registry.http().get_manifest(test_image.repository, "latest").digest == test_image.digest
    changes = diff(before, snapshot(open_registry.storage))
    assert not changes, str(changes)


def test_live_uploads_sees_an_open_session_and_not_a_cancelled_one(
    open_registry: RunningRegistry, unique_repo: str
) -> None:
    http = open_registry.http()
    http.put_blob(unique_repo, b"make the repository exist")
    before = snapshot(open_registry.storage)
    location = http.start_upload(unique_repo)
    uuid = urlsplit(location).path.rstrip("/").rsplit("/", 1)[1]
    session = f"docker/registry/v2/repositories/{unique_repo}/_uploads/{uuid}"
    assert session in live_uploads(open_registry.storage)
    assert http.upload_status(location) == 204
    # A DELETE without the _state query is refused and the session stays live.
    bare = location.split("?", 1)[0]
    assert http.cancel_upload(bare) == 404
    assert session in live_uploads(open_registry.storage)
    assert http.cancel_upload(location) == 204
    assert http.upload_status(location) == 404
    assert session not in live_uploads(open_registry.storage)
    # Distribution 2.8 leaves the cancelled session's hash state behind: the documented residue.
    assert session in upload_residue(open_registry.storage)
    changes = diff(before, snapshot(open_registry.storage))
    assert changes.added and all(p.startswith(session) for p in changes.added), str(changes)
    assert not changes.ignoring(f"docker/registry/v2/repositories/{unique_repo}/_uploads/*")


def test_nested_repository_uploads_are_found(open_registry: RunningRegistry) -> None:
    http = open_registry.http()
    location = http.start_upload("test/deeply/nested/repo")
    try:
        assert any(
            p.startswith("docker/registry/v2/repositories/test/deeply/nested/repo/_uploads/")
            for p in live_uploads(open_registry.storage)
        )
    finally:
        assert http.cancel_upload(location) == 204
    assert not any("test/deeply/nested/repo" in p for p in live_uploads(open_registry.storage))


def test_diff_on_plain_mappings() -> None:
    before = {"a": DIR, "a/x": "1", "a/y": "2"}
    after = {"a": DIR, "a/x": "1", "a/y": "3", "b": DIR}
    changes = diff(before, after)
    assert changes == StorageDiff(added=("b",), removed=(), changed=("a/y",))
    assert str(changes) == "storage changed: 1 added, 0 removed, 1 changed\n  + b\n  ~ a/y"
    assert diff(after, before).removed == ("b",)
    assert str(diff(before, before)) == "storage unchanged"
    assert not changes.ignoring("b", lambda p: p.endswith("/y"))


def test_snapshot_records_directories_files_and_symlinks(tmp_path: Path) -> None:
    (tmp_path / "d" / "empty").mkdir(parents=True)
    (tmp_path / "d" / "f").write_bytes(b"abc")
    (tmp_path / "link").symlink_to("d/f")
    assert snapshot(tmp_path) == {
        "d": DIR,
        "d/empty": DIR,
        "d/f": hashlib.sha256(b"abc").hexdigest(),
        "link": "-> d/f",
    }
    assert live_uploads(tmp_path) == [] and upload_residue(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="does not exist"):
        snapshot(tmp_path / "missing")


def test_write_tag_links_creates_tags_the_registry_serves(
    registry_factory: Callable[..., RunningRegistry], unique_repo: str
) -> None:
    registry = registry_factory("open")
    image = push_image(registry, unique_repo, "latest")
    tags = [f"bulk-{i:04d}" for i in range(500)]
    assert write_tag_links(registry.storage, unique_repo, image.digest, tags) == 500
    http = registry.http()
    assert set(http.tags(unique_repo)) == {"latest", *tags}
    assert http.get_manifest(unique_repo, "bulk-0499").digest == image.digest
    with pytest.raises(FileNotFoundError, match="push it first"):
        write_tag_links(registry.storage, unique_repo, "sha256:" + "0" * 64, ["x"])
    with pytest.raises(ValueError, match="invalid tag"):
        write_tag_links(registry.storage, unique_repo, image.digest, ["-bad"])
    with pytest.raises(ValueError, match="digest"):
        write_tag_links(registry.storage, unique_repo, "latest", ["x"])
