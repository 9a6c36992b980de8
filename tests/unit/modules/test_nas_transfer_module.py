"""library/nas_transfer.py: the request checks and the plan of STAT-006/007/011/012 (copy, archive, extract) on
local folders, without Ansible; the engine is tests/unit/module_utils/test_nas_transfer_engine.py, the runs through
ops-driver tests/integration/test_nas_transfer.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from library import nas_transfer
from tests.support.ec2_stub import Exited, FakeModule


def _params(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    (tmp_path / "prod" / "work").mkdir(parents=True, exist_ok=True)
    (tmp_path / "maint").mkdir(exist_ok=True)
    return {"source_root": str(tmp_path / "prod"), "dest_root": str(tmp_path / "maint"), "source_dir": "work",
            "dest_dir": "in", "items": ["*"], "require_mount": False, "dest_is_share": True, "compression": "none",
            "encryption": "none", "password": None, "extract": False, "archive_name": None, "overwrite": False,
            "ticket": "REQ-1", **kw}


def _refusal(params: dict[str, Any], step: str = "check") -> str:
    t = nas_transfer.Transfer(FakeModule(params))
    with pytest.raises(Exited) as e:
        t.check()
        if step == "plan":
            t.plan()
    assert e.value.failed
    return str(e.value.result["msg"])


def test_the_archive_format_is_read_from_the_name() -> None:
    assert [nas_transfer.archive_format(n) for n in ("a.zip", "a.7z", "a.tar.gz", "a.tgz", "a.gz")] == [
        "zip", "7z", "tar.gz", None, None]


def test_a_missing_or_unmounted_share_is_invalid_input(tmp_path: Path) -> None:
    assert _refusal(_params(tmp_path, dest_root=str(tmp_path / "none"))) == (
        f"INVALID INPUT: dest_root: the share {tmp_path / 'none'} is not there (not mounted?)")
    assert _refusal(_params(tmp_path, require_mount=True)) == (
        f"INVALID INPUT: source_root: the share {tmp_path / 'prod'} is not mounted")


@pytest.mark.parametrize(("kw", "msg"), [
    ({"encryption": "aes256"}, "encryption: aes256 needs a password (password_source: vault or env)"),
    ({"encryption": "aes256", "password": "pw-123456"}, "encryption: aes256 needs compression zip or 7z"),
    ({"encryption": "aes256", "password": "pw-123456", "compression": "tar.gz"},
     "encryption: aes256 needs compression zip or 7z"),
    ({"extract": True, "compression": "zip"}, "extract: the items are archives to extract; leave compression at none"),
])
def test_encryption_compression_and_extract_must_agree(tmp_path: Path, kw: dict[str, Any], msg: str) -> None:
    assert _refusal(_params(tmp_path, **kw)) == "INVALID INPUT: " + msg


def test_an_encrypted_extract_needs_no_compression(tmp_path: Path) -> None:
    nas_transfer.Transfer(FakeModule(_params(tmp_path, encryption="aes256", password="pw-123456",
                                             extract=True))).check()  # no failure


def test_a_copy_plans_one_change_per_file_and_changes_nothing(tmp_path: Path) -> None:
    params = _params(tmp_path)  # makes the shares
    (tmp_path / "prod" / "work" / "a.csv").write_text("a,b\n")
    (tmp_path / "prod" / "work" / "b.csv").write_text("c,d\n")
    t = nas_transfer.Transfer(FakeModule(params))
    t.check()
    t.plan()
    assert [(c["name"], c["action"], c["changed"]) for c in t.changes] == [("a.csv", "create", True),
                                                                          ("b.csv", "create", True)]
    assert t.src_manifest and set(t.src_manifest) == {"a.csv", "b.csv"}  # check mode hashes up front
    assert list((tmp_path / "maint").iterdir()) == []


def test_an_extract_of_a_file_that_is_no_archive_and_a_bad_archive_name_are_refused(tmp_path: Path) -> None:
    _params(tmp_path)
    (tmp_path / "prod" / "work" / "a.csv").write_text("a\n")
    assert _refusal(_params(tmp_path, extract=True), "plan") == (
        "INVALID INPUT: items: a.csv is not a .zip, .7z or .tar.gz archive")
    assert _refusal(_params(tmp_path, compression="zip", archive_name="../x.zip"), "plan") == (
        "INVALID INPUT: archive_name: '../x.zip' must be a plain file name")


def test_an_existing_archive_needs_overwrite_and_is_then_backed_up(tmp_path: Path) -> None:
    _params(tmp_path)
    (tmp_path / "prod" / "work" / "a.csv").write_text("a\n")
    (tmp_path / "maint" / "in").mkdir(parents=True)
    (tmp_path / "maint" / "in" / "REQ-1.zip").write_bytes(b"old")
    msg = _refusal(_params(tmp_path, compression="zip"), "plan")
    assert msg.startswith("INVALID INPUT: ") and "REQ-1.zip exists (set overwrite: true" in msg
    t = nas_transfer.Transfer(FakeModule(_params(tmp_path, compression="zip", overwrite=True)))
    t.check()
    t.plan()
    assert t.backup == "REQ-1.zip.bak-REQ-1" and [c["action"] for c in t.changes] == ["overwrite"]
