"""module_utils/ops_backup.py: generations, names, tags and the polling loop."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ansible.module_utils import ops_backup

OURS = ops_backup.CREATED_BY


def _b(iid: str, created: str, source: str = "i-1", created_by: str = OURS) -> dict[str, Any]:
    return {
        "id": iid,
        "created": created,
        "tags": [{"Key": "CreatedBy", "Value": created_by}, {"Key": "SourceInstance", "Value": source}],
    }


def test_keeps_the_newest_and_prunes_only_ours_of_that_source() -> None:
    existing = [
        _b("ami-old", "2026-01-01"),
        _b("ami-mid", "2026-02-01"),
        _b("ami-new", "9999"),
        _b("ami-foreign", "2000-01-01", created_by="someone"),
        _b("ami-other", "2000-01-01", source="i-2"),
    ]
    kept, pruned = ops_backup.select_prunable(existing, 2, "SourceInstance", "i-1")
    assert kept == ["ami-new", "ami-mid"] and pruned == ["ami-old"]
    assert ops_backup.select_prunable(existing, 5, "SourceInstance", "i-1")[1] == []
    with pytest.raises(ValueError):
        ops_backup.select_prunable(existing, 0, "SourceInstance", "i-1")


def test_tags_and_names() -> None:
    tags = ops_backup.tag_dict(ops_backup.backup_tags("n", "REQ-1", "INFO-011", "pre-change", "SourceInstance", "i-1"))
    assert tags == {
        "Name": "n",
        "Ticket": "REQ-1",
        "CatalogTask": "INFO-011",
        "Generation": "pre-change",
        "CreatedBy": OURS,
        "SourceInstance": "i-1",
    }
    assert (
        ops_backup.ami_name("web01", "pre-change", "REQ:1", dt.date(2026, 11, 22)) == "web01-pre-change-REQ-1-20261122"
    )
    assert len(ops_backup.ami_name("x" * 200, "g", "t", dt.date(2026, 1, 1))) == 128


def test_wait_until_stops_at_done_failed_or_deadline() -> None:
    clock = {"t": 0.0}
    seq = iter([{"a": "pending", "b": "pending"}, {"a": "available", "b": "failed"}])
    states, pending, failed = ops_backup.wait_until(
        ["a", "b"],
        lambda ids: next(seq),
        lambda s: s == "available",
        lambda s: s == "failed",
        100,
        5,
        lambda s: clock.__setitem__("t", clock["t"] + s),
        lambda: clock["t"],
    )
    assert (pending, failed, states["a"]) == ([], ["b"], "available") and clock["t"] == 5
    clock["t"] = 0.0
    states, pending, failed = ops_backup.wait_until(
        ["a"],
        lambda ids: {"a": "pending"},
        lambda s: s == "available",
        lambda s: False,
        12,
        5,
        lambda s: clock.__setitem__("t", clock["t"] + s),
        lambda: clock["t"],
    )
    assert pending == ["a"] and failed == [] and clock["t"] == 12


def test_duplicate_names_are_the_names_two_targets_would_share() -> None:
    day = dt.date(2026, 11, 22)
    named = [
        ("i-1", ops_backup.ami_name("web01", "pre-change", "REQ-1", day)),
        ("i-2", ops_backup.ami_name("web01", "pre-change", "REQ-1", day)),  # same Name tag as i-1
        ("i-3", ops_backup.ami_name("", "pre-change", "REQ-1", day)),  # no Name tag
        ("i-4", ops_backup.ami_name("", "pre-change", "REQ-1", day)),
        ("i-5", ops_backup.ami_name("ap01", "pre-change", "REQ-1", day)),
    ]
    assert ops_backup.duplicate_names(named) == {
        "instance-pre-change-REQ-1-20261122": ["i-3", "i-4"],
        "web01-pre-change-REQ-1-20261122": ["i-1", "i-2"],
    }
    assert ops_backup.duplicate_names([("i-1", "a"), ("i-1", "a"), ("i-2", "b")]) == {}  # one target twice
    assert ops_backup.duplicate_names([]) == {}
