"""library/s3_download.py: the pure logic of INFO-013 (key → local path, archived objects, conflicts between the
planned files, folders that cannot be made, rollback), without S3; the S3 runs are tests/integration/
test_s3_download.py."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from library import s3_download as s3


@pytest.mark.parametrize(("key", "prefix", "rel"), [
    ("exports/2026/a.csv", "exports/", os.path.join("2026", "a.csv")),
    ("exports/a.csv", "exports", "a.csv"),  # the "/" after the prefix is dropped
    ("exports/2026/a.csv", None, "a.csv"),  # a single key: its file name
    ("exports/", "exports/", None),  # the folder marker itself
    ("exports/2026/", "exports/", None),
    ("exports/../etc/passwd", "exports/", None),
    ("exports/./a.csv", "exports/", None),
    ("exports//a.csv", "exports/", os.path.join("a.csv")),  # a leading "/" of the rest is dropped
    ("exports/a//b.csv", "exports/", None),
    ("exports/a\\b.csv", "exports/", None),
    ("exports/a\x00.csv", "exports/", None),
])
def test_a_key_maps_to_a_relative_path_or_to_none(key: str, prefix: str | None, rel: str | None) -> None:
    assert s3.local_rel(key, prefix) == rel


def test_only_archive_classes_need_a_head_and_a_restored_copy_is_readable() -> None:
    assert [c for c in ("STANDARD", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE", "INTELLIGENT_TIERING")
            if s3.needs_head(c)] == ["GLACIER", "DEEP_ARCHIVE", "INTELLIGENT_TIERING"]
    assert s3.archived({}) is None and s3.archived({"StorageClass": "GLACIER_IR"}) is None
    assert s3.archived({"StorageClass": "GLACIER"}) == "GLACIER, it has not been restored"
    assert s3.archived({"StorageClass": "DEEP_ARCHIVE", "Restore": 'ongoing-request="true"'}) == (
        "DEEP_ARCHIVE, its restore is still in progress")
    assert s3.archived({"StorageClass": "GLACIER",
                        "Restore": 'ongoing-request="false", expiry-date="Fri, 23 Dec 2026 00:00:00 GMT"'}) is None
    assert s3.archived({"StorageClass": "INTELLIGENT_TIERING"}) is None  # frequent/infrequent tiers
    assert s3.archived({"StorageClass": "INTELLIGENT_TIERING", "ArchiveStatus": "DEEP_ARCHIVE_ACCESS"}) == (
        "INTELLIGENT_TIERING/DEEP_ARCHIVE_ACCESS, it has not been restored")


def test_two_keys_on_one_file_and_a_file_that_must_be_a_folder_are_conflicts() -> None:
    dest = "/r/d"
    assert s3.local_conflicts({"p/a": "/r/d/a", "p/b": "/r/d/b"}, dest) == []
    same = s3.local_conflicts({"x/a.csv": "/r/d/a.csv", "y/a.csv": "/r/d/a.csv"}, dest)
    assert len(same) == 1 and "'x/a.csv', 'y/a.csv' all map to the local file /r/d/a.csv" in same[0]
    nested = s3.local_conflicts({"p/a": "/r/d/a", "p/a/b": "/r/d/a/b"}, dest)
    assert nested == ["key 'p/a' maps to /r/d/a, which key 'p/a/b' needs as a folder; download one of them (key: "
                      "...) into another dest_dir"]


def test_folder_problems_name_the_blocking_file_once_and_an_unwritable_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    problems = s3.folder_problems([str(tmp_path / "file" / "a"), str(tmp_path / "file" / "b"),
                                   str(tmp_path / "new" / "c")])
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'file'} exists and is not a folder")
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o555)
        assert "is not writable by uid" in s3.folder_problems([str(tmp_path / "ro" / "x")])[0]


def test_inside_follows_symlinks(tmp_path: Path) -> None:
    (tmp_path / "root" / "in").mkdir(parents=True)
    (tmp_path / "root" / "out").symlink_to(tmp_path)
    root = str(tmp_path / "root")
    assert s3.inside(root, root) and s3.inside(root, str(tmp_path / "root" / "in"))
    assert not s3.inside(root, str(tmp_path / "root" / "out")) and not s3.inside(root, str(tmp_path / "rootx"))


def test_digests_and_the_entry_of_an_object(tmp_path: Path) -> None:
    f = tmp_path / "a"
    f.write_bytes(b"abc" * 1000)
    data = f.read_bytes()
    assert s3.digests(str(f)) == (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), 3000)
    assert s3.s3_object("k", 3, '"e1"', None) == {"key": "k", "size": 3, "etag": "e1", "storage_class": "STANDARD"}


def test_rollback_restores_overwritten_files_removes_new_ones_and_created_folders(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    folder.mkdir()
    created_file, overwritten = folder / "created", tmp_path / "old"
    created_file.write_text("new")
    overwritten.write_text("new content")
    keep = tmp_path / ".keep"
    keep.write_text("old content")
    tmp = tmp_path / ".tmp-1"
    tmp.write_text("staged")
    left = s3.rollback([(str(tmp), {})], [str(created_file), str(overwritten)], {str(overwritten): str(keep)},
                       [str(folder)])
    assert left == []
    assert overwritten.read_text() == "old content" and not created_file.exists() and not tmp.exists()
    assert not folder.exists() and not keep.exists()
    # an overwritten file with no link to its old content cannot be restored: it is named
    other = tmp_path / "other"
    other.write_text("new")
    assert s3.rollback([], [str(other)], {str(other): None}, []) == [str(other)]
