"""Due tasks on the Japanese business-day calendar (ops_driver/records/due.py): the catalog's rules on known dates."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from ops_driver.catalog import Automation, Catalog, Task, load_catalog
from ops_driver.cli import main
from ops_driver.errors import InvalidInput
from ops_driver.records import due

CATALOG = load_catalog()
D = dt.date


def task(task_id: str, cycle: str, timing: dict[str, Any] | None = None, schedule: str | None = None) -> Task:
    raw: dict[str, Any] = {"id": task_id, **({"timing": timing} if timing else {})}
    automation = Automation(playbook="playbooks/x.yml", tags=[task_id], change_class="standard", params=[],
                            schedule=schedule) if schedule else None
    return Task(id=task_id, area="TEST", category="test", name_ja=f"{task_id} 作業", name_en=task_id, summary_ja="",
                cycle=cycle, cycle_ja="", raw=raw, automation=automation)


def days_of(t: Task, year: int, month: int, **kw: Any) -> list[dt.date]:
    return [d for o in due.occurrences(t, year, month, **kw) for d in o.days]


# ---------------------------------------------------------------- arguments

@pytest.mark.parametrize("text", ["2026-11", "2027-01", "2099-12"])
def test_a_month_is_yyyy_mm(text: str) -> None:
    assert due.parse_month(text) == (int(text[:4]), int(text[5:]))


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "november", "", None,
                                  "2026-11-01"])
def test_a_month_that_is_not_yyyy_mm_is_invalid_input_naming_the_option(text: str | None) -> None:
    with pytest.raises(InvalidInput, match=r"--month: .* is not a month; write YYYY-MM"):
        due.parse_month(text)


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "2026-11-1", "20261102", "tomorrow", "", None])
def test_a_date_that_is_not_a_date_is_invalid_input_naming_the_option(text: str | None) -> None:
    with pytest.raises(InvalidInput, match=r"--date: .* is not a date; write YYYY-MM-DD"):
        due.parse_date(text)


def test_ordinals() -> None:
    assert [due.ordinal(n) for n in (1, 2, 3, 4, 10, 11, 12, 13, 21, 22, 23)] == [
        "1st", "2nd", "3rd", "4th", "10th", "11th", "12th", "13th", "21st", "22nd", "23rd"]


# ---------------------------------------------------------------- the rules on known dates

def test_first_business_day_of_january_2027_follows_new_year_holidays() -> None:
    # 2027-01-01 is 元日 (a Friday), 01-02/03 a weekend inside 年末年始 (12-29 … 01-03): the 4th, a Monday.
    stat013 = CATALOG.get("STAT-013")
    [o] = due.occurrences(stat013, 2027, 1)
    assert o.days == (D(2027, 1, 4),) and o.until == D(2027, 1, 4) and o.why == "1st business day"


def test_golden_week_2027_moves_the_first_business_day_of_may_to_the_6th() -> None:
    # 05-01 Saturday, 05-03 憲法記念日, 05-04 みどりの日, 05-05 こどもの日
    assert days_of(CATALOG.get("STAT-013"), 2027, 5) == [D(2027, 5, 6)]
    assert D(2027, 5, 4) not in days_of(CATALOG.get("STAT-001"), 2027, 5)


def test_last_business_day_of_a_month_ending_on_a_substitute_holiday() -> None:
    # 2029-04-29 昭和の日 is a Sunday, so Monday 04-30 is 振替休日: the last business day is Friday the 27th.
    [o] = due.occurrences(CATALOG.get("STAT-008"), 2029, 4)
    assert o.days == (D(2029, 4, 27),) and o.why == "last business day"


def test_last_business_day_of_december_is_before_the_year_end_closure() -> None:
    assert days_of(CATALOG.get("STAT-008"), 2026, 12) == [D(2026, 12, 28)]


def test_nth_business_day_and_a_window_of_business_days_in_november_2026() -> None:
    # 11-03 文化の日 (Tuesday): the 6th business day is the 10th; the 9th and 10th are Friday 13th and Monday 16th.
    assert days_of(CATALOG.get("STAT-003"), 2026, 11) == [D(2026, 11, 10)]
    [o] = due.occurrences(CATALOG.get("STAT-004"), 2026, 11)
    assert o.days == (D(2026, 11, 13), D(2026, 11, 16)) and o.until == D(2026, 11, 16)
    assert o.why == "9th to 10th business day"


def test_daily_is_every_business_day_and_continuous_is_every_day() -> None:
    stat001 = days_of(CATALOG.get("STAT-001"), 2026, 9)
    assert D(2026, 9, 21) not in stat001 and D(2026, 9, 22) not in stat001  # 敬老の日, 国民の休日
    assert D(2026, 9, 23) not in stat001 and D(2026, 9, 24) in stat001  # 秋分の日
    assert len(stat001) == 19
    monitoring = days_of(CATALOG.get("COMM-010"), 2026, 9)
    assert monitoring == [D(2026, 9, d) for d in range(1, 31)]


def test_weekly_without_a_weekday_is_the_first_business_day_of_each_week() -> None:
    # Monday 11-23 is 勤労感謝の日: that week's is Tuesday 11-24; the week of Monday 11-30 belongs to November.
    weekly = due.occurrences(CATALOG.get("CORE-068"), 2026, 11)
    assert [o.day for o in weekly] == [D(2026, 11, 2), D(2026, 11, 9), D(2026, 11, 16), D(2026, 11, 24),
                                       D(2026, 11, 30)]
    assert weekly[-1].until == D(2026, 12, 6)  # on time until that week's Sunday
    assert next(o.day for o in due.occurrences(CATALOG.get("CORE-068"), 2026, 12)) == D(2026, 12, 7)


def test_a_week_without_a_business_day_has_no_weekly_occurrence() -> None:
    # 2025-12-29 (Monday) … 2026-01-04 (Sunday): 年末年始 to the 3rd, then a Sunday.
    assert D(2025, 12, 29) not in days_of(CATALOG.get("CORE-068"), 2025, 12)
    assert next(o.day for o in due.occurrences(CATALOG.get("CORE-068"), 2026, 1)) == D(2026, 1, 5)


def test_weekly_on_a_weekday_moves_to_the_next_business_day_of_the_week() -> None:
    friday = task("T-W", "weekly", {"weekday": "friday"})
    got = due.occurrences(friday, 2026, 5)
    assert [o.day for o in got] == [D(2026, 5, 1), D(2026, 5, 8), D(2026, 5, 15), D(2026, 5, 22), D(2026, 5, 29)]
    monday = task("T-M", "weekly", {"weekday": "monday"})
    # 2026-05-04 (Monday) みどりの日, 05-05 こどもの日, 05-06 振替休日 (憲法記念日 fell on Sunday 05-03)
    assert [o.day for o in due.occurrences(monday, 2026, 5)][:2] == [D(2026, 5, 7), D(2026, 5, 11)]


def test_monthly_on_a_fixed_day() -> None:
    the_25th = task("T-D", "monthly", {"day": 25})
    assert days_of(the_25th, 2026, 11) == [D(2026, 11, 25)]
    [o] = due.occurrences(the_25th, 2026, 10)  # Sunday: the next business day
    assert o.days == (D(2026, 10, 26),) and "2026-10-25 is Sunday" in o.why
    assert days_of(task("T-31", "monthly", {"day": 31}), 2027, 2) == [D(2027, 3, 1)]  # 02-28 is a Sunday


def test_monthly_without_a_day_is_due_from_the_first_business_day_to_the_end_of_the_month() -> None:
    [o] = due.occurrences(CATALOG.get("CORE-012"), 2026, 11)
    assert o.days == (D(2026, 11, 2),) and o.until == D(2026, 11, 30)


def test_yearly_in_its_months_only_and_unplaced_without_one() -> None:
    april = task("T-Y", "yearly", {"months": [4], "business_day": 1})
    assert due.occurrences(april, 2027, 3) == []
    [o] = due.occurrences(april, 2027, 4)
    assert o.days == (D(2027, 4, 1),) and o.why == "yearly in April: 1st business day"
    got = due.month_due(Catalog(tasks={"T-Y": april, "COMM-002": CATALOG.get("COMM-002")}), 2027, 4)
    assert [o.task_id for o in got.occurrences] == ["T-Y"] and got.unplaced == ["COMM-002"]


def test_on_demand_tasks_are_never_due() -> None:
    assert due.occurrences(CATALOG.get("INFO-005"), 2026, 11) == []


def test_the_dedicated_host_reboot_is_due_on_each_environments_scheduled_day() -> None:
    got = {o.environment: o for o in due.occurrences(CATALOG.get("CORE-049"), 2027, 5)}
    assert {e: o.day for e, o in got.items()} == {"maint": D(2027, 5, 1), "prod": D(2027, 5, 8),
                                                 "dr": D(2027, 5, 15), "sandbox": D(2027, 5, 6)}
    assert got["prod"].why == "annual schedule dedicated_host_reboot: prod, 2nd Saturday"
    assert "moved from 2027-05-05: 祝日 こどもの日" in got["sandbox"].why


def test_a_missing_annual_schedule_is_a_note_not_an_error(tmp_path: Path) -> None:
    got = due.month_due(CATALOG, 2027, 5, tasks=[CATALOG.get("CORE-049")], schedule_dir=tmp_path)
    assert got.occurrences == []
    assert len(got.notes) == 1 and got.notes[0].startswith("CORE-049: ") and "schedule generate --year 2027" in \
        got.notes[0]


def test_a_month_outside_the_calendar_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="outside the calendar"):
        due.month_due(CATALOG, 1999, 12)


# ---------------------------------------------------------------- one day, one month

def test_a_holiday_lists_only_around_the_clock_work() -> None:
    data = due.day_json(CATALOG, D(2026, 11, 3))
    assert data["business_day"] is False and data["non_business_reason"] == "文化の日 (Culture Day)"
    assert [t["id"] for t in data["tasks"]] == ["COMM-010", "CORE-018"]


def test_a_day_lists_automated_tasks_first_with_their_command() -> None:
    data = due.day_json(CATALOG, D(2026, 12, 1))
    auto = [t for t in data["tasks"] if t["automated"]]
    assert [t["id"] for t in data["tasks"][:len(auto)]] == [t["id"] for t in auto] == [
        "CORE-012", "INFO-007", "INFO-008", "STAT-001", "STAT-013"]
    assert auto[1]["command"] == "ops-driver plan examples/requests/info-007-aws-events-check.yml"
    stat001 = auto[3]
    assert stat001["cycle"] == "daily" and stat001["why"] == "every business day" and stat001["note_ja"] == "協会営業日"
    assert stat001["command"] == "ops-driver plan examples/requests/stat-001-datastage-check.yml"
    assert stat001["playbook"] == "playbooks/stat-001-datastage-check.yml"
    text = due.day_text(data)
    assert "STAT-013 monthly  automated" in text and "1st business day (毎月第1営業日)" in text
    assert "COMM-007 daily    manual" in text


def test_the_scheduled_reboot_appears_on_its_day_with_its_environment() -> None:
    data = due.day_json(CATALOG, D(2026, 11, 14))  # the 2nd Saturday: prod
    assert [(t["id"], t["environment"]) for t in data["tasks"]] == [("CORE-049", "prod"), ("COMM-010", None),
                                                                    ("CORE-018", None)]


def test_a_window_of_business_days_is_listed_on_each_of_its_days() -> None:
    for day in (D(2026, 11, 13), D(2026, 11, 16)):
        assert {"STAT-004", "STAT-005"} <= {t["id"] for t in due.day_json(CATALOG, day)["tasks"]}
    assert "STAT-004" not in {t["id"] for t in due.day_json(CATALOG, D(2026, 11, 17))["tasks"]}


def test_a_week_that_starts_in_one_month_is_due_in_that_month() -> None:
    # Monday 2026-11-30: the weekly tasks are due then, not again on Tuesday 12-01
    assert "CORE-068" in {t["id"] for t in due.day_json(CATALOG, D(2026, 11, 30))["tasks"]}
    assert "CORE-068" not in {t["id"] for t in due.day_json(CATALOG, D(2026, 12, 1))["tasks"]}


def test_month_calendar_numbers_the_business_days_and_names_the_holidays() -> None:
    data = due.month_json(CATALOG, 2027, 5)
    assert data["business_days"] == 18
    by_day = {d["date"]: d for d in data["days"]}
    assert by_day["2027-05-06"]["business_day_number"] == 1
    assert by_day["2027-05-05"]["non_business_reason"] == "こどもの日 (Children's Day)"
    assert "STAT-013" in by_day["2027-05-06"]["tasks"] and "STAT-003" in by_day["2027-05-13"]["tasks"]
    text = due.month_text(data, CATALOG)
    assert "Thu 05-06  bd  1" in text and "Wed 05-05  -- こどもの日" in text
    assert "every day (24H): COMM-010 CORE-018" in text and "  1st business day: COMM-018 STAT-013* STAT-014" in text
    assert "yearly, no month in the catalog (timing.months), not shown: COMM-002" in text


# ---------------------------------------------------------------- the command

def test_due_command_date_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["due", "--date", "2027-01-04", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["date"] == "2027-01-04" and data["business_day"] is True
    assert {"STAT-013", "STAT-014", "COMM-018", "STAT-001"} <= {t["id"] for t in data["tasks"]}


def test_due_command_defaults_to_today_in_tokyo(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-11-03")
    assert main(["due"]) == 0
    assert capsys.readouterr().out.startswith("2026-11-03 (Tuesday), not a business day: 文化の日 (Culture Day)")


def test_due_command_month(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["due", "--month", "2026-11"]) == 0
    out = capsys.readouterr().out
    assert "2026-11: 19 business days" in out and "Sat 11-14  -- Saturday   CORE-049*[prod]" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["due", "--date", "2026-02-30"], "--date: '2026-02-30' is not a date"),
    (["due", "--month", "2026-13"], "--month: '2026-13' is not a month"),
    (["due", "--date", "2026-11-02", "--month", "2026-11"], "give one of them"),
    (["due", "--date", "1999-12-31"], "outside the calendar"),
])
def test_due_command_bad_input_exits_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


# ---------------------------------------------------------------- today's checklist (records/checklist.py)

def _record(base: Path, task_id: str, result: str, date: str, note: str | None = None,
            environment: str | None = None) -> str:
    from ops_driver.records import manual

    return manual.record(task_id, result, note=note, date_text=date, environment=environment, base=base).run_id


def _states(data: dict[str, Any]) -> dict[str, str]:
    return {t["id"] + (f"[{t['environment']}]" if t["environment"] else ""): t["state"] for t in data["tasks"]}


def test_checklist_marks_a_recorded_manual_daily_task_done_and_an_ng_apart(
        _scratch_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops_driver.records import checklist

    monkeypatch.setenv("OPS_TODAY", "2026-12-07")  # a Monday, a business day
    done = _record(_scratch_dirs, "COMM-014", "done", "2026-12-07")
    ng = _record(_scratch_dirs, "COMM-008", "ng", "2026-12-07", note="job J12 ended abnormally")
    _record(_scratch_dirs, "COMM-007", "done", "2026-12-04")  # the Friday's: not today's occurrence
    _record(_scratch_dirs, "COMM-003", "skipped", "2026-12-07", environment="dr")  # another environment
    data = checklist.day(CATALOG, D(2026, 12, 7), _scratch_dirs, today=D(2026, 12, 7))
    got = _states(data)
    assert got["COMM-014"] == "done" and got["COMM-008"] == "ng"
    assert got["COMM-007"] == "open" and got["COMM-003"] == "open"
    comm008 = next(t for t in data["tasks"] if t["id"] == "COMM-008")
    assert [(w["run_id"], w["result"], w["note"]) for w in comm008["work"]] == [
        (ng, "ng", "job J12 ended abnormally")]
    assert next(t for t in data["tasks"] if t["id"] == "COMM-014")["work"][0]["run_id"] == done
    assert data["states"]["done"] == 1 and data["states"]["ng"] == 1
    assert data["states"]["open"] == data["due_count"] - 2
    assert [t["state"] for t in data["tasks"]][:2] == ["open", "open"]  # what is left comes first
    dr = checklist.day(CATALOG, D(2026, 12, 7), _scratch_dirs, environment="dr", today=D(2026, 12, 7))
    assert _states(dr)["COMM-003"] == "skipped" and _states(dr)["COMM-014"] == "open"


def test_checklist_a_weekly_task_done_later_in_its_week_and_a_monthly_task_done_late(
        _scratch_dirs: Path) -> None:
    from ops_driver.records import checklist

    _record(_scratch_dirs, "COMM-003", "done", "2026-12-03")  # weekly, due Monday 11-30 until Sunday 12-06
    _record(_scratch_dirs, "COMM-018", "done", "2026-12-03")  # due the 1st business day (12-01) only: late
    on_monday = checklist.day(CATALOG, D(2026, 11, 30), _scratch_dirs, today=D(2026, 12, 3))
    assert _states(on_monday)["COMM-003"] == "done"
    first = checklist.day(CATALOG, D(2026, 12, 1), _scratch_dirs, today=D(2026, 12, 3))
    assert _states(first)["COMM-018"] == "late"
    assert next(t for t in first["tasks"] if t["id"] == "COMM-018")["work"][0]["date"] == "2026-12-03"


def test_checklist_a_read_only_check_that_ran_is_done_without_a_record(_scratch_dirs: Path) -> None:
    from ops_driver.records import checklist
    from tests.support import evidence_month

    at = dt.datetime(2026, 12, 7, 0, 30, tzinfo=dt.UTC)  # 09:30 in Tokyo
    evidence_month.run(_scratch_dirs, "plan", "STAT-013", at, environment="prod")  # a plan does not do a task
    evidence_month.run(_scratch_dirs, "apply", "STAT-001", at, environment="prod")  # read_only: a check
    evidence_month.run(_scratch_dirs, "apply", "STAT-001", at, environment="sandbox")
    data = checklist.day(CATALOG, D(2026, 12, 7), _scratch_dirs, today=D(2026, 12, 7))
    stat001 = next(t for t in data["tasks"] if t["id"] == "STAT-001")
    assert stat001["state"] == "done" and stat001["work"][0]["source"] == "check"
    failed = evidence_month.run(_scratch_dirs, "apply", "STAT-001", at, environment="dr", status="failed",
                                exit_code=3)
    dr = checklist.day(CATALOG, D(2026, 12, 7), _scratch_dirs, environment="dr", today=D(2026, 12, 7))
    assert _states(dr)["STAT-001"] == "open" and failed
    evidence_month.run(_scratch_dirs, "apply", "STAT-001", at, environment="maint", record=False)
    maint = checklist.day(CATALOG, D(2026, 12, 7), _scratch_dirs, environment="maint", today=D(2026, 12, 7))
    assert _states(maint)["STAT-001"] == "open"  # a bundle the ledger does not hold counts for nothing


def test_checklist_an_altered_record_counts_for_nothing(_scratch_dirs: Path) -> None:
    from ops_driver.records import checklist

    run_id = _record(_scratch_dirs, "COMM-014", "done", "2026-12-07")
    (_scratch_dirs / run_id / "request.yml").write_text("task: COMM-014\nresult: done\n", encoding="utf-8")
    data = checklist.day(CATALOG, D(2026, 12, 7), _scratch_dirs, today=D(2026, 12, 7))
    assert _states(data)["COMM-014"] == "open"


def test_due_open_and_json(_scratch_dirs: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-12-07")
    _record(_scratch_dirs, "COMM-014", "done", "2026-12-07")
    assert main(["due", "--open", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["open_only"] and data["count"] == data["due_count"] - 1
    assert "COMM-014" not in {t["id"] for t in data["tasks"]} and {t["state"] for t in data["tasks"]} == {"open"}
    assert main(["due", "--open"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2026-12-07 (Monday), a business day:") and "1 done" in out
    assert "[open] STAT-001" in out and "COMM-014" not in out
    assert main(["due", "--open", "--month", "2026-12"]) == 2
    assert main(["due", "--environment", "staging"]) == 2
    assert "--environment: 'staging'" in capsys.readouterr().err
