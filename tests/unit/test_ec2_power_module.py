"""library/ec2_power.py: the decision table (which call for which current state)."""

from __future__ import annotations

import pytest

from library import ec2_power


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


def test_batches_of_100() -> None:
    assert [len(c) for c in ec2_power.chunks(list(range(250)))] == [100, 100, 50]
