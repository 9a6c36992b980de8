"""library/ec2_host_reboot.py on a stub EC2: the plan per host, the refusals before any stop, the cycle."""

from __future__ import annotations

from typing import Any

import pytest

from library import ec2_host_reboot
from tests.support.ec2_stub import Exited, FakeModule, StubEc2, host, instance

PARAMS = {"environment": "sandbox", "host_tag_key": "Environment", "mode": "stop-start", "order": ["web", "ap", "db"],
          "wait_timeout": 5, "poll_interval": 0, "expected": None, "ticket": "REQ-1"}


def _estate(**stub: Any) -> StubEc2:
    """Host h-1 runs web01 and ap01, host h-2 runs db01 (stopped); h-9 is another environment's."""
    return StubEc2([instance("i-web", host="h-1", name="web01", role="web"),
                    instance("i-ap", host="h-1", name="ap01", role="ap"),
                    instance("i-db", "stopped", host="h-2", name="db01", role="db"),
                    instance("i-other", host="h-9", name="other01", role="web")],
                   [host("h-1"), host("h-2"), host("h-9", environment="prod")], **stub)


def _planned(ec2: StubEc2, check_mode: bool = True, **params: Any) -> ec2_host_reboot.HostReboot:
    hr = ec2_host_reboot.HostReboot(FakeModule(dict(PARAMS, **params), check_mode), ec2=ec2)
    hr.read()
    hr.plan()
    return hr


def test_stop_start_refuses_in_the_plan_an_instance_ec2_would_not_stop() -> None:
    ec2 = _estate(protected={"i-ap"})
    with pytest.raises(Exited) as refused:
        _planned(ec2)
    msg = refused.value.result["msg"]
    assert refused.value.failed and msg.startswith("INVALID INPUT: environment: the stop-start of the Dedicated "
                                                   "Hosts of sandbox would stop instances that EC2 refuses to stop")
    assert "nothing was stopped: i-ap (ap01) has stop protection on (attribute disableApiStop)" in msg
    assert "i-web" not in msg and "i-db" not in msg
    # only the running instances to cycle are asked (not the stopped db01, not another environment's)
    assert sorted(kw["InstanceId"] for op, kw in ec2.calls if op == "describe_instance_attribute") == ["i-ap", "i-web"]
    assert ec2.count("stop_instances") == 0
    assert {c["name"]: c["changed"] for c in refused.value.result["ops_changes"]} == {
        "web01": True, "ap01": True, "db01": False}


@pytest.mark.parametrize("kind", ["one-time spot", "instance-store"])
def test_the_apply_refuses_the_same_before_any_stop(kind: str) -> None:
    ec2 = _estate()
    if kind == "one-time spot":
        ec2.instances["i-web"].update(InstanceLifecycle="spot", SpotInstanceRequestId="sir-1")
        ec2.spot_types["sir-1"] = "one-time"
        needle = "i-web (web01) is a Spot Instance of the one-time Spot request sir-1"
    else:
        ec2.instances["i-web"]["RootDeviceType"] = "instance-store"
        needle = "i-web (web01) has an instance-store root device"
    with pytest.raises(Exited, match="INVALID INPUT: environment: ") as refused:
        _planned(ec2, check_mode=False)
    assert needle in refused.value.result["msg"]
    assert ec2.count("stop_instances") == 0 and ec2.count("start_instances") == 0


def test_mode_reboot_stops_nothing_so_nothing_is_refused() -> None:
    ec2 = _estate(protected={"i-ap"})
    hr = _planned(ec2, mode="reboot")
    assert hr.cycled == {"i-web", "i-ap"} and ec2.count("describe_instance_attribute") == 0
    assert hr.sequence == ["h-1: reboot web: web01 (i-web)", "h-1: reboot ap: ap01 (i-ap)",
                           "h-2: db01 (i-db) stays stopped"]


def test_a_host_done_for_the_ticket_is_not_asked_again() -> None:
    ec2 = _estate(protected={"i-ap"})
    ec2.hosts[0]["Tags"].append({"Key": "OpsLastReboot", "Value": "REQ-1"})
    hr = _planned(ec2)
    assert hr.cycled == set() and ec2.count("describe_instance_attribute") == 0
    assert hr.sequence[0] == "h-1: already done for REQ-1 (tag OpsLastReboot) - nothing to do"


def test_a_host_not_available_is_refused_first() -> None:
    ec2 = _estate(protected={"i-ap"})
    ec2.hosts[0]["State"] = "under-assessment"
    with pytest.raises(Exited, match=r"h-1 \(sandbox-dh\) is under-assessment, not available"):
        _planned(ec2)
    assert ec2.count("describe_instance_attribute") == 0


def test_the_cycle_stops_in_order_starts_backwards_and_tags_the_host() -> None:
    ec2 = _estate()
    hr = _planned(ec2, check_mode=False)
    assert hr.cycle() is None
    acted = [(op, kw["InstanceIds"]) for op, kw in ec2.calls if op.endswith("_instances") and "InstanceIds" in kw
             and not op.startswith("describe")]
    assert acted == [("stop_instances", ["i-web"]), ("stop_instances", ["i-ap"]), ("start_instances", ["i-ap"]),
                     ("start_instances", ["i-web"])]
    assert hr.after == {"i-web": "running", "i-ap": "running", "i-db": "stopped"} and hr.begun == ["h-1", "h-2"]
    # h-2's only step is the host check (db01 stays stopped): it is done for the ticket too
    assert [kw["Resources"] for op, kw in ec2.calls if op == "create_tags"] == [["h-1"], ["h-2"]]


def test_a_group_that_never_passes_its_checks_is_recovered_and_named() -> None:
    ec2 = _estate(failing_checks={"i-ap"})
    hr = _planned(ec2, check_mode=False, wait_timeout=1)
    failure = hr.cycle()
    assert failure is not None and failure.startswith("start of ap timed out after 1s: i-ap is running")
    with pytest.raises(Exited) as failed:
        hr.recover(failure)
    assert failed.value.failed and failed.value.result["changed"] is True
    assert [(n["id"], n["recorded"]) for n in failed.value.result["not_back"]] == [("i-ap", "running")]
    assert "Not back in their recorded state: i-ap (ap01) is running, was running" in failed.value.result["msg"]
