"""module_utils/ops_wait.py: the one poll loop - done, failed, confirmed, settle, deadline and the timeout error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ansible.module_utils.ops_wait import Waiter, WaitTimeout, wait_for


def _clock() -> tuple[dict[str, float], Callable[[float], None], Callable[[], float]]:
    t = {"t": 0.0}
    return t, lambda s: t.__setitem__("t", t["t"] + s), lambda: t["t"]


def _answers(*polls: dict[str, str]) -> Callable[[list[str]], dict[str, str]]:
    seq: Iterator[dict[str, str]] = iter(polls)
    return lambda ids: next(seq)


def test_stops_at_done_or_failed() -> None:
    t, sleep, clock = _clock()
    waiter = Waiter("available", _answers({"a": "pending", "b": "pending"}, {"a": "available", "b": "failed"}),
                    lambda s: s == "available", failed=lambda s: s == "failed", interval_s=5, timeout_s=100)
    states, failures = wait_for(waiter, ["a", "b"], sleep=sleep, clock=clock)
    assert (failures, states["a"]) == (["b"], "available") and t["t"] == 5


def test_the_deadline_raises_one_timeout_with_what_it_last_saw() -> None:
    t, sleep, clock = _clock()
    waiter = Waiter("available", lambda ids: {"a": "pending"}, lambda s: s == "available", interval_s=5, timeout_s=12)
    with pytest.raises(WaitTimeout) as timeout:
        wait_for(waiter, ["a"], sleep=sleep, clock=clock)
    e = timeout.value
    assert e.pending == ["a"] and e.failures == [] and e.states == {"a": "pending"} and t["t"] == 12
    assert e.timeout_s == 12 and e.what == "available" and e.unconfirmed == []
    assert str(e) == "timed out after 12s waiting for available: a is pending"


def test_a_failure_meanwhile_is_in_the_timeout_too() -> None:
    _t, sleep, clock = _clock()
    waiter = Waiter("completed", lambda ids: {"a": "pending", "b": "error"}, lambda s: s == "completed",
                    failed=lambda s: s == "error", interval_s=1, timeout_s=3)
    with pytest.raises(WaitTimeout) as timeout:
        wait_for(waiter, ["a", "b"], sleep=sleep, clock=clock)
    assert timeout.value.pending == ["a"] and timeout.value.failures == ["b"]


def test_confirm_is_asked_only_for_the_ids_done_and_its_refusal_shows_as_unconfirmed() -> None:
    _t, sleep, clock = _clock()
    asked: list[list[str]] = []

    def confirm(ids: list[str]) -> set[str]:
        asked.append(list(ids))
        return {"a"}

    waiter = Waiter("running", lambda ids: {i: "running" if i != "c" else "pending" for i in ids},
                    lambda s: s == "running", confirm=confirm, interval_s=2, timeout_s=4)
    with pytest.raises(WaitTimeout) as timeout:
        wait_for(waiter, ["a", "b", "c"], sleep=sleep, clock=clock)
    assert asked[0] == ["a", "b"] and asked[1:] == [["b"], ["b"]]  # "a" confirmed once, "c" never done
    assert timeout.value.pending == ["b", "c"] and timeout.value.unconfirmed == ["b"]


def test_settle_counts_in_the_timeout_and_states_are_updated_in_place() -> None:
    t, sleep, clock = _clock()
    seen: dict[str, Any] = {"a": "stopped", "z": "kept"}
    waiter = Waiter("running", _answers({"a": "pending"}, {"a": "running"}), lambda s: s == "running",
                    interval_s=5, timeout_s=30, settle_s=20)
    states, failures = wait_for(waiter, ["a"], states=seen, sleep=sleep, clock=clock)
    assert states is seen and seen == {"a": "running", "z": "kept"} and failures == []
    assert t["t"] == 25  # 20 s settle, one interval
    t["t"] = 0.0
    short = Waiter("running", lambda ids: {"a": "pending"}, lambda s: s == "running", interval_s=5, timeout_s=3,
                   settle_s=20)
    with pytest.raises(WaitTimeout):
        wait_for(short, ["a"], sleep=sleep, clock=clock)
    assert t["t"] == 3  # the settle never outlasts the timeout


def test_nothing_to_wait_for_polls_nothing() -> None:
    def describe(ids: list[str]) -> dict[str, str]:
        raise AssertionError("polled")

    assert wait_for(Waiter("x", describe, bool), []) == ({}, [])
