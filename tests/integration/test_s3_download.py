"""INFO-013 against the sandbox bucket: staged, verified, never overwriting silently, never escaping."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

import ops_sandbox
from ops_driver.errors import InvalidInput
from ops_driver.run import pipeline
from tests.integration.conftest import write_request
from tests.support.approvals import approved

pytestmark = pytest.mark.integration


@pytest.fixture()
def restore(sandbox_server: dict[str, Any], estate: Any, tmp_path: Path) -> Path:
    """An empty restore root for this test (the sandbox inventory reads OPS_SANDBOX_DIR/restore)."""
    root = Path(os.environ["OPS_SANDBOX_DIR"]) / "restore"
    for p in sorted(root.rglob("*"), reverse=True):
        p.unlink() if p.is_file() or p.is_symlink() else p.rmdir()
    return root


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _req(tmp_path: Path, **params: Any) -> Path:
    return write_request(tmp_path / "r.yml", "INFO-013", {"bucket": ops_sandbox.BUCKET, "dest_dir": "REQ-1", **params})


def test_plan_writes_nothing_apply_downloads_and_records_hashes(restore: Path, tmp_path: Path) -> None:
    plan = pipeline.plan(_req(tmp_path, prefix="restore/app/"))
    assert plan.exit_code == 0, plan.message
    assert files(restore) == {}
    assert {(c["resource"], c["action"]) for c in plan.changes} == {
        (f"s3://{ops_sandbox.BUCKET}/restore/app/config.yml", "create"),
        (f"s3://{ops_sandbox.BUCKET}/restore/app/data/users.csv", "create"),
    }
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    assert out.manifest["comparison"]["unpredicted"] == [] and len(out.manifest["comparison"]["matched"]) == 2
    got = files(restore)
    assert got == {
        "REQ-1/config.yml": ops_sandbox.BUCKET_OBJECTS["restore/app/config.yml"],
        "REQ-1/data/users.csv": ops_sandbox.BUCKET_OBJECTS["restore/app/data/users.csv"],
    }
    for c in out.changes:
        body = ops_sandbox.BUCKET_OBJECTS[c["resource"].split("/", 3)[3]]
        assert c["after"]["sha256"] == hashlib.sha256(body).hexdigest() and c["after"]["size"] == len(body)
        assert c["after"]["etag"] == hashlib.md5(body).hexdigest()
    again = pipeline.plan(_req(tmp_path, prefix="restore/app/"))
    assert again.exit_code == 0 and not any(c["changed"] for c in again.changes)


def test_single_key(restore: Path, tmp_path: Path) -> None:
    out = pipeline.apply(approved(pipeline.plan(_req(tmp_path, key="restore/db/dump.sql")).run_id))
    assert out.exit_code == 0
    assert files(restore) == {"REQ-1/dump.sql": ops_sandbox.BUCKET_OBJECTS["restore/db/dump.sql"]}


def test_existing_file_is_never_overwritten_silently(restore: Path, tmp_path: Path) -> None:
    (restore / "REQ-1").mkdir()
    old = restore / "REQ-1" / "dump.sql"
    old.write_bytes(b"local edits\n")
    refused = pipeline.plan(_req(tmp_path, key="restore/db/dump.sql"))
    assert refused.exit_code == 2 and "exists with other content (set overwrite: true" in refused.message
    assert old.read_bytes() == b"local edits\n"
    plan = pipeline.plan(_req(tmp_path, key="restore/db/dump.sql", overwrite=True))
    [change] = plan.changes
    assert change["action"] == "overwrite"
    assert change["before"]["sha256"] == hashlib.sha256(b"local edits\n").hexdigest()
    assert pipeline.apply(approved(plan.run_id)).exit_code == 0
    assert old.read_bytes() == ops_sandbox.BUCKET_OBJECTS["restore/db/dump.sql"]


def test_paths_that_escape_the_restore_root_are_refused(restore: Path, tmp_path: Path, sandbox_server: Any) -> None:
    with pytest.raises(InvalidInput, match=r"params\.dest_dir"):
        pipeline.plan(_req(tmp_path, prefix="restore/app/", dest_dir="../outside"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (restore / "link").symlink_to(outside)
    out = pipeline.plan(_req(tmp_path, prefix="restore/app/", dest_dir="link"))
    assert out.exit_code == 2 and "leads outside" in out.message
    s3 = ops_sandbox.s3_client(sandbox_server["endpoint"])
    s3.put_object(Bucket=ops_sandbox.BUCKET, Key="evil/../../../../tmp/pwned", Body=b"x")
    try:
        out = pipeline.plan(_req(tmp_path, prefix="evil/"))
        assert out.exit_code == 2 and "would land outside" in out.message
    finally:
        s3.delete_object(Bucket=ops_sandbox.BUCKET, Key="evil/../../../../tmp/pwned")
    assert files(restore) == {} and list(outside.iterdir()) == []


@pytest.mark.parametrize(
    "params, needle",
    [
        ({"bucket": "no-such-bucket-here", "prefix": "x/"}, "bucket 'no-such-bucket-here' does not exist"),
        ({"key": "restore/nope.txt"}, "restore/nope.txt does not exist"),
        ({"prefix": "nothing/here/"}, "no object under"),
    ],
)
def test_missing_bucket_key_or_prefix_exit_2(
    restore: Path, tmp_path: Path, params: dict[str, Any], needle: str
) -> None:
    out = pipeline.plan(_req(tmp_path, **params))
    assert out.exit_code == 2 and needle in out.message
    assert files(restore) == {}


def test_failure_half_way_leaves_nothing_behind(proxied: Any, restore: Path, tmp_path: Path) -> None:
    plan = pipeline.plan(_req(tmp_path, prefix="restore/app/"))
    proxied.s3_denied_keys.add("restore/app/data/users.csv")
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 3 and "nothing was written" in out.message
    assert [p for p in restore.rglob("*") if p.is_file()] == []  # no file, no staged part


def tree(root: Path) -> list[str]:
    """Every path under ``root`` (files, folders, staged parts), to show that a refused plan wrote nothing."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _put(s3: Any, objects: dict[str, bytes], **kw: Any) -> None:
    for key, body in objects.items():
        s3.put_object(Bucket=ops_sandbox.BUCKET, Key=key, Body=body, **kw)


