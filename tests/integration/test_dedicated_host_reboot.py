"""CORE-049: the monthly Dedicated Host reboot of the sandbox environment (two hosts: web+ap, db)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.run import pipeline
from tests.integration.conftest import ids_by_name, states, write_request
from tests.support.approvals import approved

pytestmark = pytest.mark.integration
EMERGENCY = {"emergency": True, "emergency_reason": "host retirement notice from AWS, cannot wait"}
SANDBOX_DAY = "2026-11-04"  # schedule/2026.yml: the sandbox's November day (1st Wednesday)


@pytest.fixture(autouse=True)
def scheduled_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as on the sandbox's scheduled day of November 2026 (the evidence records the override)."""
    monkeypatch.setenv("OPS_TODAY", SANDBOX_DAY)


def request(tmp_path: Path, **params: Any) -> Path:
    """A CORE-049 request with a ticket of its own (a host cycled for a ticket is not cycled again for it)."""
    ticket = "REQ-DH-" + uuid.uuid4().hex[:8]
    return write_request(tmp_path / "dh.yml", "CORE-049", {"wait_timeout": 3, **params}, ticket=ticket)


def sandbox_states(ec2: Any) -> dict[str, str]:
    """Name -> state of the sandbox environment's instances."""
    by_id = states(ec2)
    return {name: by_id[i] for name, i in ids_by_name(ec2).items() if name.startswith("joho-")}


def test_plan_changes_nothing_and_apply_brings_back_exactly_what_ran(estate: Any, tmp_path: Path) -> None:
    ids = ids_by_name(estate)
    estate.stop_instances(InstanceIds=[ids["joho-db01"]])
    recorded = states(estate)
    path = request(tmp_path)
    plan = pipeline.plan(path)
    assert plan.exit_code == 0, plan.message
    assert states(estate) == recorded  # check mode changed no instance
    steps = plan.manifest["evidence"]["steps"]
    web, ap, db = (f"({ids[n]})" for n in ("joho-web01", "joho-ap01", "joho-db01"))
    assert [s.split(": ", 1)[1] for s in steps if web in s or ap in s or db in s] == [
        f"stop web: joho-web01 {web}", f"stop ap: joho-ap01 {ap}", f"start ap: joho-ap01 {ap}",
        f"start web: joho-web01 {web}", f"joho-db01 {db} stays stopped"]
    report = (plan.path / "report.md").read_text(encoding="utf-8")
    assert "## Steps that would run" in report and "stays stopped" in report
    assert {c["name"]: c["changed"] for c in plan.changes} == {"joho-web01": True, "joho-ap01": True,
                                                               "joho-db01": False}
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    assert states(estate) == recorded  # every instance in its recorded state; db stayed stopped
    log = out.manifest["evidence"]["dedicated_hosts"]["log"]
    order = [line.split(": ")[1] for line in log if ": host " not in line]
    assert order == ["stop web", "stop ap", "start ap", "start web"]
    assert out.manifest["schedule"]["scheduled"] is True and out.manifest["schedule"]["today_overridden"] is True

    again = pipeline.plan(path)
    assert again.exit_code == 0, again.message
    assert not any(c["changed"] for c in again.changes)  # the same ticket: both hosts already done
    assert sum("already done for" in s for s in again.manifest["evidence"]["steps"]) == 2


def test_one_instance_that_fails_to_start_others_are_restored_and_it_is_named(
    proxied: Any, estate: Any, tmp_path: Path
) -> None:
    ids = ids_by_name(estate)
    recorded = sandbox_states(estate)
    plan = pipeline.plan(request(tmp_path))
    assert plan.exit_code == 0, plan.message
    proxied.never_reach_ids[ids["joho-ap01"]] = "running"  # joho-ap01 never comes back
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 3, out.message
    assert "joho-ap01" in out.message and "Not back in their recorded state" in out.message
    not_back = out.manifest["evidence"]["dedicated_hosts"]["not_back"]
    assert [(n["name"], n["recorded"]) for n in not_back] == [("joho-ap01", "running")]
    proxied.never_reach_ids.clear()
    now = sandbox_states(estate)
    assert {k: v for k, v in now.items() if k != "joho-ap01"} == {k: v for k, v in recorded.items() if k != "joho-ap01"}
    assert now["joho-web01"] == "running"  # started again by the recovery although its group never got there


