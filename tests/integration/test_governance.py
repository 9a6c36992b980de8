"""Change governance end to end in the sandbox: classes, approvals bound to the plan, emergencies, the ledger.

Every refusal is checked to leave the estate as it was (DescribeInstances before and after) and to write nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.cli import main
from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import bundles, governance, ledger
from ops_driver.run import pipeline
from tests.integration.conftest import ids_by_name, states

pytestmark = pytest.mark.integration


def _request(path: Path, **top: Any) -> Path:
    path.write_text(yaml.safe_dump({"task": "INFO-005", "environment": "sandbox", "ticket": "REQ-GOV-001",
                                    "requested_by": "sato", "reason": "governance test",
                                    "params": {"instances": ["joho-web01"]}, **top}), encoding="utf-8")
    return path


def _files(base: Path) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file() and ".locks" not in p.parts)


def test_a_raised_class_needs_approval_by_someone_else_bound_to_the_plan(
        estate: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = bundles.evidence_dir()
    web = ids_by_name(estate)["joho-web01"]
    plan = pipeline.plan(_request(tmp_path / "r.yml", change_class="major"), operator="tanaka")
    assert plan.exit_code == 0, plan.message
    assert (plan.manifest["change_class"], plan.manifest["change_class_catalog"]) == ("major", "standard")
    assert plan.manifest["approvals_required"] == 2 and plan.manifest["operator"] == "tanaka"
    assert "refuses it until 2 approval(s)" in (plan.path / "report.md").read_text()
    before, written = states(estate), _files(base)

    with pytest.raises(PolicyRefused, match=r"it has 0 of 2.*not tanaka or sato"):
        pipeline.apply(plan.run_id, operator="suzuki")
    for who in ("tanaka", "sato"):
        assert main(["approve", plan.run_id, "--by", who]) == 4
    assert "approval must come from someone other than tanaka and sato" in capsys.readouterr().err
    assert main(["approve", plan.run_id, "--by", ""]) == 2
    assert main(["approve", "20260101T000000Z-INFO-005-plan-000000", "--by", "yamada"]) == 2
    assert states(estate) == before and _files(base) == written  # nothing run, nothing written

    assert main(["approve", plan.run_id, "--by", "yamada", "--comment", "stop window agreed", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["by"] == "yamada"
    assert main(["approve", plan.run_id, "--by", "yamada"]) == 4  # the same approver twice
    with pytest.raises(PolicyRefused, match=r"it has 1 of 2 \(yamada\)"):
        pipeline.apply(plan.run_id, operator="suzuki")
    governance.approve(plan.run_id, "kato", None, base)
    with pytest.raises(PolicyRefused, match="kato approved it and may not also apply it"):
        pipeline.apply(plan.run_id, operator="kato")
    assert states(estate) == before

    applied = pipeline.apply(plan.run_id, operator="suzuki")
    assert applied.exit_code == 0, applied.message
    assert states(estate)[web] == "stopped"
    m = applied.manifest
    assert [a["by"] for a in m["approvals"]] == ["yamada", "kato"] and m["plan_operator"] == "tanaka"
    assert m["approvals"][0]["comment"] == "stop window agreed"
    assert m["approvals"][0]["manifest_sha256"] == governance.manifest_sha256(bundles.bundle(plan.run_id))
    report = (applied.path / "report.md").read_text()
    assert "| yamada |" in report and "stop window agreed" in report
    kinds = [(e.kind, e.ref) for e in ledger.entries(base)][-5:]
    assert kinds == [("plan", None), ("approval", plan.run_id), ("approval", plan.run_id), ("start", plan.run_id),
                     ("apply", plan.run_id)]  # the apply is on the record from its start (write-ahead, issue #23)
    assert main(["evidence", "verify"]) == 0


def test_lowering_the_class_is_invalid_input_nothing_run(estate: Any, tmp_path: Path) -> None:
    base = bundles.evidence_dir()
    before, written = states(estate), _files(base)
    req = _request(tmp_path / "r.yml", task="STAT-011", change_class="standard")
    with pytest.raises(InvalidInput, match="would lower the class of STAT-011"):
        pipeline.plan(req)
    assert states(estate) == before and _files(base) == written


def test_an_edited_plan_cannot_skip_its_approvals_and_verify_names_it(estate: Any, tmp_path: Path) -> None:
    plan = pipeline.plan(_request(tmp_path / "r.yml", change_class="minor"))
    before = states(estate)
    mpath = plan.path / "manifest.json"
    m = json.loads(mpath.read_text())
    m["change_class"], m["approvals_required"] = "standard", 0  # try to make it a standard change
    mpath.write_text(json.dumps(m, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    with pytest.raises(PolicyRefused, match="differs from the ledger"):
        pipeline.apply(plan.run_id, operator="suzuki")
    assert states(estate) == before
    assert main(["evidence", "verify"]) == 4


def test_emergency_applies_without_approval_and_stays_pending_until_approved(
        estate: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    req = _request(tmp_path / "r.yml", change_class="emergency", emergency_reason="web01 is leaking memory")
    plan = pipeline.plan(req, operator="tanaka")
    applied = pipeline.apply(plan.run_id, operator="tanaka")
    assert applied.exit_code == 0, applied.message
    assert applied.manifest["pending_post_approval"] is True
    assert "PENDING POST-APPROVAL" in (applied.path / "report.md").read_text()
    capsys.readouterr()
    assert main(["evidence", "list", "--pending", "--json"]) == 0
    pending = json.loads(capsys.readouterr().out)["pending"]
    assert [p["run_id"] for p in pending] == [applied.run_id]
    assert pending[0]["emergency_reason"] == "web01 is leaking memory"
    assert main(["approve", applied.run_id, "--by", "tanaka"]) == 4
    assert main(["approve", applied.run_id, "--by", "yamada", "--comment", "after the fact"]) == 0
    capsys.readouterr()
    assert main(["evidence", "list", "--pending", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == []


def test_head_written_down_catches_a_truncated_ledger(estate: Any, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pipeline.plan(_request(tmp_path / "r.yml"))
    capsys.readouterr()
    assert main(["evidence", "head"]) == 0
    head = capsys.readouterr().out.strip()
    assert main(["evidence", "verify", "--head", head]) == 0
    path = ledger.path_of(Path(os.environ["OPS_EVIDENCE_DIR"]))
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]), encoding="utf-8")
    assert main(["evidence", "verify", "--head", head]) == 4
    assert "truncated" in capsys.readouterr().out
    assert main(["evidence", "verify", "--head", "not-a-head"]) == 2



def _project_copy(at: Path) -> Path:
    """A copy of what a run reads from the project (OPS_PROJECT_DIR may point at it in the sandbox)."""
    import shutil

    from ops_driver.paths import project_root

    for name in ("playbooks", "roles", "library", "module_utils", "filter_plugins", "action_plugins",
                 "doc_fragments", "inventories", "desired_state", "policy", "catalog", "schedule"):
        shutil.copytree(project_root() / name, at / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(project_root() / "ansible.cfg", at / "ansible.cfg")
    return at


def test_what_was_reviewed_is_what_runs_an_input_changed_after_the_plan_refuses_the_apply(
        estate: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A minor plan, approved; then a role and the desired state are edited (not committed): the apply refuses,
    naming them, and changes nothing; put back as planned, the approved apply runs."""
    root = _project_copy(tmp_path / "project")
    monkeypatch.setenv("OPS_PROJECT_DIR", str(root))  # the sandbox: accepted, recorded as an override
    plan = pipeline.plan(_request(tmp_path / "r.yml", change_class="minor"), operator="tanaka")
    assert plan.exit_code == 0, plan.message
    assert plan.manifest["overrides"] == [f"OPS_PROJECT_DIR={root}"]
    governance.approve(plan.run_id, "yamada", "reviewed", bundles.evidence_dir())
    before, web = states(estate), ids_by_name(estate)["joho-web01"]

    role, desired = root / "roles/ec2_power/tasks/main.yml", root / "desired_state/esa/sandbox.yml"
    role_text, desired_text = role.read_text(), desired.read_text()
    role.write_text(role_text + "# edited after the plan\n")
    desired.write_text(desired_text.replace("      - 192.0.2.25", "      - 198.18.0.0/16\n      - 192.0.2.25", 1))
    with pytest.raises(PolicyRefused, match=r"changed desired_state/esa/sandbox\.yml, roles/ec2_power/tasks/main\.yml"):
        pipeline.apply(plan.run_id, operator="suzuki")
    assert states(estate) == before

    role.write_text(role_text)
    desired.write_text(desired_text)
    applied = pipeline.apply(plan.run_id, operator="suzuki")
    assert applied.exit_code == 0, applied.message
    assert states(estate)[web] == "stopped"
    assert applied.manifest["inputs_sha256"] == plan.manifest["inputs_sha256"]
    assert main(["evidence", "verify"]) == 0


