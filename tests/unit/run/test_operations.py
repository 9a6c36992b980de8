"""operations: compare, the normalisation of changes, the time limit, read-only tasks and the run record.

The plan/apply tests here fake ``run_playbook`` (no Ansible); one test runs a real playbook that outlives its limit.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.catalog import TIMEOUT_MINUTES_DEFAULT, TIMEOUT_MINUTES_MAX, Automation, Catalog, Task, load_catalog
from ops_driver.evidence.bundles import bundle, verify
from ops_driver.request import parse_request
from ops_driver.run import contract, pipeline
from ops_driver.run.runner import RunResult
from tests.unit.run.test_runner import _gone, running_with

CATALOG = load_catalog()


def _change(resource: str, action: str = "stop", after: Any = None, changed: bool = True, host: str = "aws",
            **extra: Any) -> dict[str, Any]:
    return {"host": host, "resource": resource, "action": action, "before": None,
            "after": {"state": "stopped"} if after is None else after, "changed": changed, **extra}


# ---------------------------------------------------------------- compare

def test_compare_matched_unpredicted_and_not_done() -> None:
    planned = [_change("ec2:instance/i-1"), _change("ec2:instance/i-2"), _change("ec2:instance/i-3", changed=False)]
    actual = [_change("ec2:instance/i-1"), _change("ec2:instance/i-3"), _change("ec2:instance/i-4", changed=False)]
    assert contract.compare(planned, actual) == {
        "matched": ["ec2:instance/i-1"],
        "unpredicted": ["ec2:instance/i-3"],  # done, but the plan said it would not change
        "not_done": ["ec2:instance/i-2"],
    }


def test_compare_another_action_or_another_predicted_fact_is_unpredicted() -> None:
    planned = [_change("r/1", after={"state": "stopped"}), _change("r/2"), _change("r/3", after="x")]
    actual = [_change("r/1", after={"state": "running"}), _change("r/2", action="reboot"), _change("r/3", after="x")]
    assert contract.compare(planned, actual) == {"matched": ["r/3"], "unpredicted": ["r/1", "r/2"],
                                                   "not_done": []}


def test_compare_an_apply_may_add_facts_the_plan_did_not_know() -> None:
    planned = [_change("nas:file/a", action="copy", after={"size": 3})]
    actual = [_change("nas:file/a", action="copy", after={"size": 3, "sha256": "ab" * 32})]
    assert contract.compare(planned, actual)["matched"] == ["nas:file/a"]


def test_compare_created_resources_pair_by_match_and_their_state_is_no_difference() -> None:
    """An AMI has no ID at plan time: ``match`` names it in plan and apply; pending vs available is not drift."""
    planned = [_change("ec2:image/(new)", action="create", match="ec2:image/new-for/i-1",
                       after={"name": "web01-pre", "state": "pending"})]
    actual = [_change("ec2:image/ami-9", action="create", match="ec2:image/new-for/i-1",
                      after={"name": "web01-pre", "state": "available", "image_id": "ami-9"})]
    assert contract.compare(planned, actual) == {"matched": ["ec2:image/new-for/i-1"], "unpredicted": [],
                                                   "not_done": []}
    renamed = [dict(actual[0], after={"name": "web01-other", "state": "available"})]
    assert contract.compare(planned, renamed)["unpredicted"] == ["ec2:image/new-for/i-1"]
    # the state is skipped only for a creation: a stop that ends elsewhere is not as planned
    assert contract.compare([_change("r/1", after={"state": "stopped"})],
                              [_change("r/1", after={"state": "stopping"})])["unpredicted"] == ["r/1"]


def test_compare_keys_by_host_too() -> None:
    planned = [_change("svc/web", host="h1")]
    actual = [_change("svc/web", host="h2")]
    assert contract.compare(planned, actual) == {"matched": [], "unpredicted": ["svc/web"], "not_done": ["svc/web"]}


# ---------------------------------------------------------------- _changes

def test_changes_are_normalised_and_sorted() -> None:
    raw = [
        {"resource": "r/2", "name": "two", "action": "stop", "before": {"state": "running"},
         "after": {"state": "stopped"}, "changed": 1, "host": "b", "extra": "dropped", "match": "", "note": None},
        {"resource": "r/1", "action": "create", "changed": False, "host": "b", "match": "new-for/x",
         "note": "already made for this ticket and generation", "failed": False},
        {"resource": "r/9", "failed": True},
    ]
    assert contract.change_entries(raw, "INFO-011") == [
        {"host": "", "task": "INFO-011", "resource": "r/9", "name": "", "action": None, "before": None,
         "after": None, "changed": False, "failed": True},
        {"host": "b", "task": "INFO-011", "resource": "r/1", "match": "new-for/x",
         "note": "already made for this ticket and generation", "name": "", "action": "create", "before": None,
         "after": None, "changed": False},
        {"host": "b", "task": "INFO-011", "resource": "r/2", "name": "two", "action": "stop",
         "before": {"state": "running"}, "after": {"state": "stopped"}, "changed": True},
    ]
    assert contract.change_entries([], "INFO-011") == []


# ---------------------------------------------------------------- plan/apply with a faked playbook run

REQUEST = {"task": "INFO-005", "environment": "sandbox", "ticket": "REQ-2026-1122-001", "requested_by": "sato",
           "reason": "unit test", "params": {"instances": ["joho-web01"]}}


def _request(tmp_path: Path, name: str = "r.yml", **top: Any) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({**REQUEST, **top}))
    return path


class FakeRun:
    """Stands in for ``run_playbook``: records each call and returns ``result`` (with ``artifacts``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, status: str = "successful", rc: int = 0,
                 artifacts: dict[str, Any] | None = None, failures: list[dict[str, Any]] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status, self.rc, self.artifacts, self.failures = status, rc, artifacts or {}, failures or []
        monkeypatch.setattr(pipeline, "run_playbook", self)

    def __call__(self, playbook: Path, inventory: Path, extravars: dict[str, Any], check: bool,
                 progress: Any = None, timeout_s: int | None = None, **streaming: Any) -> RunResult:
        self.calls.append({"playbook": playbook, "check": check, "extravars": extravars, "timeout_s": timeout_s})
        return RunResult(status=self.status, rc=self.rc, events=[], stdout="", artifacts=self.artifacts,
                         failures=list(self.failures))


STOP = {contract.CHANGES: [{"host": "aws-sandbox", "resource": "ec2:instance/i-1", "name": "joho-web01",
                            "action": "stop", "before": {"state": "running"}, "after": {"state": "stopped"},
                            "changed": True}],
        contract.TARGETS: [{"instance_id": "i-1", "name": "joho-web01", "environment": "sandbox",
                            "state": "running"}],
        contract.APPLY_EXTRAVARS: {"instances": ["i-1"]}}


def test_every_run_gets_the_catalog_time_limit_or_the_request_s(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(monkeypatch, artifacts=STOP)
    plan = pipeline.plan(_request(tmp_path))
    pipeline.apply(plan.run_id)
    limit = CATALOG.get("INFO-005").automation.timeout_minutes * 60  # type: ignore[union-attr]
    assert [c["timeout_s"] for c in fake.calls] == [limit, limit]
    assert plan.manifest["timeout_s"] == limit
    pipeline.plan(_request(tmp_path, "short.yml", timeout_minutes=5))
    assert fake.calls[-1]["timeout_s"] == 300


def test_time_limit_sources() -> None:
    req = parse_request(yaml.safe_dump(REQUEST), CATALOG)
    seconds, source = pipeline.time_limit(req, CATALOG.get("INFO-005"))
    assert seconds == 90 * 60 and "timeout_minutes of INFO-005 in the catalog" in source
    assert str(TIMEOUT_MINUTES_MAX) in source
    esa = CATALOG.get("COMM-025")  # no timeout_minutes in its entry: the catalog-wide default
    assert esa.automation is not None and "timeout_minutes" not in esa.raw["automation"]
    assert pipeline.time_limit(req, esa)[0] == TIMEOUT_MINUTES_DEFAULT * 60
    own = parse_request(yaml.safe_dump({**REQUEST, "timeout_minutes": 7}), CATALOG)
    assert pipeline.time_limit(own, CATALOG.get("INFO-005")) == (420, "timeout_minutes of the work request")


def _verdict(kind: str, result: RunResult, changes: list[dict[str, Any]], task: Task | None = None,
             timeout: tuple[int, str] | None = None) -> tuple[str, int, str]:
    task = task or CATALOG.get("INFO-005")
    cfg = pipeline.RunConfig(kind=kind, run_id="r", request=parse_request(yaml.safe_dump(REQUEST), CATALOG),
                               task=task, extravars={}, base=Path("."), manifest_extra={}, timeout=timeout)
    return pipeline._verdict(cfg, result, changes)


def _result(status: str = "successful", rc: int = 0, failures: list[str] | None = None) -> RunResult:
    return RunResult(status=status, rc=rc, events=[], stdout="", artifacts={},
                     failures=[{"host": "h", "task": "t", "msg": m} for m in failures or []])


def test_verdicts_follow_the_contract_outcomes() -> None:
    assert _verdict("plan", _result(), []) == ("planned", 0, "")
    assert _verdict("apply", _result(), []) == ("applied", 0, "")
    assert _verdict("plan", _result("failed", 2, ["INVALID INPUT: no such instance"]), []) == (
        "invalid", 2, "INVALID INPUT: no such instance")
    assert _verdict("apply", _result("failed", 2, ["DRIFT: i-1 is stopped"]), [])[:2] == ("drifted", 4)
    assert _verdict("apply", _result("failed", 2, ["boom"]), [])[:2] == ("failed", 3)
    assert _verdict("apply", _result("failed", 2), []) == ("failed", 3, "ansible-playbook ended failed (rc 2)")
    # a rescue that re-fails quotes the failure it caught: only the longer message is kept
    assert _verdict("apply", _result("failed", 2, ["esa01 failed", "x | esa01 failed; done before it: -"]), [])[2] \
        == "x | esa01 failed; done before it: -"


def test_a_timed_out_run_is_exit_3_with_its_limit() -> None:
    status, code, message = _verdict("apply", _result("timeout", 254), [],
                                     timeout=(90 * 60, "timeout_minutes of INFO-005 in the catalog"))
    assert (status, code) == ("timeout", 3)
    assert message.startswith("timed out after 90 min (timeout_minutes of INFO-005 in the catalog); ")
    assert "check their state" in message
    plan = _verdict("plan", _result("timeout", 254, ["a task failed before"]), [], timeout=(120, "x"))
    assert plan[:2] == ("timeout", 3) and plan[2].startswith("timed out after 2 min (x)")
    assert "nothing was changed (check mode)" in plan[2]


def _read_only(task_id: str = "INFO-005") -> Task:
    task = CATALOG.get(task_id)
    assert task.automation is not None
    return dataclasses.replace(task, automation=dataclasses.replace(task.automation, read_only=True))


def test_read_only_violation_names_the_changed_resources() -> None:
    changes = [_change("ec2:instance/i-1"), _change("ec2:instance/i-2", changed=False)]
    assert pipeline.read_only_violation(CATALOG.get("INFO-005"), "plan", changes) is None  # not read-only
    assert pipeline.read_only_violation(_read_only(), "plan", [changes[1]]) is None  # read-only, nothing changed
    msg = pipeline.read_only_violation(_read_only(), "plan", changes)
    assert msg is not None and "INFO-005 is read-only" in msg and "would change 1 resource(s)" in msg
    assert "aws ec2:instance/i-1 (stop)" in msg and "i-2" not in msg
    applied = pipeline.read_only_violation(_read_only(), "apply", changes)
    assert applied is not None and "the apply changed 1 resource(s): aws ec2:instance/i-1 (stop)" in applied
    assert _verdict("plan", _result(), changes, _read_only())[:2] == ("refused", 4)
    assert _verdict("apply", _result(), changes, _read_only()) == ("failed", 3, applied)
    # another failure stays what it is
    assert _verdict("plan", _result("failed", 2, ["INVALID INPUT: x"]), changes, _read_only())[:2] == ("invalid", 2)


def test_a_read_only_plan_that_would_change_is_refused_and_cannot_be_applied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops_driver.errors import PolicyRefused

    FakeRun(monkeypatch, artifacts=STOP)
    catalog = Catalog(tasks={**CATALOG.tasks, "INFO-005": _read_only()})
    out = pipeline.plan(_request(tmp_path), catalog=catalog)
    assert (out.status, out.exit_code) == ("refused", 4)
    assert "ec2:instance/i-1 (stop)" in out.message and out.manifest["message"] == out.message
    assert "apply_extravars" not in out.manifest
    assert "Status: **refused** (exit 4)" in (out.path / "report.md").read_text()
    with pytest.raises(PolicyRefused, match="ended 'refused'"):
        pipeline.apply(out.run_id, catalog=catalog)


def test_the_catalog_s_read_only_tasks() -> None:
    read_only = sorted(t.id for t in CATALOG.select(automated=True) if t.automation and t.automation.read_only)
    assert read_only == ["INFO-007", "INFO-008", "INFO-010", "STAT-001"]  # checks: the plan is the check


def test_a_raised_change_class_and_an_emergency_are_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeRun(monkeypatch, artifacts=STOP)
    plain = pipeline.plan(_request(tmp_path))
    assert plain.manifest["change_class"] == "standard"
    assert "change_class_catalog" not in plain.manifest and "emergency_reason" not in plain.manifest
    assert "| change class | standard |" in (plain.path / "report.md").read_text()

    major = pipeline.plan(_request(tmp_path, "major.yml", change_class="major"))
    assert major.manifest["change_class"] == "major" and major.manifest["change_class_catalog"] == "standard"
    assert "| change class | major (raised by the work request; standard in the catalog) |" in (
        major.path / "report.md").read_text()

    emergency = pipeline.plan(_request(tmp_path, "em.yml", change_class="emergency",
                                         emergency_reason="web tier compromised"))
    applied = pipeline.apply(emergency.run_id)
    for out in (emergency, applied):
        assert out.manifest["change_class"] == "emergency"
        assert out.manifest["emergency_reason"] == "web tier compromised"
        text = (out.path / "report.md").read_text()
        assert "| emergency reason | web tier compromised |" in text
        assert json.loads((out.path / "manifest.json").read_text())["emergency_reason"] == "web tier compromised"


def test_the_run_record_reaches_the_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    artifacts = {**STOP, contract.EVIDENCE: {"steps": ["stop joho-web01"]}, contract.API_CALLS: {"StopInstances": 1},
                 contract.ATTACHMENTS: {"note.txt": "hello\n"}}
    FakeRun(monkeypatch, artifacts=artifacts)
    out = pipeline.plan(_request(tmp_path))
    b = bundle(out.run_id)
    assert verify(b) == []
    m = b.manifest()
    assert m["evidence"] == {"steps": ["stop joho-web01"]} and m["api_calls"] == {"StopInstances": 1}
    assert m["attachments"] == ["attachment-note.txt"] and (b.path / "attachment-note.txt").read_text() == "hello\n"
    assert m["apply_extravars"] == {"instances": ["i-1"]} and m["targets"] == STOP[contract.TARGETS]
    assert b.read_json("changes.json")[0]["task"] == "INFO-005"
    report = (b.path / "report.md").read_text()
    assert "## Steps that would run\n\n1. stop joho-web01\n" in report and "- `attachment-note.txt`" in report


# ---------------------------------------------------------------- a real run that outlives its limit

def test_a_real_playbook_run_past_its_limit_ends_exit_3(tmp_path: Path) -> None:
    playbook = tmp_path / "sleep.yml"
    playbook.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
                        f"    - ansible.builtin.shell: \"sleep 120; true {tmp_path}\"\n      changed_when: false\n"
                        "      check_mode: false\n")  # a plan runs in check mode, which would skip the shell
    auto = Automation(playbook=str(playbook), tags=["STAT-099"], change_class="standard", params=[])
    task = Task(id="STAT-099", area="STAT", category="c", name_ja="n", name_en="sleeps", summary_ja="s",
                cycle="on_demand", cycle_ja="随時", raw={}, automation=auto)
    catalog = Catalog(tasks={**CATALOG.tasks, task.id: task})
    req = parse_request(yaml.safe_dump({**REQUEST, "task": "STAT-099", "params": {}}), catalog)
    cfg = pipeline.RunConfig(kind="plan", run_id="20261122T000000Z-STAT-099-plan-abcdef", request=req, task=task,
                               extravars={}, base=tmp_path / "evidence", manifest_extra={},
                               timeout=(2, "a two-second test limit"))
    start = time.monotonic()
    out = pipeline._run_and_record(cfg)
    assert time.monotonic() - start < 60
    assert (out.status, out.exit_code) == ("timeout", 3)
    assert out.message.startswith("timed out after 2 s (a two-second test limit)")
    assert out.manifest["ansible_status"] == "timeout" and out.manifest["timeout_s"] == 2
    assert verify(bundle(out.run_id, tmp_path / "evidence")) == []
    assert "were still running and were killed" in (out.path / "report.md").read_text()
    assert _gone(str(tmp_path)), running_with(str(tmp_path))  # the playbook and its shell are not left running


# ---------------------------------------------------------------- the plan binds its inputs (inputs.py)

PROJECT_PARTS = ("playbooks", "roles", "library", "module_utils", "filter_plugins", "action_plugins", "doc_fragments",
                 "inventories", "desired_state", "policy", "catalog", "schedule", "ansible.cfg")


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's run inputs that the test may edit; ``$OPS_PROJECT_DIR`` points at it (sandbox)."""
    from ops_driver.paths import project_root

    root = tmp_path / "project"
    for name in PROJECT_PARTS:
        src = project_root() / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            root.mkdir(exist_ok=True)
            shutil.copy(src, root / name)
    monkeypatch.setenv("OPS_PROJECT_DIR", str(root))
    return root


def _reconcile_request(tmp_path: Path) -> Path:
    path = tmp_path / "reconcile.yml"
    path.write_text(yaml.safe_dump({"task": "COMM-025", "environment": "sandbox", "ticket": "REQ-2026-1207-001",
                                    "requested_by": "kato", "reason": "unit test",
                                    "params": {"operation": "reconcile", "sender_groups": ["WHITELIST"]}}))
    return path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


@pytest.mark.parametrize(("edit", "named"), [
    # the case: an entry added to the desired state after the plan, not committed, never reviewed
    (lambda r: (r / "desired_state/esa/sandbox.yml").write_text(
        (r / "desired_state/esa/sandbox.yml").read_text().replace(
            "      - 192.0.2.25", "      - 198.18.0.0/16\n      - 192.0.2.25", 1)),
     "changed desired_state/esa/sandbox.yml"),
    (lambda r: _append(r / "playbooks/comm-025-esa-sender-groups.yml", "# edited after the plan\n"),
     "changed playbooks/comm-025-esa-sender-groups.yml"),
    (lambda r: _append(r / "roles/esa_sender_groups/tasks/main.yml", "# edited after the plan\n"),
     "changed roles/esa_sender_groups/tasks/main.yml"),
    (lambda r: _append(r / "inventories/sandbox/group_vars/esa_comm.yml", "# edited after the plan\n"),
     "changed inventories/sandbox/group_vars/esa_comm.yml"),
    (lambda r: (r / "library/esa_extra.py").write_text("# a module added after the plan\n"),
     "added library/esa_extra.py"),
])
def test_an_apply_refuses_any_input_changed_since_the_plan_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Any, named: str) -> None:
    from ops_driver.errors import PolicyRefused

    root = _project(tmp_path, monkeypatch)
    fake = FakeRun(monkeypatch)
    plan = pipeline.plan(_reconcile_request(tmp_path))
    assert plan.exit_code == 0, plan.message
    m = plan.manifest
    assert "desired_state/esa/sandbox.yml" in m["inputs"] and m["inputs_sha256"] and m["project_dir"] == str(root)
    assert m["overrides"] == [f"OPS_PROJECT_DIR={root}"]  # the sandbox: allowed, recorded and in the report
    assert f"override in effect (sandbox only): OPS_PROJECT_DIR={root}" in (plan.path / "report.md").read_text()
    edit(root)
    with pytest.raises(PolicyRefused, match=rf"the files it read changed since the plan.*{named}") as e:
        pipeline.apply(plan.run_id)
    assert e.value.exit_code == 4 and len(fake.calls) == 1  # nothing ran after the plan