def test_another_day_is_refused_unless_an_emergency_change_with_a_reason(
    estate: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-11-05")
    recorded = states(estate)
    with pytest.raises(PolicyRefused, match="scheduled day for sandbox is 2026-11-04") as refused:
        pipeline.plan(request(tmp_path))
    assert refused.value.exit_code == 4
    with pytest.raises(InvalidInput, match="emergency_reason") as invalid:
        pipeline.plan(request(tmp_path, emergency=True))
    assert invalid.value.exit_code == 2
    assert states(estate) == recorded
    plan = pipeline.plan(request(tmp_path, **EMERGENCY))
    assert plan.exit_code == 0, plan.message
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    record = out.manifest["schedule"]
    assert record["scheduled"] is False and record["emergency"] is True
    assert record["reason"] == EMERGENCY["emergency_reason"] and record["scheduled_date"] == "2026-11-04"
    assert states(estate) == recorded


def test_a_host_that_is_not_available_is_refused_by_the_plan_before_any_stop(
    proxied: Any, estate: Any, tmp_path: Path
) -> None:
    ids = ids_by_name(estate)
    web = estate.describe_instances(InstanceIds=[ids["joho-web01"]])["Reservations"][0]["Instances"][0]
    host = web["Placement"]["HostId"]  # the host of joho-web01 and joho-ap01
    recorded = states(estate)
    proxied.host_states[host] = "under-assessment"  # DescribeHosts now reports the host as not available
    plan = pipeline.plan(request(tmp_path))
    assert plan.exit_code == 2, plan.message
    assert f"{host} (sandbox-dh) is under-assessment, not available" in plan.message
    assert "nothing was stopped" in plan.message
    assert proxied.calls["StopInstances"] == 0 and proxied.calls["DescribeHosts"] >= 1
    assert states(estate) == recorded
    with pytest.raises(PolicyRefused, match="only a successful plan"):
        pipeline.apply(approved(plan.run_id))
    assert states(estate) == recorded


def test_a_host_that_becomes_unavailable_after_the_plan_is_refused_by_the_apply_before_any_stop(
    proxied: Any, estate: Any, tmp_path: Path
) -> None:
    ids = ids_by_name(estate)
    db = estate.describe_instances(InstanceIds=[ids["joho-db01"]])["Reservations"][0]["Instances"][0]
    host = db["Placement"]["HostId"]  # the second host: the first would be cycled before it
    recorded = states(estate)
    plan = pipeline.plan(request(tmp_path))
    assert plan.exit_code == 0, plan.message
    proxied.host_states[host] = "permanent-failure"
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 2, out.message
    assert f"{host} (sandbox-dh) is permanent-failure, not available" in out.message
    assert proxied.calls["StopInstances"] == 0
    assert states(estate) == recorded


def test_an_instance_ec2_would_not_stop_is_refused_by_the_plan_before_any_stop(
    proxied: Any, estate: Any, tmp_path: Path
) -> None:
    ids = ids_by_name(estate)
    guarded = ids["joho-ap01"]  # on the first host, with joho-web01
    recorded = states(estate)
    estate.modify_instance_attribute(InstanceId=guarded, DisableApiStop={"Value": True})
    try:
        plan = pipeline.plan(request(tmp_path))
        assert plan.exit_code == 2, plan.message
        assert f"{guarded} (joho-ap01) has stop protection on (attribute disableApiStop)" in plan.message
        assert "nothing was stopped" in plan.message and ids["joho-web01"] not in plan.message
        assert proxied.calls["StopInstances"] == 0 and proxied.calls["DescribeInstanceAttribute"] >= 2
        assert states(estate) == recorded
        with pytest.raises(PolicyRefused, match="only a successful plan"):
            pipeline.apply(approved(plan.run_id))
        assert states(estate) == recorded
    finally:
        estate.modify_instance_attribute(InstanceId=guarded, DisableApiStop={"Value": False})
    plan = pipeline.plan(request(tmp_path))
    assert plan.exit_code == 0, plan.message  # stop protection off again: the same plan passes
