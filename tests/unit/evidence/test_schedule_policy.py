"""The schedule guard of plan/apply (CORE-049): guards.today, guards.scheduled_day, guards.check_schedule, and
its hook in operations (no ansible)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.cli import main
from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import guards
from ops_driver.records import schedule
from ops_driver.run import pipeline
from ops_driver.run.runner import RunResult

NAME = "dedicated_host_reboot"
CALM = {"emergency": False, "emergency_reason": ""}
# 2026 (schedule/rules.yml): prod 05-09 (2nd Saturday), dr 05-16, maint 05-02, sandbox 05-07 (05-06 is 振替休日)


@pytest.fixture
def sdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "schedule"
    schedule.save(schedule.generate(2026, schedule.load_rules()), d / "2026.yml")
    monkeypatch.setenv("OPS_SCHEDULE_DIR", str(d))
    return d


def test_scheduled_day(tmp_path: Path) -> None:
    schedule.save(schedule.generate(2026, schedule.load_rules()), tmp_path / "2026.yml")
    assert guards.scheduled_day("prod", dt.date(2026, 5, 9), tmp_path) == (True, dt.date(2026, 5, 9))
    assert guards.scheduled_day("dr", dt.date(2026, 5, 9), tmp_path) == (False, dt.date(2026, 5, 16))
    with pytest.raises(schedule.ScheduleError, match="not 'other'"):
        guards.scheduled_day("dr", dt.date(2026, 5, 9), tmp_path, name="other")
    with pytest.raises(schedule.ScheduleMissing):
        guards.scheduled_day("dr", dt.date(2027, 5, 9), tmp_path)


def test_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-05-09")
    assert guards.today() == (dt.date(2026, 5, 9), True)
    monkeypatch.setenv("OPS_TODAY", "9 May")
    with pytest.raises(InvalidInput, match="OPS_TODAY: '9 May' is not a date") as e:
        guards.today()
    assert e.value.exit_code == 2
    monkeypatch.delenv("OPS_TODAY")
    before = dt.datetime.now(guards.JST).date()
    day, overridden = guards.today()
    assert not overridden and before <= day <= dt.datetime.now(guards.JST).date()
    assert guards.JST.utcoffset(None) == dt.timedelta(hours=9)


def test_not_a_scheduled_task(sdir: Path) -> None:
    assert guards.check_schedule(None, "prod", CALM) is None


def test_on_the_scheduled_day(sdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-05-09")
    rec = guards.check_schedule(NAME, "prod", CALM)
    assert rec is not None
    assert {k: rec[k] for k in ("scheduled", "scheduled_date", "today", "today_source", "today_overridden",
                                "emergency", "reason")} == {
        "scheduled": True, "scheduled_date": "2026-05-09", "today": "2026-05-09", "today_source": "OPS_TODAY",
        "today_overridden": True, "emergency": False, "reason": None}
    assert rec["file"] == str(sdir / "2026.yml") and len(rec["file_sha256"]) == 64
    assert guards.schedule_warnings(rec) == ["the date 2026-05-09 was set by OPS_TODAY, not read from the clock"]


@pytest.mark.parametrize("env, day", [("dr", "2026-05-16"), ("maint", "2026-05-02"), ("sandbox", "2026-05-07")])
def test_every_environment_has_its_day(sdir: Path, env: str, day: str) -> None:
    rec = guards.check_schedule(NAME, env, CALM, today=dt.date.fromisoformat(day))
    assert rec is not None and rec["scheduled"] is True and rec["today_source"] == "argument"
    with pytest.raises(PolicyRefused):
        guards.check_schedule(NAME, env, CALM, today=dt.date(2026, 5, 9) if env != "prod" else dt.date(2026, 5, 1))


def test_off_day_is_refused_naming_this_months_date(sdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-05-10")
    with pytest.raises(PolicyRefused, match=r"today \(2026-05-10, OPS_TODAY\) is not the scheduled day: this "
                                            r"month's scheduled day for prod is 2026-05-09 \(Sat\)") as e:
        guards.check_schedule(NAME, "prod", CALM)
    assert e.value.exit_code == 4 and "emergency: true and emergency_reason" in str(e.value)


def test_emergency_with_a_reason_runs_and_is_recorded(sdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-05-12")
    rec = guards.check_schedule(NAME, "prod", {"emergency": True, "emergency_reason": " host degraded (AWS event) "})
    assert rec is not None
    assert (rec["scheduled"], rec["scheduled_date"], rec["emergency"], rec["reason"]) == (
        False, "2026-05-09", True, "host degraded (AWS event)")
    assert guards.schedule_warnings(rec)[0] == ("EMERGENCY run outside the schedule dedicated_host_reboot "
                                                "(scheduled day 2026-05-09): host degraded (AWS event)")


@pytest.mark.parametrize("reason", ["", "   ", None])
@pytest.mark.parametrize("day", ["2026-05-09", "2026-05-12"])
def test_emergency_without_a_reason_is_invalid(sdir: Path, monkeypatch: pytest.MonkeyPatch, reason: str | None,
                                               day: str) -> None:
    monkeypatch.setenv("OPS_TODAY", day)
    with pytest.raises(InvalidInput, match=r"params\.emergency_reason: missing or empty") as e:
        guards.check_schedule(NAME, "prod", {"emergency": True, "emergency_reason": reason})
    assert e.value.exit_code == 2


def test_missing_or_broken_schedule_is_refused(sdir: Path) -> None:
    with pytest.raises(PolicyRefused, match=r"no schedule for 2031 .*`ops-driver schedule generate --year 2031`"):
        guards.check_schedule(NAME, "prod", {"emergency": True, "emergency_reason": "x"}, today=dt.date(2031, 1, 11))
    (sdir / "2026.yml").write_text("schedule: [\n")
    with pytest.raises(PolicyRefused, match=r"not valid YAML.*ops-driver schedule check --year 2026") as e:
        guards.check_schedule(NAME, "prod", CALM, today=dt.date(2026, 5, 9))
    assert e.value.exit_code == 4
    with pytest.raises(PolicyRefused, match="is the schedule 'dedicated_host_reboot', not 'other'"):
        schedule.save(schedule.generate(2026, schedule.load_rules()), sdir / "2026.yml")
        guards.check_schedule("other", "prod", CALM, today=dt.date(2026, 5, 9))


def test_the_clock_is_tokyos(sdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_TODAY", raising=False)
    monkeypatch.setattr(guards, "today", lambda: (dt.date(2026, 5, 9), False))
    rec = guards.check_schedule(NAME, "prod", CALM)
    assert rec is not None and rec["today_source"] == "clock (Asia/Tokyo)" and rec["today_overridden"] is False
    assert guards.schedule_warnings(rec) == []


def test_bad_ops_today_is_invalid_input(sdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-13-01")
    with pytest.raises(InvalidInput, match="OPS_TODAY: '2026-13-01' is not a date"):
        guards.check_schedule(NAME, "prod", CALM)


# ---------------------------------------------------------------- the hook in plan and apply (ansible faked)

def _request(tmp_path: Path, **params: Any) -> Path:
    path = tmp_path / "core-049.yml"
    path.write_text(yaml.safe_dump({"task": "CORE-049", "environment": "prod", "ticket": "REQ-2026-0509-001",
                                    "requested_by": "sato", "reason": "monthly Dedicated Host reboot",
                                    "params": params}))
    return path


@pytest.fixture
def fake_ansible(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def run(playbook: Path, inventory: Path, extravars: dict[str, Any], check: bool, progress: Any = None,
            timeout_s: int | None = None, **streaming: Any) -> RunResult:
        calls.append({"playbook": playbook, "check": check, "extravars": extravars})
        return RunResult(status="successful", rc=0, events=[], stdout="", artifacts={})

    monkeypatch.setattr(pipeline, "run_playbook", run)
    return calls


def test_plan_off_day_runs_nothing(sdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   fake_ansible: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-05-10")
    assert main(["plan", "--json", str(_request(tmp_path))]) == 4
    out = capsys.readouterr()
    assert json.loads(out.out)["exit_code"] == 4 and "2026-05-09" in out.err
    assert main(["plan", str(_request(tmp_path, emergency=True))]) == 2
    assert "emergency_reason" in capsys.readouterr().err
    assert fake_ansible == [] and _store_untouched()


def test_plan_and_apply_record_the_schedule(sdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            fake_ansible: list[dict[str, Any]], signers: Any) -> None:
    from ops_driver.evidence import governance
    from ops_driver.paths import evidence_dir

    req = _request(tmp_path)
    monkeypatch.setenv("OPS_TODAY", "2026-05-09")
    out = pipeline.plan(req)
    assert out.exit_code == 0 and out.manifest["schedule"]["scheduled"] is True
    assert out.manifest["change_class_floor"] == "minor"  # a prod change (policy/change.yml class_floor)
    governance.approve(out.run_id, "yamada", "reviewed", evidence_dir(), key=signers.key("yamada"))
    assert "OPS_TODAY" in (out.path / "report.md").read_text()
    monkeypatch.setenv("OPS_TODAY", "2026-05-10")   # the next day: apply is judged again and refused
    with pytest.raises(PolicyRefused, match="scheduled day for prod is 2026-05-09"):
        pipeline.apply(out.run_id)
    assert len(fake_ansible) == 1
    monkeypatch.setenv("OPS_TODAY", "2026-05-09")
    done = pipeline.apply(out.run_id)
    assert done.exit_code == 0 and done.manifest["schedule"]["scheduled_date"] == "2026-05-09"
    assert json.loads((done.path / "manifest.json").read_text())["schedule"]["today_overridden"] is True


def test_emergency_plan_is_recorded(sdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    fake_ansible: list[dict[str, Any]]) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-05-12")
    out = pipeline.plan(_request(tmp_path, emergency=True, emergency_reason="retirement notice for the host"))
    rec = json.loads((out.path / "manifest.json").read_text())["schedule"]
    assert {k: rec[k] for k in ("scheduled", "scheduled_date", "emergency", "reason")} == {
        "scheduled": False, "scheduled_date": "2026-05-09", "emergency": True,
        "reason": "retirement notice for the host"}
    report = (out.path / "report.md").read_text()
    assert "**EMERGENCY** (not the scheduled day)" in report and "EMERGENCY run outside the schedule" in report


def _store_untouched() -> bool:
    """Nothing run: the test's evidence store holds only its empty ledger (no bundle, no ledger line)."""
    base = Path(os.environ["OPS_EVIDENCE_DIR"])
    return [f.name for f in base.iterdir()] == ["ledger.jsonl"] and (base / "ledger.jsonl").stat().st_size == 0


