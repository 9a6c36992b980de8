"""The typed run record (ops_driver/run/manifest.py) and its published JSON Schema."""

from __future__ import annotations

import json
import typing

import pytest

from ops_driver.evidence import identity
from ops_driver.run import contract, manifest
from ops_driver.run.manifest import FailureKind, RunKind, RunStatus
from tests.support import manifests, runs


def test_the_published_schema_is_the_one_of_the_types() -> None:
    assert manifests.SCHEMA_PATH.read_text(encoding="utf-8") == manifest.schema_text(), (
        "docs/schema/run-manifest.schema.json is stale: python -m ops_driver.run.manifest > "
        "docs/schema/run-manifest.schema.json")


def test_the_schema_takes_the_manifests_the_driver_writes_and_refuses_others() -> None:
    plan, apply = runs.manifest("plan", files={}), runs.manifest("apply", files={})
    assert manifests.problems(plan) == [] == manifests.problems(apply)
    assert manifests.problems(runs.manifest("plan")) == ["$: 'files' is a required property"]  # as written only
    assert manifests.problems({**plan, "stauts": "planned"}) == [
        "$: Additional properties are not allowed ('stauts' was unexpected)"]
    assert manifests.problems({k: v for k, v in plan.items() if k != "ticket"}) == [
        "$: 'ticket' is a required property"]
    assert manifests.problems({**plan, "status": "done"})[0].startswith("$.status: 'done' is not one of")
    # a finished run has its end; an apply written ahead (status running) has not yet
    assert manifests.problems({k: v for k, v in plan.items() if k != "exit_code"}) == [
        "$: 'exit_code' is a required property"]
    ahead = {k: v for k, v in apply.items() if k not in manifest.FINISHED_KEYS}
    assert manifests.problems({**ahead, "status": "running"}) == []
    assert manifests.problems({**plan, "approvals": [{"by": "sato"}]})[0].startswith("$.approvals[0]:")


def test_the_enums_write_the_same_json_as_the_strings_they_replace() -> None:
    assert json.dumps({"kind": RunKind.PLAN, "status": RunStatus.APPLIED}) == '{"kind": "plan", "status": "applied"}'
    assert RunStatus.RUNNING == "running" and FailureKind("read_only") is FailureKind.READ_ONLY


def test_outcomes_cover_every_kind_and_failure_with_a_status_of_the_type() -> None:
    assert set(contract.OUTCOMES) == {None, *FailureKind}
    for by_kind in contract.OUTCOMES.values():
        assert set(by_kind) == set(RunKind)
        assert all(isinstance(status, RunStatus) for status, _ in by_kind.values())
    with pytest.raises(ValueError):
        contract.outcome("record", None)


def test_the_keys_other_modules_add_are_keys_of_the_type() -> None:
    keys = typing.get_type_hints(manifest.Manifest)
    assert set(identity.Actor("x", "system", "x").manifest()) <= set(keys)
    assert {"inputs", "inputs_sha256", "project_commit", "project_clean", "project_dirty", "project_dir",
            "overrides"} <= set(keys)
    assert set(manifest.FINISHED_KEYS) <= set(keys) and "files" in keys


def test_a_change_entry_of_the_contract_is_a_change_entry_of_the_type() -> None:
    entries = contract.change_entries([{"resource": "ec2:instance/i-1", "changed": 1, "failed": True, "x": 1}],
                                      "CORE-002")
    assert set(entries[0]) == set(typing.get_type_hints(manifest.ChangeEntry)) - {"match", "note"}