def test_a_lowered_policy_cannot_release_an_apply(estate: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's cases, through the command line: after a minor plan, `approvals: 0` in the policy file, or
    OPS_PROJECT_DIR pointing at a copy that says so: refused (exit 4), naming the file or the other project."""
    root = _project_copy(tmp_path / "project")
    monkeypatch.setenv("OPS_PROJECT_DIR", str(root))
    plan = pipeline.plan(_request(tmp_path / "r.yml", change_class="minor"), operator="tanaka")
    assert plan.exit_code == 0, plan.message
    before = states(estate)
    for copy in (root, _project_copy(tmp_path / "elsewhere")):
        policy_file = copy / "policy/change.yml"
        policy_file.write_text(policy_file.read_text().replace("    rank: 1\n    approvals: 1\n",
                                                               "    rank: 1\n    approvals: 0\n"))
    capsys.readouterr()
    assert main(["apply", plan.run_id, "--operator", "suzuki", "--quiet"]) == 4
    assert "changed policy/change.yml" in capsys.readouterr().err
    monkeypatch.setenv("OPS_PROJECT_DIR", str(tmp_path / "elsewhere"))
    assert main(["apply", plan.run_id, "--operator", "suzuki", "--quiet"]) == 4
    assert f"made from the project {root}" in capsys.readouterr().err
    assert states(estate) == before