def test_core_049_may_be_planned_ahead_for_its_scheduled_day(sdir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             fake_ansible: list[dict[str, Any]], signers: Any) -> None:
    """The daytime change board plans the monthly reboot the day before, for a window on the scheduled day
    (2026-05-09 for prod); the apply runs in that window, judged against the window's day."""
    from ops_driver.evidence import bundles, governance, window
    from ops_driver.paths import evidence_dir

    monkeypatch.delenv("OPS_TODAY", raising=False)
    day_before = dt.datetime(2026, 5, 8, 5, 0, tzinfo=dt.UTC)  # 14:00 JST on the 8th
    monkeypatch.setattr(bundles, "utc_now", lambda: day_before)
    with pytest.raises(PolicyRefused, match=r"is not the scheduled day"):
        pipeline.plan(_request(tmp_path))  # without a window: judged today (the clock), refused
    out = pipeline.plan(_request(tmp_path), window_text="2026-05-09T02:00+09:00/PT2H")
    sched = out.manifest["schedule"]
    assert out.exit_code == 0 and sched["scheduled"] is True and sched["today"] == "2026-05-09"
    assert sched["today_source"] == "maintenance window" and sched["today_overridden"] is False
    assert "maintenance window" in (out.path / "report.md").read_text()
    governance.approve(out.run_id, "yamada", "change board", evidence_dir(), key=signers.key("yamada"))
    start = dt.datetime(2026, 5, 8, 17, 0, tzinfo=dt.UTC)
    with pytest.raises(PolicyRefused, match="it opens in 1 min"):
        pipeline.apply(out.run_id, clock=window.Clock(now=lambda: start - dt.timedelta(minutes=1)))
    monkeypatch.setattr(bundles, "utc_now", lambda: start)
    done = pipeline.apply(out.run_id, clock=window.Clock(now=lambda: start))
    assert done.exit_code == 0 and done.manifest["schedule"]["today"] == "2026-05-09"
    assert done.manifest["window"]["start_jst"] == "2026-05-09T02:00+09:00"
    assert [c["check"] for c in fake_ansible] == [True, False]
