"""apply guards: stale, failed, applied plans and the environment lock (exit 4)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import guards

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def _plan(status: str = "planned", hours_ago: float = 1, seconds_ago: int | None = None) -> dict[str, str]:
    age = dt.timedelta(seconds=seconds_ago) if seconds_ago is not None else dt.timedelta(hours=hours_ago)
    ended = (NOW - age).isoformat().replace("+00:00", "Z")
    return {"run_id": "p1", "status": status, "ended_at": ended}


def test_fresh_plan_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh plan passes; the same plan one second past the maximum age, or once applied, is refused."""
    monkeypatch.delenv("OPS_PLAN_MAX_AGE", raising=False)
    limit = guards.plan_max_age_s()
    assert limit == guards.DEFAULT_PLAN_MAX_AGE_S == 86400
    fresh = _plan()
    assert guards.check_plan(fresh, NOW, []) is None
    assert fresh == _plan()                                               # the manifest is only read
    assert guards.check_plan(_plan(seconds_ago=limit), NOW, []) is None   # exactly the maximum age: still good
    with pytest.raises(PolicyRefused, match=r"plan p1 is stale: made 86401 s ago, the limit is 86400 s") as e:
        guards.check_plan(_plan(seconds_ago=limit + 1), NOW, [])
    assert e.value.exit_code == 4
    with pytest.raises(PolicyRefused, match=r"plan p1 was already applied by a1 \(applied\)") as e:
        guards.check_plan(fresh, NOW, [{"run_id": "a1", "status": "applied"}])
    assert e.value.exit_code == 4


@pytest.mark.parametrize("plan, applies, needle", [
    (_plan(status="invalid"), [], "ended 'invalid'"),
    (_plan(hours_ago=25), [], "stale"),
    (_plan(), [{"run_id": "a1", "status": "applied"}], "already applied by a1"),
])
def test_refusals(plan: dict[str, str], applies: list[dict[str, str]], needle: str) -> None:
    with pytest.raises(PolicyRefused, match=needle) as e:
        guards.check_plan(plan, NOW, applies)
    assert e.value.exit_code == 4


def test_max_age_is_the_reviewed_one_and_never_grows_after_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_PLAN_MAX_AGE", raising=False)
    six = _plan(hours_ago=6)
    guards.check_plan(six, NOW, [], max_age_s=7 * 3600)
    with pytest.raises(PolicyRefused, match=r"the limit is 3600 s \(plan_max_age_s in policy/change.yml\)"):
        guards.check_plan(six, NOW, [], max_age_s=3600)
    # the plan recorded 5 h: a policy raised to 2 days since does not make it good for longer
    with pytest.raises(PolicyRefused, match="the limit is 18000 s"):
        guards.check_plan({**six, "plan_max_age_s": 5 * 3600}, NOW, [], max_age_s=48 * 3600)


def test_max_age_override_counts_in_the_sandbox_only_and_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_PLAN_MAX_AGE", "60")
    with pytest.raises(PolicyRefused, match=r"the limit is 60 s \(OPS_PLAN_MAX_AGE\)"):
        guards.check_plan({**_plan(hours_ago=0.1), "environment": "sandbox"}, NOW, [])
    assert guards.max_age_override("sandbox") == ["OPS_PLAN_MAX_AGE=60"] and guards.max_age_override("prod") == []
    monkeypatch.setenv("OPS_PLAN_MAX_AGE", "999999")  # a larger age elsewhere: refused, whatever the plan's age
    for env in ("prod", None):
        with pytest.raises(PolicyRefused, match="OPS_PLAN_MAX_AGE=999999: the maximum age of a plan is the reviewed"):
            guards.check_plan({**_plan(hours_ago=0.1), "environment": env}, NOW, [])
    monkeypatch.setenv("OPS_PLAN_MAX_AGE", "soon")
    with pytest.raises(InvalidInput, match="OPS_PLAN_MAX_AGE"):
        guards.check_plan({**_plan(), "environment": "sandbox"}, NOW, [])


def test_environment_lock_waits_for_its_holder_then_names_it(tmp_path: Path) -> None:
    """Taken with a timeout: a holder that lets go within it lets the waiter in; one that does not is named."""
    import threading

    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with guards.environment_lock(tmp_path, "prod", "run-1 (pid 1)", wait_s=0):
            entered.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    assert entered.wait(30)
    with pytest.raises(PolicyRefused, match=r"locked by run-1 \(pid 1\) \(waited 0.2 s, OPS_LOCK_WAIT\)"):
        with guards.environment_lock(tmp_path, "prod", "run-2", wait_s=0.2):
            pass
    release.set()
    with guards.environment_lock(tmp_path, "prod", "run-3", wait_s=30) as waited:
        assert waited < 30
    t.join()


def test_environment_lock_is_exclusive(tmp_path: Path) -> None:
    with guards.environment_lock(tmp_path, "prod", "run-1 (pid 1)"):
        with pytest.raises(PolicyRefused, match=r"environment prod is locked by run-1 \(pid 1\)"):
            with guards.environment_lock(tmp_path, "prod", "run-2", wait_s=0):
                pass
        with guards.environment_lock(tmp_path, "dr", "run-3"):
            pass
    with guards.environment_lock(tmp_path, "prod", "run-4"):
        pass