def test_a_lowered_policy_after_the_plan_is_refused_naming_it(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from ops_driver.errors import PolicyRefused

    root = _project(tmp_path, monkeypatch)
    fake = FakeRun(monkeypatch, artifacts=STOP)
    plan = pipeline.plan(_request(tmp_path, change_class="minor"))
    assert plan.manifest["approvals_required"] == 1
    policy_file = root / "policy/change.yml"
    policy_file.write_text(policy_file.read_text().replace("    rank: 1\n    approvals: 1\n",
                                                           "    rank: 1\n    approvals: 0\n"))
    with pytest.raises(PolicyRefused, match=r"changed policy/change\.yml"):
        pipeline.apply(plan.run_id)
    assert len(fake.calls) == 1


def test_the_apply_records_the_same_inputs_and_what_it_needed(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    FakeRun(monkeypatch, artifacts=STOP)
    monkeypatch.delenv("OPS_PROJECT_DIR", raising=False)
    plan = pipeline.plan(_request(tmp_path), operator="tanaka")
    applied = pipeline.apply(plan.run_id, operator="suzuki")
    assert applied.exit_code == 0, applied.message
    assert applied.manifest["inputs_sha256"] == plan.manifest["inputs_sha256"]
    assert applied.manifest["approvals_required"] == 0 and plan.manifest["plan_max_age_s"] == 86400
    assert (plan.manifest["operator"], plan.manifest["operator_source"]) == ("tanaka", "declared")
    assert "project_commit" in plan.manifest and isinstance(plan.manifest["project_clean"], bool)
    assert "overrides" not in plan.manifest
    assert "the operator tanaka was declared" in (plan.path / "report.md").read_text()


def test_a_declared_operator_or_a_moved_project_is_refused_outside_the_sandbox(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops_driver.errors import PolicyRefused

    fake = FakeRun(monkeypatch, artifacts=STOP)
    monkeypatch.delenv("OPS_OPERATOR", raising=False)
    prod = _request(tmp_path, "prod.yml", environment="prod")
    with pytest.raises(PolicyRefused, match=r"--operator \('tanaka'\): a declared operator is accepted only"):
        pipeline.plan(prod, operator="tanaka")
    monkeypatch.setenv("OPS_OPERATOR", "tanaka")
    with pytest.raises(PolicyRefused, match="OPS_OPERATOR"):
        pipeline.plan(prod)
    monkeypatch.delenv("OPS_OPERATOR")
    _project(tmp_path, monkeypatch)
    with pytest.raises(PolicyRefused, match="OPS_PROJECT_DIR="):
        pipeline.plan(prod)
    assert fake.calls == []  # nothing ran
