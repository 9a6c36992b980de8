"""INFO-007, INFO-008, INFO-010 in the sandbox: each check against seeded findings (none, one under the fail level,
one at or over it), with its API throttled or denied, and check mode the same as a run - reading only.

The sandbox's moto serves what it implements (the GuardDuty detector, the backup plans); a seeded server of this
test (``aws_seeded.SeededAws``, its data set per case) answers the rest, behind a fault proxy
(``tests/support/aws_json_faults.py``) that answers a named operation with ThrottlingException or
AccessDeniedException. The inventory reaches them through ``$OPS_SANDBOX_DIR/seeded.url``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

import ops_sandbox as sandbox
from ops_driver.paths import inventory_dir, project_root
from ops_driver.run import pipeline
from ops_driver.run.runner import run_playbook
from ops_sandbox import aws_seeded as seeded
from tests.integration.conftest import write_request
from tests.support.approvals import approved
from tests.support.aws_json_faults import JsonFaultProxy

pytestmark = pytest.mark.integration

H = dt.timedelta(hours=1)
TASKS = {"events": "INFO-007", "backup": "INFO-008", "config": "INFO-010"}
READ_VERBS = ("List", "Get", "Describe", "Lookup")


@dataclass
class Checks:
    server: seeded.SeededAws
    proxy: JsonFaultProxy
    plan_ids: list[str]
    moto: str


@pytest.fixture()
def checks(sandbox_server: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Checks]:
    moto = sandbox_server["endpoint"]
    bk = boto3.client("backup", region_name=sandbox.REGION, endpoint_url=moto, **sandbox.CREDENTIALS)
    plan_ids = [p["BackupPlanId"] for p in bk.list_backup_plans()["BackupPlansList"]]
    assert len(plan_ids) == 2
    server = seeded.SeededAws(moto, {}).start()
    proxy = JsonFaultProxy(server.endpoint).start()
    pdir = tmp_path / "checks-sandbox"
    pdir.mkdir()
    (pdir / "endpoint.url").write_text(moto)
    (pdir / seeded.URL_FILE).write_text(proxy.endpoint)
    monkeypatch.setenv("OPS_SANDBOX_DIR", str(pdir))
    yield Checks(server, proxy, plan_ids, moto)
    proxy.stop()
    server.stop()


def data(check: str, case: str, plan_ids: list[str]) -> dict[str, Any]:
    """The seeded data of a case: ``none`` (nothing to report; every backup plan ran), ``low`` (one finding under
    the fail level ``high``), ``high`` (one finding at it)."""
    now = dt.datetime.now(dt.UTC)
    d: dict[str, Any] = {
        "guardduty": {"findings": [seeded.guardduty_finding("old", 8.0, now - 30 * H),  # outside the window
                                   seeded.guardduty_finding("small", 2.0, now - H)]},  # under min severity 4.0
        "cloudtrail": {"events": [seeded.cloudtrail_event("ok-login", "ConsoleLogin", now - H)]},  # a success
        "backup": {"jobs": [seeded.backup_job(f"done-{i}", "COMPLETED", now - 2 * H, p)
                            for i, p in enumerate(plan_ids)]},
        "config": {"resources": [], "history": [], "compliance": [
            {"ConfigRuleName": "restricted-ssh", "Compliance": {"ComplianceType": "COMPLIANT"}}]},
    }
    if case == "none":
        return d
    if check == "events":
        d["guardduty"]["findings"].append(seeded.guardduty_finding(
            "found", 5.0 if case == "low" else 8.0, now - H))
    elif check == "backup":
        d["backup"]["jobs"].append(seeded.backup_job("found", "RUNNING" if case == "low" else "FAILED", now - H,
                                                     plan_ids[0]))
    else:
        rtype, rid = ("AWS::EC2::Instance", "i-0found") if case == "low" else ("AWS::CloudTrail::Trail", "found")
        d["config"]["resources"].append({"resourceType": rtype, "resourceId": rid})
        item = seeded.security_group_change(rid, now - H)
        item.update(resourceType=rtype, resourceId=rid, resourceName=rid, configurationStateId="found")
        d["config"]["history"].append(item)
    return d


def _plan(tmp_path: Path, check: str) -> pipeline.Outcome:
    return pipeline.plan(write_request(tmp_path / f"{check}.yml", TASKS[check], {}))


def _csv(out: pipeline.Outcome) -> list[dict[str, str]]:
    name = f"attachment-{out.manifest['task'].lower()}-findings.csv"
    return list(csv.DictReader(io.StringIO((out.path / name).read_text())))


@pytest.mark.parametrize("check", sorted(TASKS))
@pytest.mark.parametrize(("case", "exit_code", "verdict"), [("none", 0, "ok"), ("low", 0, "findings"),
                                                            ("high", 3, "failed")])
def test_each_check_against_seeded_findings(checks: Checks, tmp_path: Path, check: str, case: str,
                                            exit_code: int, verdict: str) -> None:
    checks.server.data = data(check, case, checks.plan_ids)
    out = _plan(tmp_path, check)
    assert out.exit_code == exit_code, out.message
    ev = out.manifest["evidence"]["check"]
    assert ev["task"] == TASKS[check] and ev["verdict"] == verdict
    assert ev["window"]["source"] == "last 24 h"
    found = [f["id"] for f in ev["findings"]]
    rows = _csv(out)
    assert [r["id"] for r in rows] == found
    report = (out.path / "report.md").read_text()
    assert "## Check findings" in report
    warnings = [w for w in report.split("## Warnings", 1)[1].splitlines() if w.startswith(f"- **{TASKS[check]}")]
    if case == "none":
        assert found == [] and warnings == [] and "Verdict: ok, no finding" in report
        return
    assert found == ["found"], ev["findings"]
    level = ev["findings"][0]["level"]
    assert f"| {level} | " in report
    if case == "low":
        assert level in ("low", "medium")
        assert len(warnings) == 1 and "1 finding(s)" in warnings[0], report
    else:
        assert level == "high" and out.status == "failed"
        assert out.message.startswith(f"{TASKS[check]}: 1 finding(s)") and "at or above high" in out.message


FAULT_CASES = [("events", "ListFindings", "throttle", "GuardDuty ListFindings throttled"),
               ("events", "LookupEvents", "deny", "CloudTrail LookupEvents denied"),
               ("backup", "ListBackupJobs", "throttle", "Backup ListBackupJobs throttled"),
               ("backup", "ListBackupJobs", "deny", "Backup ListBackupJobs denied"),
               ("config", "GetResourceConfigHistory", "throttle", "Config GetResourceConfigHistory throttled"),
               ("config", "DescribeComplianceByConfigRule", "deny", "Config DescribeComplianceByConfigRule denied")]


@pytest.mark.parametrize(("check", "operation", "fault", "named"), FAULT_CASES)
def test_a_throttled_or_denied_api_fails_the_check_naming_it(checks: Checks, tmp_path: Path, check: str,
                                                             operation: str, fault: str, named: str) -> None:
    checks.server.data = data(check, "low", checks.plan_ids)
    if check == "config":  # a resource whose history is read, so that GetResourceConfigHistory is called
        checks.server.data["config"]["resources"].append({"resourceType": "AWS::EC2::SecurityGroup",
                                                          "resourceId": "sg-1"})
    checks.proxy.faults[operation] = fault
    out = _plan(tmp_path, check)
    assert out.exit_code == 3 and out.status == "failed"
    assert out.message.startswith(f"{TASKS[check]}: {named}"), out.message
    # the inventory's aws_daily_checks_max_attempts: 2 - botocore retried a throttled call once, a denied one never
    assert checks.proxy.calls[f"{_service(check, operation)} {operation}"] == (2 if fault == "throttle" else 1)
    assert out.manifest["evidence"]["check"]["verdict"] == "error"


def _service(check: str, operation: str) -> str:
    return {"ListFindings": "guardduty", "LookupEvents": "cloudtrail"}.get(operation) or {
        "backup": "backup", "config": "config"}[check]


def _moto_state(moto: str) -> dict[str, Any]:
    kw: dict[str, Any] = {"region_name": sandbox.REGION, "endpoint_url": moto, **sandbox.CREDENTIALS}
    bk = boto3.client("backup", **kw)
    gd = boto3.client("guardduty", **kw)
    return {"plans": bk.list_backup_plans()["BackupPlansList"], "vaults": bk.list_backup_vaults()["BackupVaultList"],
            "detectors": {d: gd.get_detector(DetectorId=d)["Status"] for d in gd.list_detectors()["DetectorIds"]}}


def test_check_mode_is_the_same_as_a_run_and_reads_only(checks: Checks, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The playbook in check mode and for real (no previous check: the same window) finds the same, and every call
    that reached AWS was a read."""
    monkeypatch.setenv("OPS_EVIDENCE_DIR", str(tmp_path / "no-evidence"))
    for check in TASKS:
        checks.server.data = data(check, "low", checks.plan_ids)
    # one data document with something for every check
    d = data("events", "low", checks.plan_ids)
    d["backup"] = data("backup", "low", checks.plan_ids)["backup"]
    d["config"] = data("config", "low", checks.plan_ids)["config"]
    checks.server.data = d
    before = _moto_state(checks.moto)
    for check, task in TASKS.items():
        playbook = project_root() / "playbooks" / f"{task.lower()}-aws-{check}-check.yml"
        got = {}
        for check_mode in (True, False):
            result = run_playbook(playbook, inventory_dir("sandbox"), {}, check=check_mode)
            assert result.status == "successful", result.failures
            ev = result.artifacts["ops_evidence"]["check"]
            got[check_mode] = (ev["verdict"], [(f["id"], f["level"]) for f in ev["findings"]])
        assert got[True] == got[False] and got[True][1], (check, got)
    assert _moto_state(checks.moto) == before
    assert checks.proxy.calls, "the checks went through the proxy"
    assert all(op.split(" ")[1].startswith(READ_VERBS) for op in checks.proxy.calls), checks.proxy.calls


def test_the_window_starts_at_the_previous_successful_check(checks: Checks, tmp_path: Path) -> None:
    """A second check reads from the first one's start: a finding seen by the first is not reported again; an
    apply (not needed for a read-only check) reads the same way."""
    checks.server.data = data("backup", "low", checks.plan_ids)
    first = _plan(tmp_path, "backup")
    assert first.exit_code == 0 and [f["id"] for f in first.manifest["evidence"]["check"]["findings"]] == ["found"]
    second = _plan(tmp_path, "backup")
    ev = second.manifest["evidence"]["check"]
    assert ev["window"]["source"] == "previous successful check"
    assert ev["window"]["since"] == first.manifest["started_at"]
    assert ev["findings"] == [] and ev["verdict"] == "ok"  # the plans ran 2 h ago: in the last 24 h, not missing
    applied = pipeline.apply(approved(second.run_id))
    assert applied.exit_code == 0, applied.message
    assert applied.manifest["evidence"]["check"]["window"]["since"] == second.manifest["started_at"]
    assert json.loads((applied.path / "changes.json").read_text()) == []
