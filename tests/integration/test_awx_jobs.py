"""The playbooks as AWX / Tower runs them (issue #16): plain ansible-playbook (through ansible-runner) with the
survey's extra variables and AWX's job variables, against the sandbox.

- A check job (``--check --diff``, what an AWX job of type check runs) changes no resource: EC2 instances, AMIs,
  snapshots, the NAS shares and the ESA appliances are compared before and after; its changes are the ones
  ``ops-driver plan`` predicts for the same request.
- A job without a ticket, or with a survey answer of the wrong type, fails at its first task with the message
  ``ops-driver`` gives for the same request file, and nothing else runs.
- The AWX API's view of a run (job object + job_events pages, tests/support/awx_api.py) converts back to the
  driver's run record (ops_driver.awx.jobs) with the same changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import ops_sandbox
from ops_driver.awx import jobs, survey
from ops_driver.catalog import load_catalog
from ops_driver.cli import main
from ops_driver.errors import InvalidInput
from ops_driver.evidence import bundles
from ops_driver.paths import inventory_dir, project_root, sandbox_dir
from ops_driver.run import contract, pipeline
from ops_driver.run.runner import RunResult, run_playbook
from ops_sandbox import esa as esasandbox
from ops_sandbox import simulators
from tests.integration.conftest import states, write_request
from tests.support import awx_api

pytestmark = pytest.mark.integration
ROOT = project_root()
CATALOG = load_catalog()
JOB_ID = 4242
AWX_VARS = {"awx_job_id": JOB_ID, "awx_user_name": "sato", "awx_job_template_name": "test",
            "tower_job_id": JOB_ID, "ops_ticket": "REQ-TOWER-001", "ops_requested_by": "tanaka",
            "ops_reason": "AWX job test"}
ESA = ("esa-comm-sandbox01", "esa-comm-sandbox02", "esa-core-sandbox01")


def awx_job(task_id: str, answers: dict[str, Any], check: bool = True,
            **job_vars: Any) -> tuple[RunResult, dict[str, Any]]:
    """Run the task's playbook as an AWX job: survey answers as ``ops_survey_<name>`` extra variables."""
    task = CATALOG.get(task_id)
    assert task.automation is not None
    extra = {**AWX_VARS, **{survey.SURVEY_PREFIX + k: v for k, v in answers.items()}, **job_vars}
    extra = {k: v for k, v in extra.items() if v is not None}
    result = run_playbook(ROOT / task.automation.playbook, inventory_dir("sandbox"), extra, check=check)
    return result, extra


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def estate_state(ec2: Any) -> dict[str, Any]:
    """Everything a check job could change in the sandbox: EC2 (instances, AMIs, snapshots, tags), NAS, ESA."""
    sim = simulators.load("esa")
    d = sandbox_dir()
    return {
        "instances": states(ec2),
        "images": sorted((i["ImageId"], i["State"]) for i in ec2.describe_images(Owners=["self"])["Images"]),
        "snapshots": sorted(s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]),
        "tags": sorted((t["ResourceId"], t["Key"], t["Value"]) for t in ec2.describe_tags()["Tags"]),
        "nas": tree(d / "nas"),
        "esa": {n: sim.effective_state(esasandbox.state_file(d / "esa", n))["listeners"] for n in ESA},
    }


def _request_file(tmp_path: Path, task_id: str, params: dict[str, Any]) -> Path:
    return write_request(tmp_path / f"{task_id}.yml", task_id, params, ticket=AWX_VARS["ops_ticket"])


CHECK_JOBS = [
    ("INFO-005", {"instances": "joho-web01\njoho-ap01"}, {"instances": ["joho-web01", "joho-ap01"]}),
    ("INFO-011", {"instances": "joho-web01", "no_reboot": "true"}, None),
    ("INFO-012", {"instances": "joho-db01", "generation": "pre-change"}, None),
    ("STAT-011", {"source_dir": "work/2026-11", "dest_dir": "from-prod", "items": "*.csv\ndetail\n",
                  "personal_data": "false", "personal_data_reason": "aggregated counts only"},
     {"source_dir": "work/2026-11", "dest_dir": "from-prod", "items": ["*.csv", "detail"], "personal_data": False,
      "personal_data_reason": "aggregated counts only"}),
    ("COMM-025", {"operation": "change", "sender_groups": "WHITELIST", "add": "203.0.113.25\n.Mail.Example.org"},
     {"operation": "change", "sender_groups": ["WHITELIST"], "add": ["203.0.113.25", ".Mail.Example.org"]}),
]