def _delete(s3: Any, keys: Any) -> None:
    for key in keys:
        s3.delete_object(Bucket=ops_sandbox.BUCKET, Key=key)


def test_a_key_whose_file_is_another_keys_folder_is_refused(restore: Path, tmp_path: Path, sandbox_server: Any) -> None:
    # Before the fix: planned "create" twice; the apply's rename onto the folder REQ-1/data crashed the module
    # (IsADirectoryError) and left .part-* files behind.
    s3 = ops_sandbox.s3_client(sandbox_server["endpoint"])
    clash = {"clash/data": b"a file named data\n", "clash/data/users.csv": b"id\n1\n"}
    _put(s3, clash)
    before = tree(restore)
    try:
        out = pipeline.plan(_req(tmp_path, prefix="clash/"))
    finally:
        _delete(s3, clash)
    assert out.exit_code == 2, out.message
    assert "INVALID INPUT:" in out.message and "'clash/data'" in out.message
    assert "'clash/data/users.csv' needs as a folder" in out.message
    assert tree(restore) == before


@pytest.mark.parametrize("blocker", ["REQ-1", "REQ-1/data"], ids=["dest_dir", "ancestor"])
def test_an_existing_file_where_a_folder_is_needed_is_refused(restore: Path, tmp_path: Path, blocker: str) -> None:
    # Before the fix: planned "create"; the apply's makedirs failed (exit 3).
    (restore / blocker).parent.mkdir(parents=True, exist_ok=True)
    (restore / blocker).write_bytes(b"in the way\n")
    before, content = tree(restore), files(restore)
    out = pipeline.plan(_req(tmp_path, prefix="restore/app/"))
    assert out.exit_code == 2, out.message
    assert f"{restore / blocker} exists and is not a folder" in out.message and "move it away" in out.message
    assert tree(restore) == before and files(restore) == content


def test_two_keys_mapping_to_one_local_file_are_refused(restore: Path, tmp_path: Path, sandbox_server: Any) -> None:
    # Before the fix: both planned "create"; the apply wrote one over the other silently (exit 0).
    s3 = ops_sandbox.s3_client(sandbox_server["endpoint"])
    dup = {"dup/x": b"one\n", "dup//x": b"two\n"}
    _put(s3, dup)
    before = tree(restore)
    try:
        out = pipeline.plan(_req(tmp_path, prefix="dup/"))
    finally:
        _delete(s3, dup)
    assert out.exit_code == 2, out.message
    assert "keys 'dup//x', 'dup/x' all map to the local file" in out.message
    assert tree(restore) == before


def test_an_archived_object_is_refused_until_restored(restore: Path, tmp_path: Path, sandbox_server: Any) -> None:
    # Before the fix: listed with size and ETag, planned "create"; the apply's GetObject failed (exit 3).
    s3 = ops_sandbox.s3_client(sandbox_server["endpoint"])
    cold = {"cold/old.csv": b"id\n1\n"}
    _put(s3, cold, StorageClass="GLACIER")
    _put(s3, {"cold/ir.csv": b"id\n2\n"}, StorageClass="GLACIER_IR")  # instant retrieval: read like STANDARD
    try:
        with pytest.raises(s3.exceptions.ClientError, match="InvalidObjectState"):
            s3.get_object(Bucket=ops_sandbox.BUCKET, Key="cold/old.csv")  # the apply would really fail here
        before = tree(restore)
        for params in ({"prefix": "cold/"}, {"key": "cold/old.csv"}):
            out = pipeline.plan(_req(tmp_path, **params))
            assert out.exit_code == 2, out.message
            assert (f"s3://{ops_sandbox.BUCKET}/cold/old.csv is archived (GLACIER, it has not been restored)"
                    in out.message)
            assert "RestoreObject" in out.message and "cold/ir.csv" not in out.message
            assert tree(restore) == before
        s3.restore_object(Bucket=ops_sandbox.BUCKET, Key="cold/old.csv", RestoreRequest={"Days": 1})
        assert 'ongoing-request="false"' in s3.head_object(Bucket=ops_sandbox.BUCKET, Key="cold/old.csv")["Restore"]
        plan = pipeline.plan(_req(tmp_path, prefix="cold/"))
        assert plan.exit_code == 0, plan.message
        out = pipeline.apply(approved(plan.run_id))
        assert out.exit_code == 0, out.message
        assert files(restore) == {"REQ-1/old.csv": b"id\n1\n", "REQ-1/ir.csv": b"id\n2\n"}
    finally:
        _delete(s3, [*cold, "cold/ir.csv"])
