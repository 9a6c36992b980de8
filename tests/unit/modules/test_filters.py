"""filter_plugins/ops_targets.py: target resolution within one environment."""

from __future__ import annotations

import importlib.util
from typing import Any

from ops_driver.paths import project_root

_spec = importlib.util.spec_from_file_location("ops_targets", project_root() / "filter_plugins" / "ops_targets.py")
assert _spec and _spec.loader
ops_targets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ops_targets)


def _inst(iid: str, name: str, env: str, state: str = "running") -> dict[str, Any]:
    return {"instance_id": iid, "tags": {"Name": name, "Environment": env}, "state": {"name": state}}


FOUND = [_inst("i-00000001", "web01", "maint"), _inst("i-00000002", "web01", "prod"),
         _inst("i-00000003", "ap01", "maint", "stopped"), _inst("i-00000004", "db01", "prod"),
         _inst("i-00000005", "dup", "maint"), _inst("i-00000006", "dup", "maint"),
         _inst("i-00000007", "old", "maint", "terminated")]


def test_split_accepts_lists_and_comma_strings() -> None:
    assert ops_targets.ops_split_targets("web01, i-0123456789abcdef0,web01") == {
        "ids": ["i-0123456789abcdef0"], "names": ["web01"]}
    assert ops_targets.ops_split_targets(["a", "", "a"]) == {"ids": [], "names": ["a"]}


def test_name_in_two_environments_resolves_to_our_own() -> None:
    r = ops_targets.ops_resolve_instances(FOUND, ["web01", "ap01"], "maint")
    assert r["errors"] == []
    assert [i["instance_id"] for i in r["instances"]] == ["i-00000001", "i-00000003"]


def test_other_environment_unknown_ambiguous_and_terminated_are_refused() -> None:
    r = ops_targets.ops_resolve_instances(FOUND, ["db01", "nope", "dup", "old", "i-00000004", "i-0000000f"], "maint")
    text = " | ".join(r["errors"])
    assert "'db01' belongs to environment prod, not maint" in text
    assert "no live instance has the Name tag 'nope'" in text
    assert "Name 'dup' matches 2 instances in maint (i-00000005, i-00000006)" in text
    assert "no live instance has the Name tag 'old'" in text
    assert "i-00000004 (db01) belongs to environment prod" in text
    assert "instance ID i-0000000f does not exist" in text
    assert len(r["errors"]) == 6
