"""module_utils/ops_ec2.py: the instance calls ec2_power and ec2_host_reboot share - act, wait, stop refusals."""

from __future__ import annotations

import pytest
from ansible.module_utils import ops_ec2
from ansible.module_utils.ops_wait import WaitTimeout, wait_for

from tests.support.ec2_stub import Exited, FakeModule, StubEc2, instance

PARAMS = {"wait_timeout": 5, "poll_interval": 0}


def _instances(ec2: StubEc2) -> ops_ec2.Ec2Instances:
    return ops_ec2.Ec2Instances(FakeModule(PARAMS), ec2=ec2)


def test_act_sends_one_call_per_100_sorted() -> None:
    ids = [f"i-{n:03d}" for n in range(150)]
    ec2 = StubEc2([instance(i) for i in ids])
    _instances(ec2).act("stop", reversed(ids))
    assert [kw["InstanceIds"] for op, kw in ec2.calls if op == "stop_instances"] == [ids[:100], ids[100:]]
    assert {ec2.instances[i]["State"]["Name"] for i in ids} == {"stopped"}
    _instances(ec2).act("start", ids[:1])
    _instances(ec2).act("reboot", ids[:1])
    assert [op for op, _kw in ec2.calls[-2:]] == ["start_instances", "reboot_instances"]


def test_describe_and_states_leave_out_what_ec2_does_not_list() -> None:
    ec2 = StubEc2([instance("i-1"), instance("i-2", "stopped")])
    assert _instances(ec2).states(["i-2", "i-1", "i-9"]) == {"i-1": "running", "i-2": "stopped"}


def test_the_waiter_waits_for_the_state_and_the_status_checks() -> None:
    ec2 = StubEc2([instance("i-1"), instance("i-2")], failing_checks={"i-2"})
    inst = _instances(ec2)
    now = {"t": 0.0}
    with pytest.raises(WaitTimeout) as timeout:
        wait_for(inst.waiter("running", checks=True), ["i-1", "i-2"],
                 sleep=lambda s: now.__setitem__("t", now["t"] + max(s, 1)), clock=lambda: now["t"])
    assert timeout.value.pending == ["i-2"] and timeout.value.unconfirmed == ["i-2"]
    assert wait_for(inst.waiter("running", checks=False), ["i-1", "i-2"])[1] == []
    waiter = inst.waiter("stopped", checks=False, settle_s=3)
    assert (waiter.interval_s, waiter.timeout_s, waiter.settle_s, waiter.confirm) == (0, 5, 3, None)


def test_check_wait_params() -> None:
    ops_ec2.check_wait_params(FakeModule(PARAMS))
    for bad in ({"wait_timeout": 0, "poll_interval": 0}, {"wait_timeout": 5, "poll_interval": -1}):
        with pytest.raises(Exited, match="INVALID INPUT: wait_timeout must be >= 1"):
            ops_ec2.check_wait_params(FakeModule(bad))


def test_stop_refusal_reasons() -> None:
    assert ops_ec2.stop_refusal(instance("i-1"), False, {}) is None
    assert "has stop protection on (attribute disableApiStop)" in ops_ec2.stop_refusal(instance("i-1"), True, {})
    assert "instance-store root device" in ops_ec2.stop_refusal(instance("i-1", root="instance-store"), False, {})
    spot = instance("i-1", lifecycle="spot", spot_request="sir-1")
    assert ops_ec2.stop_refusal(spot, False, {"sir-1": "persistent"}) is None
    assert "the one-time Spot request sir-1" in ops_ec2.stop_refusal(spot, False, {"sir-1": "one-time"})
    assert "could not be read (sir-1)" in ops_ec2.stop_refusal(spot, False, {})
    assert "(no SpotInstanceRequestId)" in ops_ec2.stop_refusal(instance("i-1", lifecycle="spot"), False, {})


def test_stop_refusals_read_only_what_they_need() -> None:
    found = {i["InstanceId"]: i for i in [
        instance("i-1"), instance("i-2"), instance("i-3", lifecycle="spot", spot_request="sir-p"),
        instance("i-4", lifecycle="spot", spot_request="sir-gone"), instance("i-5", root="instance-store")]}
    ec2 = StubEc2(found.values(), protected={"i-2"}, spot_types={"sir-p": "persistent"})
    refusals = _instances(ec2).stop_refusals(found, ["i-5", "i-4", "i-3", "i-2", "i-1"])
    assert sorted(refusals) == ["i-2", "i-4", "i-5"]
    assert "stop protection" in refusals["i-2"] and "could not be read (sir-gone)" in refusals["i-4"]
    assert [kw["InstanceId"] for op, kw in ec2.calls if op == "describe_instance_attribute"] == [
        "i-1", "i-2", "i-3", "i-4", "i-5"]
    # one unknown request fails the batched call: each request is then asked alone
    assert [kw["SpotInstanceRequestIds"] for op, kw in ec2.calls if op == "describe_spot_instance_requests"] == [
        ["sir-gone", "sir-p"], ["sir-gone"], ["sir-p"]]
    assert _instances(ec2).stop_refusals(found, []) == {}


def test_instance_label() -> None:
    assert ops_ec2.instance_label("i-1", instance("i-1", name="web01")) == "i-1 (web01)"
    assert ops_ec2.instance_label("i-1", instance("i-1")) == "i-1 (no Name tag)"
