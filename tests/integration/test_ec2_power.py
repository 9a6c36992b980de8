"""INFO-004/005/006 end to end against the sandbox: plan, apply, refusals, drift, evidence, faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ops_driver.cli import main
from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import bundles
from ops_driver.paths import project_root
from ops_driver.run import pipeline
from tests.integration.conftest import ids_by_name, states, write_request
from tests.support.approvals import approved

pytestmark = pytest.mark.integration

SANDBOX_SECRET = "sandbox-secret-key-moto-accepts-any"


def _bundle_text(path: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(path.iterdir()))


def test_plan_changes_nothing_and_predicts_the_stop(estate: Any, tmp_path: Path) -> None:
    before = states(estate)
    req = write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01", "joho-ap01"]})
    out = pipeline.plan(req)
    assert out.exit_code == 0, out.message
    assert states(estate) == before  # check mode: every instance exactly as it was
    ids = ids_by_name(estate)
    predicted = {c["resource"]: (c["before"]["state"], c["after"]["state"], c["changed"]) for c in out.changes}
    assert predicted == {f"ec2:instance/{ids['joho-web01']}": ("running", "stopped", True),
                         f"ec2:instance/{ids['joho-ap01']}": ("running", "stopped", True)}
    assert bundles.verify(bundles.bundle(out.run_id)) == []
    manifest = out.manifest
    assert manifest["kind"] == "plan" and manifest["check_mode"] is True
    assert {t["instance_id"] for t in manifest["targets"]} == {ids["joho-web01"], ids["joho-ap01"]}
    report = (out.path / "report.md").read_text()
    assert "state=running" in report and "state=stopped" in report and "REQ-TEST-001" in report


def test_apply_stops_then_plan_predicts_no_change_then_start(estate: Any, tmp_path: Path) -> None:
    ids = ids_by_name(estate)
    untouched = {i: s for i, s in states(estate).items() if i not in (ids["joho-web01"], ids["joho-ap01"])}
    req = write_request(tmp_path / "stop.yml", "INFO-005", {"instances": ["joho-web01", ids["joho-ap01"]]})
    plan = pipeline.plan(req)
    applied = pipeline.apply(approved(plan.run_id))
    assert applied.exit_code == 0, applied.message
    now = states(estate)
    assert now[ids["joho-web01"]] == "stopped" and now[ids["joho-ap01"]] == "stopped"
    assert {i: now[i] for i in untouched} == untouched
    assert applied.manifest["comparison"]["matched"] == sorted(c["resource"] for c in plan.changes)
    assert applied.manifest["comparison"]["unpredicted"] == [] == applied.manifest["comparison"]["not_done"]
    assert applied.manifest["plan_id"] == plan.run_id
    assert applied.manifest["api_calls"].get("StopInstances") == 1

    again = pipeline.plan(req)
    assert again.exit_code == 0 and not any(c["changed"] for c in again.changes)

    start = write_request(tmp_path / "start.yml", "INFO-004", {"instances": ["joho-web01", "joho-ap01"]})
    started = pipeline.apply(approved(pipeline.plan(start).run_id))
    assert started.exit_code == 0, started.message
    assert states(estate)[ids["joho-web01"]] == "running"
    assert started.manifest["api_calls"].get("DescribeInstanceStatus", 0) >= 1  # waited for status checks


def test_reboot_is_a_real_reboot_and_warns(estate: Any, tmp_path: Path) -> None:
    req = write_request(tmp_path / "reboot.yml", "INFO-006", {"instances": ["joho-db01"]})
    plan = pipeline.plan(req)
    assert "operating system of every target instance is rebooted" in (plan.path / "report.md").read_text()
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    assert out.manifest["api_calls"].get("RebootInstances") == 1
    assert "StopInstances" not in out.manifest["api_calls"] and "StartInstances" not in out.manifest["api_calls"]
    assert states(estate)[ids_by_name(estate)["joho-db01"]] == "running"


@pytest.mark.parametrize("target, needle", [
    ("prod-joho-web01", "belongs to environment prod, not sandbox"),
    ("maint-joho-db01", "belongs to environment maint, not sandbox"),
    ("no-such-instance", "no live instance has the Name tag"),
    ("i-0123456789abcdef0", "does not exist"),
])
def test_refused_targets_exit_2_and_change_nothing(estate: Any, tmp_path: Path, target: str, needle: str) -> None:
    before = states(estate)
    req = write_request(tmp_path / "bad.yml", "INFO-005", {"instances": ["joho-web01", target]})
    out = pipeline.plan(req)
    assert out.exit_code == 2 and needle in out.message
    assert out.changes == []
    assert states(estate) == before
    with pytest.raises(PolicyRefused, match="only a successful plan"):
        pipeline.apply(approved(out.run_id))
    assert states(estate) == before


def test_prod_instance_id_is_refused_too(estate: Any, tmp_path: Path) -> None:
    prod_id = ids_by_name(estate)["prod-joho-web01"]
    out = pipeline.plan(write_request(tmp_path / "r.yml", "INFO-005", {"instances": [prod_id]}))
    assert out.exit_code == 2 and f"{prod_id} (prod-joho-web01) belongs to environment prod" in out.message


def test_apply_of_unknown_plan_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="no evidence bundle"):
        pipeline.apply(approved("20260101T000000Z-INFO-005-plan-000000"))
    assert main(["apply", "--quiet", "20260101T000000Z-INFO-005-plan-000000"]) == 2


def test_second_apply_tampered_plan_and_changed_request_are_refused(estate: Any, tmp_path: Path) -> None:
    req = write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01"]})
    plan = pipeline.plan(req)
    assert pipeline.apply(approved(plan.run_id)).exit_code == 0
    with pytest.raises(PolicyRefused, match="already applied"):
        pipeline.apply(approved(plan.run_id))

    plan2 = pipeline.plan(write_request(tmp_path / "r2.yml", "INFO-004", {"instances": ["joho-web01"]}))
    changes = plan2.path / "changes.json"
    changes.write_text(changes.read_text().replace('"stopped"', '"running"', 1))
    assert main(["evidence", "verify", plan2.run_id]) == 4
    with pytest.raises(PolicyRefused, match="does not verify"):
        pipeline.apply(approved(plan2.run_id))

    req3 = write_request(tmp_path / "r3.yml", "INFO-004", {"instances": ["joho-web01"]})
    plan3 = pipeline.plan(req3)
    req3.write_text(req3.read_text().replace("integration test", "edited after the plan"))
    # the apply runs the request recorded in the plan's bundle; a request file given with it must be the planned one
    with pytest.raises(PolicyRefused, match="changed since the plan"):
        pipeline.apply(approved(plan3.run_id), request_path=req3)
    assert states(estate)[ids_by_name(estate)["joho-web01"]] == "stopped"


def test_drift_between_plan_and_apply_is_refused_with_exit_4(estate: Any, tmp_path: Path) -> None:
    ids = ids_by_name(estate)
    plan = pipeline.plan(write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01", "joho-ap01"]}))
    estate.stop_instances(InstanceIds=[ids["joho-ap01"]])  # somebody else acts between plan and apply
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 4 and out.message.startswith("DRIFT:") and ids["joho-ap01"] in out.message
    assert states(estate)[ids["joho-web01"]] == "running"  # nothing was done


def test_apply_acts_on_the_planned_ids_even_if_name_tags_move(estate: Any, tmp_path: Path) -> None:
    ids = ids_by_name(estate)
    plan = pipeline.plan(write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01"]}))
    estate.create_tags(Resources=[ids["joho-web01"]], Tags=[{"Key": "Name", "Value": "joho-web01-renamed"}])
    estate.create_tags(Resources=[ids["joho-ap01"]], Tags=[{"Key": "Name", "Value": "joho-web01"}])
    try:
        out = pipeline.apply(approved(plan.run_id))
        assert out.exit_code == 0, out.message
        assert states(estate)[ids["joho-web01"]] == "stopped" and states(estate)[ids["joho-ap01"]] == "running"
    finally:
        estate.create_tags(Resources=[ids["joho-web01"]], Tags=[{"Key": "Name", "Value": "joho-web01"}])
        estate.create_tags(Resources=[ids["joho-ap01"]], Tags=[{"Key": "Name", "Value": "joho-ap01"}])


def test_no_secret_in_evidence_or_stdout(estate: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    req = write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01"]})
    assert main(["plan", str(req)]) == 0
    plan_id = next(b.run_id for b in bundles.all_bundles())
    assert main(["apply", plan_id]) == 0
    out = capsys.readouterr()
    assert SANDBOX_SECRET not in out.out + out.err
    found = bundles.all_bundles()
    assert len(found) == 2
    for b in found:
        assert SANDBOX_SECRET not in _bundle_text(b.path)


def test_cli_json_keeps_stdout_to_one_object(estate: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    req = write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01"]})
    capsys.readouterr()
    assert main(["plan", "--json", str(req)]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)  # exactly one JSON document
    assert data["kind"] == "plan" and data["exit_code"] == 0
    assert "TASK" in out.err  # progress went to stderr


def test_throttling_is_retried(proxied: Any, estate: Any, tmp_path: Path) -> None:
    plan = pipeline.plan(write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01"]}))
    proxied.throttle["StopInstances"] = 3
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    assert proxied.calls["StopInstances"] >= 4  # three refused with RequestLimitExceeded, then done
    assert states(estate)[ids_by_name(estate)["joho-web01"]] == "stopped"


def test_timeout_is_reported_with_the_state_and_exit_3(proxied: Any, estate: Any, tmp_path: Path) -> None:
    ids = ids_by_name(estate)
    req = write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01"], "wait_timeout": 2})
    plan = pipeline.plan(req)
    proxied.never_reach["stopped"] = True
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 3
    assert "Timed out after 2s waiting for stopped" in out.message
    assert f"{ids['joho-web01']} is stopping" in out.message
    report = (out.path / "report.md").read_text()
    assert "Timed out" in report
    assert bundles.verify(bundles.bundle(out.run_id)) == []


def test_status_checks_that_never_pass_time_out(proxied: Any, estate: Any, tmp_path: Path) -> None:
    ids = ids_by_name(estate)
    estate.stop_instances(InstanceIds=[ids["joho-web01"]])
    plan = pipeline.plan(write_request(tmp_path / "r.yml", "INFO-004",
                                         {"instances": ["joho-web01"], "wait_timeout": 2}))
    proxied.status_checks_stuck = True
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 3 and "(status checks not ok)" in out.message


def _ansible_playbook(args: list[str]) -> subprocess.CompletedProcess[str]:
    root = project_root()
    env = dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i",
                           str(root / "inventories" / "sandbox"), str(root / "playbooks" / "site.yml"), *args],
                          capture_output=True, text=True, env=env, cwd=root, timeout=300)


def test_operator_tags_check_diff_shows_before_after_and_changes_nothing(estate: Any) -> None:
    before = states(estate)
    web = ids_by_name(estate)["joho-web01"]
    r = _ansible_playbook(["--tags", "INFO-005", "--check", "--diff", "-e", '{"instances": ["joho-web01"]}'])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"-{web}: running" in r.stdout and f"+{web}: stopped" in r.stdout
    assert "PLAY [INFO-004" in r.stdout and "Start the instances" not in r.stdout  # other operations skipped
    assert states(estate) == before


def test_operator_tags_real_run_and_site_refuses_untagged_run(estate: Any) -> None:
    web = ids_by_name(estate)["joho-web01"]
    r = _ansible_playbook(["--tags", "INFO-005", "-e", '{"instances": ["joho-web01"]}'])
    assert r.returncode == 0, r.stdout + r.stderr
    assert states(estate)[web] == "stopped"
    before = states(estate)
    r = _ansible_playbook(["-e", '{"instances": ["joho-web01"]}'])
    assert r.returncode != 0 and "runs only with --tags" in r.stdout
    assert states(estate) == before


def test_stop_of_an_instance_with_stop_protection_is_refused_by_the_plan(
    proxied: Any, estate: Any, tmp_path: Path
) -> None:
    import ops_sandbox

    name = "joho-stopguard01"  # a Name of its own: terminated instances stay listed by moto
    image = estate.describe_instances(InstanceIds=[ids_by_name(estate)["joho-web01"]])[
        "Reservations"][0]["Instances"][0]["ImageId"]
    tags = [{"Key": "Name", "Value": name}, {"Key": "Environment", "Value": "sandbox"},
            {"Key": "Role", "Value": "web"}]
    guarded = estate.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.medium", DisableApiStop=True,
        Placement={"AvailabilityZone": ops_sandbox.REGION + "a"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"][0]["InstanceId"]
    try:
        ids = ids_by_name(estate)
        estate.stop_instances(InstanceIds=[ids["joho-ap01"]])  # already stopped: no stop, so no attribute look-up
        before = states(estate)
        req = write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01", "joho-ap01", name]})
        out = pipeline.plan(req)
        assert out.exit_code == 2, out.message
        assert f"{guarded} ({name}) has stop protection on (attribute disableApiStop)" in out.message
        assert ids["joho-web01"] not in out.message and "Nothing was changed" in out.message
        assert proxied.calls["DescribeInstanceAttribute"] == 2  # joho-web01 and the guarded one, not joho-ap01
        assert proxied.calls["StopInstances"] == 0
        assert states(estate) == before
        with pytest.raises(PolicyRefused, match="only a successful plan"):
            pipeline.apply(approved(out.run_id))
        assert states(estate) == before
    finally:
        estate.terminate_instances(InstanceIds=[guarded])
