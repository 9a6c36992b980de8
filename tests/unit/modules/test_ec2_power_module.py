"""library/ec2_power.py: the decision table (which call for which current state) and the steps, on a stub EC2."""

from __future__ import annotations

from typing import Any

import pytest

from library import ec2_power
from tests.support.ec2_stub import Exited, FakeModule, StubEc2, instance

POWER_PARAMS = {"wait": True, "wait_timeout": 5, "poll_interval": 0, "status_checks": True, "reboot_settle": 0,
                "expected_states": None}


@pytest.mark.parametrize(
    "target, current, action",
    [
        ("stopped", "running", "stop"),
        ("stopped", "pending", "stop"),
        ("stopped", "stopped", "none"),
        ("stopped", "stopping", "none"),
        ("running", "stopped", "start"),
        ("running", "running", "none"),
        ("running", "pending", "none"),
        ("rebooted", "running", "reboot"),
        ("rebooted", "pending", "reboot"),
    ],
)
def test_actions(target: str, current: str, action: str) -> None:
    assert ec2_power.decide(target, current) == (action, None)


@pytest.mark.parametrize(
    "target, current, needle",
    [
        ("running", "terminated", "is terminated"),
        ("stopped", "shutting-down", "is shutting-down"),
        ("running", "stopping", "start it once it is stopped"),
        ("rebooted", "stopped", "needs a running instance"),
    ],
)
def test_refusals(target: str, current: str, needle: str) -> None:
    action, error = ec2_power.decide(target, current)
    assert action is None and needle in error


def _power(ec2: StubEc2, state: str, check_mode: bool = True, **params: Any) -> ec2_power.Ec2Power:
    module = FakeModule(dict(POWER_PARAMS, instance_ids=sorted(ec2.instances), state=state, **params), check_mode)
    return ec2_power.Ec2Power(module, ec2=ec2)


def test_plan_refuses_a_stop_that_ec2_would_refuse_and_reads_only_the_instances_to_stop() -> None:
    ec2 = StubEc2([instance("i-1", name="web01"), instance("i-2", name="ap01"), instance("i-3", "stopped")],
                  protected={"i-2"})
    power = _power(ec2, "stopped")
    power.read()
    with pytest.raises(Exited) as refused:
        power.plan()
    assert refused.value.failed and refused.value.result["msg"].startswith("INVALID INPUT: cannot bring to stopped: ")
    assert "i-2 (ap01) has stop protection on" in refused.value.result["msg"]
    assert "i-1" not in refused.value.result["msg"] and refused.value.result["msg"].endswith("Nothing was changed")
    assert [kw["InstanceId"] for op, kw in ec2.calls if op == "describe_instance_attribute"] == ["i-1", "i-2"]
    assert ec2.count("stop_instances") == 0


def test_a_start_reads_no_stop_attribute_and_the_run_reaches_the_target() -> None:
    ec2 = StubEc2([instance("i-1", "stopped"), instance("i-2")])
    power = _power(ec2, "running", check_mode=False)
    power.read()
    power.plan()
    assert power.actions == {"i-1": "start", "i-2": "none"} and power.predicted() == {"i-1": "running",
                                                                                          "i-2": "running"}
    power.apply()
    power.wait()
    assert power.after == {"i-1": "running", "i-2": "running"} and ec2.count("describe_instance_attribute") == 0
    changes = power.report(power.after)["ops_changes"]
    assert [(c["resource"], c["changed"]) for c in changes] == [("ec2:instance/i-1", True), ("ec2:instance/i-2", False)]


def test_drift_from_the_plan_is_refused_before_any_decision() -> None:
    ec2 = StubEc2([instance("i-1", "stopped")])
    with pytest.raises(Exited, match="DRIFT: the estate changed since the plan: i-1: planned running, now stopped"):
        _power(ec2, "stopped", expected_states={"i-1": "running"}).read()
