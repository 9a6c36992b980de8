"""module_utils/ops_backup.py: generations, names, tags, and the steps of a run (the poll loop: test_ops_wait.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ansible.module_utils import ops_backup

from tests.support.ec2_stub import Exited, FakeModule

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


class ToyBackup(ops_backup.Backup):
    """A Backup of "volumes" v-1, v-2 held in memory: what the engine asks of a subclass, and nothing more."""

    resource, id_key, id_field, items_key = "toy:backup", "Id", "backup_id", "backups"
    source_key, ready, failed_states = "SourceVolume", "completed", ("error",)
    create_call, created_unit, waited_unit, failed_key, plural = (
        "CreateToy", "backup(s)", "Backup(s)", "failed_backups", "backups")
    pruned_after = (("state", "deleted"),)

    def __init__(self, module: FakeModule, existing: list[dict[str, Any]], polls: list[str]) -> None:
        super().__init__(module, ec2=object())
        self.existing, self.polls, self.deleted = existing, polls, []  # type: ignore[var-annotated]

    def read(self) -> None:
        self.ours = list(self.existing)

    def sources(self) -> Any:
        return iter([dict(id="v-1", name="vol1-" + self.p["generation"]), dict(id="v-2", name="vol2")])

    def created(self, res: dict[str, Any]) -> str:
        return str(res["Created"])

    def entry(self, source: dict[str, Any], backup_id: str | None, action: str, state: str | None,
              existing: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict(volume=source["id"], backup_id=backup_id, action=action, state=state)

    def reused(self, source: dict[str, Any], res: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return source["name"], dict(volume=source["id"])

    def to_prune(self, source: dict[str, Any], res: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any]]:
        return dict(backup_id=res["Id"], volume=source["id"]), "old", dict(created=res["Created"])

    def create_facts(self, source: dict[str, Any]) -> dict[str, Any]:
        return dict(volume=source["id"])

    def create_one(self, source: dict[str, Any]) -> str:
        return "new-" + source["id"]

    def describe_new(self, ids: list[str]) -> dict[str, str]:
        state = self.polls.pop(0) if self.polls else "completed"
        return {i: state for i in ids}

    def delete(self, entry: dict[str, Any]) -> None:
        self.deleted.append(entry["backup_id"])


def _toy(ticket: str, created: str, source: str = "v-1", generation: str = "pre-change") -> dict[str, Any]:
    tags = ops_backup.backup_tags("x", ticket, "T", generation, "SourceVolume", source)
    return {"Id": f"b-{source}-{created}", "Created": created, "State": "completed", "Tags": tags}


def _run(backup: ToyBackup) -> Exited:
    with pytest.raises(Exited) as exited:
        backup.run()
    return exited.value


PARAMS = {"state": "present", "ticket": "REQ-2", "generation": "pre-change", "catalog_task": "T", "retention": 2,
          "prune": True, "wait_timeout": 5, "poll_interval": 0, "expected_prune": None}


def test_backup_reuses_creates_waits_and_prunes_the_oldest() -> None:
    existing = [_toy("REQ-0", "2026-01-01"), _toy("REQ-1", "2026-02-01"), _toy("REQ-2", "2026-03-01", "v-2")]
    toy = ToyBackup(FakeModule(dict(PARAMS), check_mode=False), existing, ["pending"])
    out = _run(toy)
    assert not out.failed and out.result["changed"] is True
    # v-1: new one made, the oldest pruned (two kept: the new one and REQ-1); v-2: made already for REQ-2, reused
    assert toy.deleted == ["b-v-1-2026-01-01"] and out.result["pruned"] == [{"backup_id": "b-v-1-2026-01-01",
                                                                              "volume": "v-1"}]
    assert sorted((b["volume"], b["action"], b["state"]) for b in out.result["backups"]) == [
        ("v-1", "create", "completed"), ("v-2", "none", "completed")]
    actions = {c["resource"]: c["action"] for c in out.result["ops_changes"]}
    assert actions == {"toy:backup/new-v-1": "create", "toy:backup/b-v-1-2026-01-01": "prune",
                       "toy:backup/b-v-2-2026-03-01": "none"}


def test_backup_check_mode_predicts_and_changes_nothing() -> None:
    toy = ToyBackup(FakeModule(dict(PARAMS, generation="post-change")), [_toy("REQ-1", "2026-02-01")], [])
    out = _run(toy)
    assert not out.failed and toy.deleted == []
    assert [(b["volume"], b["backup_id"], b["state"]) for b in out.result["backups"]] == [
        ("v-1", None, "would be created"), ("v-2", None, "would be created")]
    assert {c["match"] for c in out.result["ops_changes"]} == {"toy:backup/new-for/v-1", "toy:backup/new-for/v-2"}


def test_backup_timeout_and_failure_prune_nothing() -> None:
    existing = [_toy("REQ-0", "2026-01-01"), _toy("REQ-1", "2026-02-01")]
    toy = ToyBackup(FakeModule(dict(PARAMS, wait_timeout=1, poll_interval=1), check_mode=False), existing,
                    ["pending"] * 5)
    out = _run(toy)
    assert out.failed and toy.deleted == [] and out.result["pruned"] == []
    assert out.result["msg"].startswith("Backup(s) not completed after 1s (left in place, nothing pruned): ")
    assert out.result["timed_out"] == ["new-v-1", "new-v-2"] and out.result["failed_backups"] == []
    toy = ToyBackup(FakeModule(dict(PARAMS), check_mode=False), existing, ["error"])
    out = _run(toy)
    assert out.failed and out.result["failed_backups"] == ["new-v-1", "new-v-2"] and toy.deleted == []


def test_backup_refuses_a_prune_the_plan_did_not_list() -> None:
    existing = [_toy("REQ-0", "2026-01-01"), _toy("REQ-1", "2026-02-01")]
    toy = ToyBackup(FakeModule(dict(PARAMS, expected_prune=[]), check_mode=False), existing, [])
    out = _run(toy)
    assert out.failed and out.result["msg"].startswith("DRIFT: the retention rule now prunes b-v-1-2026-01-01")
    assert toy.deleted == []
