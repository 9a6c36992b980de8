"""module_utils/ops_ec2.py: the instance calls ec2_power and ec2_host_reboot share - act, wait, stop refusals."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import pytest
from ansible.module_utils import ops_aws, ops_ec2
from ansible.module_utils.ops_wait import WaitTimeout, wait_for
from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from botocore.exceptions import ClientError

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
    assert sorted(kw["InstanceId"] for op, kw in ec2.calls if op == "describe_instance_attribute") == [
        "i-1", "i-2", "i-3", "i-4", "i-5"]  # concurrent calls: in any order
    # one unknown request fails the batched call: each request is then asked alone
    assert [kw["SpotInstanceRequestIds"] for op, kw in ec2.calls if op == "describe_spot_instance_requests"] == [
        ["sir-gone", "sir-p"], ["sir-gone"], ["sir-p"]]
    assert _instances(ec2).stop_refusals(found, []) == {}


def test_instance_label() -> None:
    assert ops_ec2.instance_label("i-1", instance("i-1", name="web01")) == "i-1 (web01)"
    assert ops_ec2.instance_label("i-1", instance("i-1")) == "i-1 (no Name tag)"


class _ConcurrentEc2(StubEc2):
    """DescribeInstanceAttribute that proves its calls are concurrent and bounded: the first
    ``ops_ec2.PARALLEL_CALLS`` calls wait for one another at a barrier (BrokenBarrierError, so a failed test, unless
    that many are in flight together); ``peak`` is the most calls ever in flight. The first call for each ID in
    ``throttle`` is answered RequestLimitExceeded (as EC2 answers a throttled call), every ID in ``fail`` fails."""

    def __init__(self, instances: Iterable[dict[str, Any]], throttle: Iterable[str] = (), fail: Iterable[str] = (),
                 **kw: Any) -> None:
        super().__init__(instances, **kw)
        self.barrier = threading.Barrier(ops_ec2.PARALLEL_CALLS, timeout=30)
        self.lock = threading.Lock()
        self.started = self.in_flight = self.peak = 0
        self.throttle, self.fail = set(throttle), set(fail)
        self.throttled: list[str] = []

    def describe_instance_attribute(self, **kw: Any) -> dict[str, Any]:
        iid = kw["InstanceId"]
        with self.lock:
            self.started += 1
            at_barrier = self.started <= ops_ec2.PARALLEL_CALLS
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            throttled = iid in self.throttle
            self.throttle.discard(iid)
        try:
            if at_barrier:
                self.barrier.wait()
            if throttled:
                self.throttled.append(iid)
                raise ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}},
                                  "DescribeInstanceAttribute")
            if iid in self.fail:
                raise ClientError({"Error": {"Code": "InvalidInstanceID.NotFound", "Message": iid}},
                                  "DescribeInstanceAttribute")
            return super().describe_instance_attribute(**kw)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_stop_protection_is_read_concurrently_bounded_and_retried_when_throttled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [f"i-{n:03d}" for n in range(40)]
    stub = _ConcurrentEc2([instance(i) for i in ids], throttle={"i-003", "i-017"}, protected={"i-005", "i-031"})
    waits: list[float] = []
    monkeypatch.setattr(cloud.time, "sleep", waits.append)  # the backoff's waits, recorded instead of slept
    # the retrying client as AnsibleAWSModule.client builds it, with the project's retry (ops_aws.ec2_retry)
    ec2 = RetryingBotoClientWrapper(stub, ops_aws.ec2_retry())
    assert ops_ec2.Ec2Instances(FakeModule(PARAMS), ec2=ec2).stop_protected(reversed(ids)) == {"i-005", "i-031"}
    assert stub.peak == ops_ec2.PARALLEL_CALLS  # concurrent (the barrier), never more than the bound
    assert sorted(stub.throttled) == ["i-003", "i-017"] and len(waits) == 2 and all(0 <= w <= 1 for w in waits)
    # every instance answered exactly once (the throttled ones on their retry)
    assert sorted(kw["InstanceId"] for op, kw in stub.calls if op == "describe_instance_attribute") == ids


def test_stop_protection_error_is_raised() -> None:
    ids = [f"i-{n:03d}" for n in range(12)]
    stub = _ConcurrentEc2([instance(i) for i in ids], fail={"i-002"})
    with pytest.raises(ClientError, match=r"InvalidInstanceID\.NotFound"):
        ops_ec2.Ec2Instances(FakeModule(PARAMS), ec2=stub).stop_protected(ids)
    assert "i-002" not in {kw["InstanceId"] for op, kw in stub.calls if op == "describe_instance_attribute"}