@pytest.mark.parametrize("task_id, answers, params", CHECK_JOBS, ids=[c[0] for c in CHECK_JOBS])
def test_an_awx_check_job_changes_nothing_and_shows_the_plan_of_the_driver(
        estate: Any, tmp_path: Path, task_id: str, answers: dict[str, Any], params: dict[str, Any] | None) -> None:
    if task_id.startswith("STAT-"):  # fresh shares: an earlier NAS test on this worker may have left files there
        nas = Path(os.environ["OPS_SANDBOX_DIR"]) / "nas"
        shutil.rmtree(nas, ignore_errors=True)
        ops_sandbox.seed_nas(nas)
    before = estate_state(estate)
    result, _ = awx_job(task_id, answers)
    assert result.ok, result.failures
    assert estate_state(estate) == before  # the check job changed no resource
    changes = contract.change_entries(result.artifacts.get("ops_changes") or [], task_id)
    assert any(c["changed"] for c in changes), changes
    if params is None:  # the conversion of these answers is covered elsewhere; spare a second playbook run
        return
    plan = pipeline.plan(_request_file(tmp_path, task_id, params))  # the driver's plan of the same request
    assert plan.exit_code == 0, plan.message
    assert changes == plan.changes
    assert estate_state(estate) == before
    # the driver's run passes the check task at once: not a skipped task in the reviewer's report
    assert "Check the work request" not in (plan.path / "report.md").read_text()


def _driver_message(tmp_path: Path, params: dict[str, Any], ticket: str | None = AWX_VARS["ops_ticket"]) -> str:
    path = tmp_path / "r.yml"
    data = {"task": "INFO-005", "environment": "sandbox", "requested_by": "tanaka", "reason": "AWX job test",
            "params": params, **({"ticket": ticket} if ticket else {})}
    import yaml

    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InvalidInput) as e:
        pipeline.plan(path)
    return str(e.value).removeprefix(f"{path}: ")


@pytest.mark.parametrize("answers, job_vars, params, ticket", [
    ({"instances": "joho-web01"}, {"ops_ticket": None}, {"instances": ["joho-web01"]}, None),
    ({"instances": "joho-web01", "wait_timeout": "soon"}, {}, {"instances": ["joho-web01"], "wait_timeout": "soon"},
     AWX_VARS["ops_ticket"]),
], ids=["no-ticket", "wrong-type"])
def test_a_bad_awx_job_fails_first_with_the_drivers_message_and_nothing_changes(
        estate: Any, tmp_path: Path, answers: dict[str, Any], job_vars: dict[str, Any], params: dict[str, Any],
        ticket: str | None) -> None:
    before = estate_state(estate)
    result, extra = awx_job("INFO-005", answers, check=False, **job_vars)  # a run job: it would stop the instance
    assert estate_state(estate) == before
    assert result.failure_kind() == "invalid" and result.rc == 2
    assert [f["msg"] for f in result.failures] == [f"INVALID INPUT: AWX job {JOB_ID}: "
                                                   + _driver_message(tmp_path, params, ticket)]
    started = [e["event_data"]["task"] for e in result.events if e["event"] == "playbook_on_task_start"]
    assert started == ["Check the work request of an AWX / Tower job"]  # nothing ran after it
    # the AWX job of that run converts to the same failure: an apply refused as invalid input (exit 2)
    job = awx_api.job_object(result, JOB_ID, "run", "sato", extra, "playbooks/info-005-ec2-stop.yml", "INFO-005",
                             "ops-sandbox")
    run = jobs.convert(job, awx_api.job_event_pages(result.events, JOB_ID))
    assert run.kind == "apply" and run.result.failure_kind() == "invalid" and run.result.rc == 2
    assert run.result.failures == result.failures


