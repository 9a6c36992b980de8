"""Evidence bundles: hashes, tamper detection, secret scrubbing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ops_driver.evidence import bundles
from ops_driver.run.contract import RunRecord
from tests.support import runs


def record(run_id: str, manifest: dict[str, Any], request: dict[str, Any], changes: list[dict[str, Any]],
           events: list[dict[str, Any]], stdout: str, report: str,
           attachments: dict[str, str] | None = None) -> RunRecord:
    """A run record (tests/support/runs.py) with the given bundle contents; ``manifest`` replaces manifest keys."""
    keys = dict(manifest)
    kind = str(keys.pop("kind", "plan"))
    return runs.record(kind, run_id, manifest_keys=keys, request=request, changes=changes, events=events,
                       stdout=stdout, report=report, attachments=attachments or {})


def _write(base: Path, secret: str = "s3cr3t-value") -> bundles.Bundle:
    return bundles.write_bundle(record(
        "20261122T000000Z-INFO-005-plan-abcdef", {"kind": "plan", "message": f"pw {secret}"},
        {"task": "INFO-005", "params": {"password": "********"}},
        [{"host": "h", "task": "INFO-005", "resource": "r", "action": "stop", "before": {}, "after": {},
          "changed": True}],
        [{"event": "runner_on_ok", "stdout": f"leaked {secret}"}], f"stdout {secret}\n", "# report\n"),
        bundles.Scrubber([secret]), base)


def test_bundle_has_every_file_and_verifies(tmp_path: Path) -> None:
    b = _write(tmp_path)
    assert sorted(p.name for p in b.path.iterdir()) == sorted([*bundles.BUNDLE_FILES, bundles.MANIFEST])
    files = b.manifest()["files"]
    assert set(files) == set(bundles.BUNDLE_FILES)
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in files.values())
    assert bundles.verify(b) == []
    assert json.loads((b.path / "changes.json").read_text())[0]["action"] == "stop"


def test_secrets_are_scrubbed_everywhere(tmp_path: Path) -> None:
    b = _write(tmp_path)
    for p in b.path.iterdir():
        assert "s3cr3t-value" not in p.read_text(), p.name


def test_altered_missing_and_added_files_fail_verification(tmp_path: Path) -> None:
    b = _write(tmp_path)
    (b.path / "report.md").write_text("# a different report\n")
    (b.path / "stdout.txt").unlink()
    (b.path / "extra.txt").write_text("x")
    problems = bundles.verify(b)
    assert "report.md: altered (SHA-256 differs from manifest.json)" in problems
    assert "stdout.txt: missing" in problems
    assert "extra.txt: not part of the bundle" in problems


def test_manifest_without_a_file_entry_fails(tmp_path: Path) -> None:
    b = _write(tmp_path)
    m = json.loads((b.path / "manifest.json").read_text())
    del m["files"]["events.jsonl"]
    (b.path / "manifest.json").write_text(json.dumps(m))
    assert "events.jsonl: not listed in manifest.json" in bundles.verify(b)


def test_run_id_shape() -> None:
    rid = bundles.new_run_id("plan", "INFO-005")
    assert re.fullmatch(r"\d{8}T\d{6}Z-INFO-005-plan-[0-9a-f]{6}", rid)


def test_all_bundles_lists_only_bundles(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / "not-a-bundle").mkdir()
    assert [b.run_id for b in bundles.all_bundles(tmp_path)] == ["20261122T000000Z-INFO-005-plan-abcdef"]


def test_attachments_are_files_of_the_bundle_verified_and_scrubbed(tmp_path: Path) -> None:
    b = bundles.write_bundle(record(
        "20261122T000000Z-COMM-025-plan-abcdef", {"kind": "plan"}, {"task": "COMM-025"}, [], [], "",
        "# report\n", attachments={"esa-inventory-esa01.csv": "appliance,entry\nesa01,10.1.1.1\n",
                                   "esa-hat-before-esa01.txt": "WHITELIST:\n    s3cr3t-value\n"}),
        bundles.Scrubber(["s3cr3t-value"]), tmp_path)
    files = b.manifest()["files"]
    assert {"attachment-esa-inventory-esa01.csv", "attachment-esa-hat-before-esa01.txt"} <= set(files)
    assert (b.path / "attachment-esa-inventory-esa01.csv").read_text() == "appliance,entry\nesa01,10.1.1.1\n"
    assert "s3cr3t-value" not in (b.path / "attachment-esa-hat-before-esa01.txt").read_text()
    assert bundles.verify(b) == []
    (b.path / "attachment-esa-inventory-esa01.csv").write_text("appliance,entry\n")
    assert bundles.verify(b) == ["attachment-esa-inventory-esa01.csv: altered (SHA-256 differs from manifest.json)"]


def test_an_attachment_name_that_is_a_path_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    import pytest

    base = tmp_path / "evidence"
    with pytest.raises(bundles.InvalidInput, match="attachment name"):
        bundles.write_bundle(record("20261122T000000Z-COMM-025-plan-abcdef", {}, {}, [], [], "", "",
                                     attachments={"../escape.txt": "x"}), bundles.Scrubber([]), base)
    assert [p.name for p in base.iterdir()] == ["ledger.jsonl"] and not (tmp_path / "escape.txt").exists()


def test_an_apply_written_ahead_verifies_while_running_and_its_finished_bundle_keeps_start_json(
        tmp_path: Path) -> None:
    scrub = bundles.Scrubber(["s3cr3t-value"])
    run_id = "20261122T015325Z-INFO-005-apply-abcdef"
    start = runs.manifest("apply", run_id, status="running", message="uses s3cr3t-value")
    digest = bundles.start_bundle(run_id, start, scrub, tmp_path)
    b = bundles.bundle(run_id, tmp_path)
    assert digest == bundles.sha256_file(b.path / "start.json") and "s3cr3t-value" not in (
        b.path / "start.json").read_text()
    assert b.manifest()["files"] == {"start.json": digest} and b.manifest()["status"] == "running"
    assert bundles.verify(b) == []
    stream = bundles.EventStream(b.path, scrub)
    stream({"event": "playbook_on_task_start", "event_data": {"task": "Stop"}})
    assert bundles.read_events(b.path / "events.jsonl") == ([{"event": "playbook_on_task_start",
                                                               "event_data": {"task": "Stop"}}], 0)
    original = (b.path / "start.json").read_bytes()
    (b.path / "start.json").write_text("{}")
    assert bundles.verify(b) == ["start.json: altered (SHA-256 differs from manifest.json)"]
    (b.path / "start.json").write_bytes(original)
    stream.close()
    # the run ends: write_bundle completes the same folder, start.json kept and listed with its hash
    finished = bundles.write_bundle(record(run_id, {"kind": "apply", "status": "applied"}, {}, [], [], "", "# r\n"),
                                     scrub, tmp_path)
    files = finished.manifest()["files"]
    assert files["start.json"] == digest and set(bundles.BUNDLE_FILES) <= set(files)
    assert bundles.verify(finished) == []
