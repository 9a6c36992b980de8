"""contract: the set_stats keys the roles use, the outcome of each failure kind, the run record."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from ops_driver.catalog import load_catalog
from ops_driver.paths import project_root
from ops_driver.run import contract


def _set_stats_keys(node: Any) -> Iterator[str]:
    """The data keys of every set_stats task in a parsed tasks file (blocks, rescues and always included)."""
    if isinstance(node, list):
        for item in node:
            yield from _set_stats_keys(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("ansible.builtin.set_stats", "set_stats") and isinstance(value, dict):
                yield from (value.get("data") or {})
            else:
                yield from _set_stats_keys(value)


def test_the_roles_hand_over_exactly_the_keys_of_the_contract() -> None:
    used: dict[str, set[str]] = {}
    for path in sorted((project_root() / "roles").glob("*/tasks/*.yml")):
        for key in _set_stats_keys(yaml.safe_load(path.read_text(encoding="utf-8"))):
            used.setdefault(key, set()).add(path.parts[-3])
    assert set(used) == set(contract.SET_STATS_KEYS), used
    assert "ec2_targets" in used[contract.TARGETS] and "esa_sender_groups" in used[contract.ATTACHMENTS]


def test_every_failure_kind_has_an_outcome_for_plan_and_apply() -> None:
    assert set(contract.OUTCOMES) == {None, contract.INVALID, contract.DRIFT, contract.FAILED, contract.TIMEOUT,
                                      contract.READ_ONLY}
    assert contract.outcome("plan", None) == ("planned", 0) and contract.outcome("apply", None) == ("applied", 0)
    assert {k: contract.outcome("apply", k)[1] for k in contract.OUTCOMES} == {
        None: 0, "invalid": 2, "drift": 4, "failed": 3, "timeout": 3, "read_only": 3}
    assert contract.outcome("plan", contract.READ_ONLY) == ("refused", 4)
    assert contract.outcome("plan", contract.DRIFT) == ("drifted", 4)


def test_role_stats_from_artifacts() -> None:
    empty = contract.RoleStats.from_artifacts({})
    assert empty == contract.RoleStats([], [], {}, {}, {}, {})
    stats = contract.RoleStats.from_artifacts({contract.CHANGES: [{"resource": "r"}], contract.TARGETS: None,
                                               contract.API_CALLS: {"StopInstances": 1},
                                               contract.ATTACHMENTS: {"a.csv": "x"}, "other": 1})
    assert stats.changes == [{"resource": "r"}] and stats.targets == [] and stats.api_calls == {"StopInstances": 1}
    assert stats.attachments == {"a.csv": "x"} and stats.evidence == {} == stats.apply_extravars


def test_record_lookup_and_evidence() -> None:
    record = contract.RunRecord(
        kind="plan", run_id="r", task=load_catalog().get("INFO-005"), request={}, changes=[{"x": 1}],
        manifest={"evidence": {"steps": ["a"]}, "attachments": ["attachment-a"]}, targets=[], warnings=[],
        skipped=[], failures=[], comparison=None, attachments={}, events=[], stdout="")
    assert record.lookup("changes") == [{"x": 1}] and record.lookup("evidence.steps") == ["a"]
    assert record.lookup("evidence.esa") is None and record.lookup("manifest.attachments") == ["attachment-a"]
    assert record.with_report("# r\n").report == "# r\n" and record.report == ""
    odd = contract.RunRecord(**{**record.__dict__, "manifest": {"evidence": ["not a mapping"]}})
    assert odd.evidence == {}