def test_an_awx_job_converts_to_the_run_record_the_driver_makes(estate: Any, tmp_path: Path) -> None:
    result, extra = awx_job("INFO-005", {"instances": "joho-web01"})
    assert result.ok, result.failures
    job = awx_api.job_object(result, JOB_ID, "check", "sato", extra, "playbooks/info-005-ec2-stop.yml", "INFO-005",
                             "ops-sandbox")
    pages = awx_api.job_event_pages(result.events, JOB_ID, page_size=7)
    assert len(pages) > 2 and all("artifact_data" not in e["event_data"] for p in pages for e in p["results"])
    run = jobs.convert(job, pages[::-1] + pages[:1])  # pages in any order, one fetched twice
    r = run.result
    assert (r.status, r.rc, r.ok) == (result.status, result.rc, True)
    assert r.artifacts == result.artifacts and r.artifacts["ops_changes"]
    assert (r.failures, r.skipped, r.warnings) == (result.failures, result.skipped, result.warnings)
    assert r.stdout.splitlines() == [line for e in result.events if e.get("stdout") for line in
                                     str(e["stdout"]).splitlines()]
    assert [{k: e.get(k) for k in jobs.RUNNER_KEYS} for e in r.events] == \
        [{k: e.get(k) for k in jobs.RUNNER_KEYS if k != "event_data"}
         | {"event_data": {k: v for k, v in e["event_data"].items() if k != "artifact_data"}}
         for e in result.events]
    assert all(e["runner_ident"] == str(JOB_ID) for e in r.events)
    plan = pipeline.plan(_request_file(tmp_path, "INFO-005", {"instances": ["joho-web01"]}))
    assert contract.change_entries(r.artifacts["ops_changes"], "INFO-005") == plan.changes  # the driver's own plan
    # ops-driver evidence import-awx: the same bundle fields as the driver's plan of the same request
    (tmp_path / "job.json").write_text(json.dumps(job), encoding="utf-8")
    (tmp_path / "events.json").write_text(json.dumps(pages), encoding="utf-8")
    assert main(["evidence", "import-awx", "--job", str(tmp_path / "job.json"), "--events",
                 str(tmp_path / "events.json")]) == 0
    imported = [b for b in bundles.all_bundles() if b.manifest().get("source") == "file (unverified)"]
    assert len(imported) == 1
    im, pm = imported[0].manifest(), plan.manifest
    assert imported[0].read_json("changes.json") == plan.changes
    assert (im["kind"], im["operator"], im["task"], im["status"], im["exit_code"]) == ("plan", "sato", "INFO-005",
                                                                                      "planned", 0)
    assert {k: im[k] for k in ("environment", "change_class", "targets", "approvals_required")} == \
        {k: pm[k] for k in ("environment", "change_class", "targets", "approvals_required")}
    assert im["awx_job"]["id"] == JOB_ID and "## Changes" in (imported[0].path / "report.md").read_text()
    assert main(["evidence", "verify"]) == 0  # on the ledger like any plan
    assert run.kind == "plan" and run.operator == "sato"
    assert run.request == {"task": "INFO-005", "environment": "sandbox", "ticket": "REQ-TOWER-001",
                           "requested_by": "tanaka", "reason": "AWX job test",
                           "params": {"instances": ["joho-web01"], "wait_timeout": 600}}
    # a run job of an approval workflow: launched by the workflow; the operator is the user who launched it
    wf_job = awx_api.job_object(result, JOB_ID, "run", "sato", extra, "playbooks/info-005-ec2-stop.yml",
                                "INFO-005", "ops-sandbox", launched_by_workflow=True)
    wf = jobs.convert(wf_job, pages)
    assert (wf.kind, wf.operator) == ("apply", "sato")
    # without the check task's event the request comes from the extra variables and the inventory's name
    bare = [{**p, "results": [e for e in p["results"] if e["task"] != "Check the work request of an AWX / Tower job"]}
            for p in pages]
    assert jobs.convert(job, bare).request == run.request
