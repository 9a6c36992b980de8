"""module_utils/ops_paths.py: what a plan checks before a module writes files (read-only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible.module_utils import ops_paths


def test_nearest_existing_is_the_path_or_its_first_existing_ancestor(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert ops_paths.nearest_existing(str(tmp_path / "a")) == str(tmp_path / "a")
    assert ops_paths.nearest_existing(str(tmp_path / "a" / "b" / "c")) == str(tmp_path / "a")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    assert ops_paths.nearest_existing(str(tmp_path / "link" / "x")) == str(tmp_path / "link")  # a broken link exists
    assert ops_paths.nearest_existing("/no-such-folder-here/x") == "/"


def test_folder_obstacle_names_the_component_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    assert ops_paths.folder_obstacle(str(tmp_path / "new" / "deeper")) is None
    assert ops_paths.folder_obstacle(str(tmp_path / "file" / "sub")) == (str(tmp_path / "file"), "not a directory")
    assert ops_paths.folder_obstacle(str(tmp_path / "link" / "sub")) == (str(tmp_path / "link"),
                                                                          "a broken symbolic link")


def test_folder_obstacle_and_problem_refuse_a_folder_this_user_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # The tests run as root, which may write anywhere: this user is refused W_OK|X_OK on ``locked`` only.
    monkeypatch.setattr(ops_paths.os, "access", lambda p, mode: p != str(locked) and real_access(p, mode))
    assert ops_paths.folder_obstacle(str(locked / "new")) == (str(locked), "not writable")
    assert ops_paths.folder_obstacle(str(tmp_path / "other")) is None
    assert ops_paths.folder_problem(str(locked / "new")) == (
        f"{locked} is not a writable folder, so {locked / 'new'} cannot be created")
    assert ops_paths.folder_problem(str(locked)) == f"{locked} is not a writable folder"


def test_folder_problem_says_why_and_what_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert ops_paths.folder_problem(str(tmp_path)) is None
    assert ops_paths.folder_problem(str(tmp_path / "file")) == "%s is not a directory" % (tmp_path / "file")
    assert ops_paths.folder_problem(str(tmp_path / "file" / "sub")) == (
        f"{tmp_path / 'file'} is not a directory, so {tmp_path / 'file' / 'sub'} cannot be created")


def test_file_target_problem_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "ok.tmp").mkdir()
    assert ops_paths.file_target_problem(str(tmp_path / "new")) is None
    assert ops_paths.file_target_problem(str(tmp_path / "dir")) == "%s exists and is a directory" % (tmp_path / "dir")
    assert ops_paths.file_target_problem(str(tmp_path / "ok")) == "%s exists and is a directory" % (tmp_path / "ok.tmp")
    assert ops_paths.file_target_problem(str(tmp_path / "ok"), tmp_suffix=None) is None
