"""Annual schedule of the monthly Dedicated Host reboot (CORE-049): rules, generation, check, files and CLI.

Holidays are checked against the ``holidays`` library directly, and the rules' days are computed here with
``calendar``, independently of ops_driver.records.schedule.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import holidays
import pytest
import yaml

from ops_driver.cli import main
from ops_driver.paths import ENVIRONMENTS, project_root
from ops_driver.records import schedule
from ops_driver.records.schedule import Rules, ScheduleError, Shift

RULES = schedule.load_rules()
YEARS = range(2025, 2036)


@pytest.fixture
def sched_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "schedule"
    monkeypatch.setenv("OPS_SCHEDULE_DIR", str(d))
    return d


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> dt.date:
    days = [dt.date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)
            if calendar.weekday(year, month, d) == weekday]
    return days[nth - 1] if nth > 0 else days[-1]


def _year_end(day: dt.date) -> bool:
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def _rules(envs: dict[str, Any] | None = None, **top: Any) -> Rules:
    data: dict[str, Any] = {"schedule": "dedicated_host_reboot", **top, "environments": envs or {
        "prod": {"weekday": "saturday", "nth": 2}, "dr": {"weekday": "saturday", "nth": 3},
        "maint": {"weekday": "saturday", "nth": 1}, "sandbox": {"weekday": "wednesday", "nth": 1}}}
    return schedule.parse_rules(data, "test-rules")


# ---------------------------------------------------------------- holidays and rules

def test_holidays_include_substitute_and_moving_holidays() -> None:
    h26, h27 = schedule.public_holidays(2026), schedule.public_holidays(2027)
    assert h26[dt.date(2026, 5, 6)] == "振替休日"       # 5/3 (Sun) 憲法記念日 -> Wednesday 5/6
    assert h27[dt.date(2027, 1, 11)] == "成人の日"       # 2nd Monday of January
    assert h26[dt.date(2026, 9, 22)] == "国民の休日"     # between 敬老の日 and 秋分の日
    assert dt.date(2026, 5, 7) not in h26


def test_repo_rules_are_the_documented_defaults() -> None:
    assert RULES.name == "dedicated_host_reboot"
    assert list(RULES.environments) == ["prod", "dr", "maint", "sandbox"]
    assert {e: r.describe() for e, r in RULES.environments.items()} == {
        "prod": "2nd Saturday", "dr": "3rd Saturday", "maint": "1st Saturday", "sandbox": "1st Wednesday"}
    assert [e.spec for e in RULES.exclude] == ["12-29..01-03"]
    assert RULES.environments["prod"].shift == "next"


def test_catalog_names_the_schedule_of_the_rules() -> None:
    from ops_driver.catalog import load_catalog

    auto = load_catalog().get("CORE-049").automation
    assert auto is not None and auto.schedule == RULES.name


@pytest.mark.parametrize("spec, yes, no", [
    ("12-29..01-03", ["2026-12-29", "2026-12-31", "2027-01-01", "2027-01-03"], ["2026-12-28", "2027-01-04"]),
    ("08-13..08-16", ["2026-08-13", "2031-08-16"], ["2026-08-12", "2026-08-17"]),
    ("02-29", ["2028-02-29"], ["2027-02-28", "2027-03-01"]),
    ("2026-08-14", ["2026-08-14"], ["2027-08-14"]),
    ("2026-10-30..2026-11-02", ["2026-10-30", "2026-11-02"], ["2026-11-03", "2027-11-01"]),
])
def test_exclusion_forms(spec: str, yes: list[str], no: list[str]) -> None:
    e = schedule.parse_exclusion(spec, "exclude[0]")
    assert all(e.matches(dt.date.fromisoformat(d)) for d in yes)
    assert not any(e.matches(dt.date.fromisoformat(d)) for d in no)


@pytest.mark.parametrize("change, needle", [
    ({"environments": {"prod": {"weekday": "sat", "nth": 2}}}, "environments.prod.weekday: 'sat' is not a weekday"),
    ({"environments": {"prod": {"weekday": "saturday", "nth": 5}}}, "environments.prod.nth: 5 is not valid"),
    ({"environments": {"prod": {"weekday": "saturday", "nth": 2, "when": 1}}}, "unknown key(s) when"),
    ({"environments": {"prod": {"weekday": "saturday", "nth": 2, "shift": "later"}}}, "prod.shift: 'later'"),
    ({"environments": {"staging": {"weekday": "saturday", "nth": 2}}}, "unknown staging"),
    ({"exclude": ["13-01"]}, "exclude[0]: '13-01' is not a day or a range"),
    ({"exclude": ["2026-01-05..2026-01-01"]}, "ends before it starts"),
    ({"shift_weekdays": []}, "shift_weekdays: give a non-empty list"),
    ({"schedule": "Dedicated Host"}, "schedule: 'Dedicated Host' is not a schedule name"),
    ({"colour": "red"}, "unknown key(s) colour"),
])
def test_bad_rules_name_the_field(change: dict[str, Any], needle: str) -> None:
    data = yaml.safe_load((project_root() / "schedule" / "rules.yml").read_text(encoding="utf-8"))
    for key, value in change.items():
        if key == "environments":
            data["environments"].update(value)
        else:
            data[key] = value
    with pytest.raises(ScheduleError, match=re.escape(needle)) as e:
        schedule.parse_rules(data, "rules.yml")
    assert e.value.exit_code == 2


def test_rules_need_every_environment() -> None:
    with pytest.raises(ScheduleError, match="missing sandbox"):
        _rules({"prod": {"weekday": "saturday", "nth": 2}, "dr": {"weekday": "saturday", "nth": 3},
                "maint": {"weekday": "sunday", "nth": 2}})


# ---------------------------------------------------------------- generation over many years

@pytest.mark.parametrize("year", YEARS)
def test_generated_year_holds_independently(year: int) -> None:
    sched = schedule.generate(year, RULES)
    jp = holidays.Japan(years=year)
    assert set(sched.dates) == set(ENVIRONMENTS)
    for month in range(1, 13):
        days = [sched.dates[env][month] for env in ENVIRONMENTS]   # one date per environment in every month
        assert len(set(days)) == len(days), (year, month, days)     # each environment on its own day
        for env in ENVIRONMENTS:
            day = sched.dates[env][month]
            assert (day.year, day.month) == (year, month)
            assert day not in jp, (env, day, jp.get(day))
            assert not _year_end(day), (env, day)
            rule = RULES.environments[env]
            nominal = _nth_weekday(year, month, rule.weekday, rule.nth)
            shift = sched.shift_of(env, month)
            if day == nominal:
                assert shift is None
                continue
            # the rule only gives way to a holiday, 年末年始 or another environment's day, and says why
            assert shift is not None and shift.shifted_from == nominal and shift.reason
            assert nominal in jp or _year_end(nominal) or nominal in days
            assert day.weekday() in rule.shift_weekdays
    assert schedule.check(sched, RULES) == []


def test_shifts_happen_and_are_explained() -> None:
    s27 = schedule.generate(2027, RULES)
    assert s27.shift_of("sandbox", 5) == Shift(dt.date(2027, 5, 5), "祝日 こどもの日")
    assert s27.date_of("sandbox", 5) == dt.date(2027, 5, 6)
    jan = s27.shift_of("maint", 1)       # 1st Saturday is 01-02 (年末年始); Sunday 01-03 too; 01-09 is prod's
    assert jan == Shift(dt.date(2027, 1, 2), "excluded 12-29..01-03")
    assert s27.date_of("maint", 1) == dt.date(2027, 1, 10)


def test_a_collision_of_rules_is_shifted_with_its_reason() -> None:
    rules = _rules({"prod": {"weekday": "saturday", "nth": 2}, "dr": {"weekday": "saturday", "nth": 2},
                    "maint": {"weekday": "sunday", "nth": 2}, "sandbox": {"weekday": "wednesday", "nth": 1}})
    sched = schedule.generate(2026, rules)
    assert sched.date_of("prod", 3) == dt.date(2026, 3, 14)
    assert sched.shift_of("dr", 3) == Shift(dt.date(2026, 3, 14), "same day as prod")
    assert sched.date_of("dr", 3) == dt.date(2026, 3, 15)   # the next weekend day (maint's 2nd Sunday is 03-08)
    # 2026-08 starts on a Saturday: 08-09, the day after prod's 08-08, is maint's 2nd Sunday and is skipped
    assert sched.date_of("maint", 8) == dt.date(2026, 8, 9) and sched.date_of("dr", 8) == dt.date(2026, 8, 15)
    assert schedule.check(sched, rules) == []


def test_shift_previous_and_fallback_to_the_other_direction() -> None:
    envs = {"prod": {"weekday": "saturday", "nth": 2, "shift": "previous"}, "dr": {"weekday": "saturday", "nth": 3},
            "maint": {"weekday": "saturday", "nth": 1}, "sandbox": {"weekday": "wednesday", "nth": 1}}
    s = schedule.generate(2026, _rules(envs, exclude=["2026-03-14"]))
    # back from 03-14: 03-08 (Sunday) is the nearest earlier weekend day; 03-07 is maint's
    assert s.date_of("prod", 3) == dt.date(2026, 3, 8)
    assert s.shift_of("prod", 3) == Shift(dt.date(2026, 3, 14), "excluded 2026-03-14")
    # nothing earlier is free (the whole start of the month is excluded): the search turns forward
    s = schedule.generate(2026, _rules(envs, exclude=["2026-03-01..2026-03-14"]))
    assert s.date_of("prod", 3) == dt.date(2026, 3, 15)


def test_impossible_rules_raise_a_clear_error() -> None:
    rules = _rules(exclude=["02-01..02-29"])
    with pytest.raises(ScheduleError, match=r"prod 2026-02: the 2nd Saturday \(2026-02-14\) cannot be used "
                                            r"\(excluded 02-01..02-29\)") as e:
        schedule.generate(2026, rules)
    assert e.value.exit_code == 2
    weekend_only = _rules({"prod": {"weekday": "saturday", "nth": 2, "shift_weekdays": ["saturday"]},
                           "dr": {"weekday": "saturday", "nth": 3, "shift_weekdays": ["saturday"]},
                           "maint": {"weekday": "saturday", "nth": 1, "shift_weekdays": ["saturday"]},
                           "sandbox": {"weekday": "saturday", "nth": 4, "shift_weekdays": ["saturday"]}},
                          exclude=["2026-02-28"])
    with pytest.raises(ScheduleError, match=r"sandbox 2026-02: .* widen shift_weekdays"):
        schedule.generate(2026, weekend_only)   # February 2026 has four Saturdays and one is excluded


def test_bad_year() -> None:
    with pytest.raises(ScheduleError, match="year: 1999 is not a year"):
        schedule.generate(1999, RULES)


# ---------------------------------------------------------------- check

def _copy(sched: schedule.Schedule) -> schedule.Schedule:
    return schedule.parse(yaml.safe_load(yaml.safe_dump(sched.to_dict(), allow_unicode=True)), "copy")


def test_check_catches_hand_made_problems() -> None:
    s = _copy(schedule.generate(2026, RULES))
    s.dates["dr"][3] = s.dates["prod"][3]                 # collision
    s.dates["prod"][5] = dt.date(2026, 5, 4)              # みどりの日 (Monday)
    del s.dates["maint"][7]                               # missing month
    s.dates["sandbox"][8] = dt.date(2026, 9, 2)           # outside its month
    s.dates["prod"][1] = dt.date(2027 - 1, 12, 31)        # outside and 年末年始
    s.shifts.setdefault("dr", {})[6] = Shift(dt.date(2026, 6, 20), "because")   # rule's day was usable
    s.dates["dr"][6] = dt.date(2026, 6, 21)
    problems = schedule.check(s, RULES)
    text = "\n".join(problems)
    assert "2026-03-14: prod and dr on the same day" in text
    assert "dr 2026-03: 2026-03-14 is not the 3rd Saturday (2026-03-21) and no shift is recorded" in text
    assert "prod 2026-05: 2026-05-04 is a public holiday (みどりの日)" in text
    assert "maint 2026-07: missing month (no date)" in text
    assert "sandbox 2026-08: 2026-09-02 is outside its month" in text
    assert "prod 2026-01: 2026-12-31 is excluded (12-29..01-03)" in text
    assert "dr 2026-06: shifted from 2026-06-20, which is usable" in text


def test_check_catches_a_bad_shift_record_and_another_schedule() -> None:
    s = _copy(schedule.generate(2027, RULES))
    s.shifts["sandbox"][5] = Shift(dt.date(2027, 5, 4), "")
    problems = schedule.check(s, RULES)
    assert any("shifted_from 2027-05-04 is not the 1st Wednesday (2027-05-05)" in p for p in problems)
    assert any("the shift from 2027-05-04 has no reason" in p for p in problems)
    s.name = "other"
    assert any("schedule 'other' is not 'dedicated_host_reboot'" in p for p in schedule.check(s, RULES))


def test_committed_schedules_hold() -> None:
    for year in (2026, 2027):
        sched = schedule.load(project_root() / "schedule" / f"{year}.yml")
        assert sched.year == year and sched.rules.to_dict() == RULES.to_dict()
        assert schedule.check(sched, RULES) == []


# ---------------------------------------------------------------- files

def test_save_and_load_round_trip(tmp_path: Path) -> None:
    s = schedule.generate(2027, RULES, now=dt.datetime(2026, 11, 1, 3, 0, tzinfo=dt.UTC))
    path = schedule.save(s, tmp_path / "x" / "2027.yml")
    back = schedule.load(path)
    assert back.dates == s.dates and back.shifts == s.shifts and back.generated_at == "2026-11-01T03:00:00Z"
    assert back.rules == s.rules and back.name == s.name and back.holidays.startswith("holidays ")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["dates"]["sandbox"][5] == {"date": dt.date(2027, 5, 6), "shifted_from": dt.date(2027, 5, 5),
                                          "reason": "祝日 こどもの日"}
    assert doc["holidays"]["days"][dt.date(2027, 1, 11)] == "成人の日"


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(schedule.ScheduleMissing, match="ops-driver schedule generate --year 2031"):
        schedule.load(tmp_path / "2031.yml")
    bad = tmp_path / "2026.yml"
    bad.write_text("schedule: x\nyear: 2026\nrules: {}\ndates: {}\n")
    with pytest.raises(ScheduleError, match=r"2026\.yml: rules: schedule: None is not a schedule name"):
        schedule.load(bad)
    bad.write_text("dates: [\n")
    with pytest.raises(ScheduleError, match="not valid YAML"):
        schedule.load(bad)


# ---------------------------------------------------------------- CLI

def test_cli_generate_refuses_to_overwrite(sched_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "generate", "--year", "2030"]) == 0
    assert (sched_dir / "2030.yml").is_file()
    out = capsys.readouterr()
    assert "2030-01-12 Sat" in out.out and "wrote" in out.err
    first = (sched_dir / "2030.yml").read_text()
    assert main(["schedule", "generate", "--year", "2030"]) == 2
    err = capsys.readouterr().err
    assert "exists already" in err and "--force" in err
    assert (sched_dir / "2030.yml").read_text() == first
    assert main(["schedule", "generate", "--year", "2030", "--force", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["year"] == 2030


def test_cli_show_json_shape(sched_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "generate", "--year", "2027", "--out", str(sched_dir / "2027.yml")]) == 0
    capsys.readouterr()
    assert main(["schedule", "show", "--year", "2027", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schedule"] == "dedicated_host_reboot" and data["year"] == 2027
    assert data["environments"] == ["prod", "dr", "maint", "sandbox"]
    assert [m["month"] for m in data["months"]] == list(range(1, 13))
    assert data["months"][4]["prod"] == {"date": "2027-05-08", "weekday": "Sat", "shifted_from": None,
                                         "reason": None}
    assert data["months"][4]["sandbox"] == {"date": "2027-05-06", "weekday": "Thu", "shifted_from": "2027-05-05",
                                            "reason": "祝日 こどもの日"}
    assert main(["schedule", "show", "--year", "2027"]) == 0
    text = capsys.readouterr().out
    assert "2027-05-06 Thu*祝" in text and "sandbox 2027-05: 2027-05-05 -> 2027-05-06 (祝日 こどもの日)" in text


def test_cli_check(sched_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "check", "--year", "2028"]) == 2                 # no file
    assert "ops-driver schedule generate --year 2028" in capsys.readouterr().err
    assert main(["schedule", "generate", "--year", "2028"]) == 0
    assert main(["schedule", "check", "--year", "2028", "--json"]) == 0
    capsys.readouterr()
    path = sched_dir / "2028.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["dates"]["dr"][6]["date"] = doc["dates"]["prod"][6]["date"]           # collision
    doc["dates"]["maint"][11] = {"date": dt.date(2028, 11, 3)}                # 文化の日
    del doc["dates"]["prod"][2]                                               # missing month
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    assert main(["schedule", "check", "--year", "2028", "--json"]) == 4
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    text = "\n".join(data["problems"])
    assert "prod and dr on the same day" in text and "文化の日" in text and "prod 2028-02: missing month" in text
    assert main(["schedule", "check", "--year", "2028"]) == 4
    assert "problem(s)" in capsys.readouterr().out
    path.write_text("year: [\n")
    assert main(["schedule", "check", "--year", "2028"]) == 2                 # invalid file
    assert "not valid YAML" in capsys.readouterr().err


def _shifted(doc: dict[str, Any]) -> dict[str, Any]:
    """The first month entry of ``doc`` that records a shift (2028 has several)."""
    return next(e for months in doc["dates"].values() for e in months.values() if "shifted_from" in e)


def _unshifted(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["dates"]["prod"][6]


# malformed: unreadable, a missing or wrongly typed field, a bad date -> exit 2 naming the field and the fix
MALFORMED: list[tuple[Any, str]] = [
    ("year: [\n", "2028.yml: not valid YAML at line 2, column 1"),
    ("- a list\n", "2028.yml: not a schedule (a mapping with schedule, year, rules, dates)"),
    (lambda d: d.pop("dates"), "2028.yml: dates: missing; regenerate it with `ops-driver schedule generate --year "
                               "2028 --force`"),
    (lambda d: d.pop("year"), "2028.yml: year: missing"),
    (lambda d: d.update(year="2028"), "2028.yml: year: '2028' is not a year the schedule supports; give a year "
                                      "from 2000 to 2099"),
    (lambda d: d.update(schedule=123), "2028.yml: schedule: 123 is not a schedule name; give the name the "
                                       "catalog's automation.schedule uses"),
    (lambda d: d.update(schedule=None), "2028.yml: schedule: None is not a schedule name"),
    (lambda d: d.update(colour="red"), "2028.yml: unknown key(s) colour; it has schedule, year, generated_at"),
    (lambda d: d.update(generated_at=[1]), "2028.yml: generated_at: [1] is not a time; write it quoted"),
    (lambda d: d.update(holidays=5), "2028.yml: holidays: give a mapping {source: holidays X.Y (JP)"),
    (lambda d: d["holidays"].update(source=0.109), "2028.yml: holidays.source: 0.109 is not a text"),
    (lambda d: d["rules"]["environments"]["prod"].update(nth=5), "2028.yml: rules: environments.prod.nth: 5 is "
                                                                 "not valid"),
    (lambda d: d.update(dates=[]), "2028.yml: dates: give a mapping environment -> month (1-12)"),
    (lambda d: d["dates"].update({5: {}}), "2028.yml: dates: 5 is not an environment name; use prod, dr, maint, "
                                           "sandbox"),
    (lambda d: d["dates"].update(prod="monthly"), "2028.yml: dates.prod: give a mapping month (1-12)"),
    (lambda d: d["dates"]["prod"].update({"june": {}}), "2028.yml: dates.prod.june: 'june' is not a month; use 1 "
                                                        "to 12"),
    (lambda d: d["dates"]["prod"].update({6: "2028-06-10"}), "2028.yml: dates.prod.6: give {date: YYYY-MM-DD}"),
    (lambda d: _unshifted(d).update(date="2028-06-31"), "2028.yml: dates.prod.6.date: '2028-06-31' is not a date; "
                                                        "write YYYY-MM-DD"),
    (lambda d: _unshifted(d).update(date=dt.datetime(2028, 6, 10, 9)), "dates.prod.6.date: datetime.datetime(2028, "
                                                                       "6, 10, 9, 0) is not a date"),
    (lambda d: _unshifted(d).update(note="x"), "2028.yml: dates.prod.6: unknown key(s) note; it has date, "
                                               "shifted_from, reason"),
    (lambda d: _unshifted(d).update(reason="moved"), "2028.yml: dates.prod.6.shifted_from: missing; a date with a "
                                                     "reason records the rule's day"),
    (lambda d: _shifted(d).update(shifted_from="someday"), ".shifted_from: 'someday' is not a date"),
    (lambda d: _shifted(d).pop("reason"), ".reason: missing; a shifted date records why its rule's day"),
    (lambda d: _shifted(d).update(reason=5), ".reason: 5 is not a text; a shifted date records why"),
    (lambda d: _shifted(d).update(shifted_frm=_shifted(d).pop("shifted_from")), "unknown key(s) shifted_frm"),
]

# well formed, but the schedule breaks its rules -> exit 4 listing the problems
RULE_BREAKS: list[tuple[Any, str]] = [
    (lambda d: d.update(schedule="other"), "schedule 'other' is not 'dedicated_host_reboot' of the rules"),
    (lambda d: _shifted(d).update(reason=" "), "has no reason"),
    (lambda d: _unshifted(d).update(date=dt.date(2028, 6, 11)), "prod 2028-06: 2028-06-11 is not the 2nd Saturday "
                                                                "(2028-06-10) and no shift is recorded"),
    (lambda d: d["dates"]["maint"].update({11: {"date": dt.date(2028, 11, 3)}}), "2028-11-03 is a public holiday "
                                                                                 "(文化の日)"),
    (lambda d: d["dates"].update(staging={}), "staging: not an environment of the rules"),
    (lambda d: d["dates"].update(prod={}), "prod: no dates at all"),
    (lambda d: d["dates"]["dr"].pop(7), "dr 2028-07: missing month (no date)"),
    (lambda d: d.update(year=2027), "prod 2027-01: 2028-01-08 is outside its month"),
]


def _break_file(sched_dir: Path, change: Any) -> None:
    schedule.save(schedule.generate(2028, RULES), sched_dir / "2028.yml")
    path = sched_dir / "2028.yml"
    if isinstance(change, str):
        path.write_text(change, encoding="utf-8")
        return
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("change, needle", MALFORMED)
def test_cli_check_malformed_file_exits_2(change: Any, needle: str, sched_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _break_file(sched_dir, change)
    assert main(["schedule", "check", "--year", "2028", "--json"]) == 2
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["exit_code"] == 2 and data["kind"] == "ScheduleError" and needle in data["error"]
    assert needle in out.err and str(sched_dir / "2028.yml") in out.err
    assert main(["schedule", "show", "--year", "2028"]) == 2                  # show reads it the same way
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("change, needle", RULE_BREAKS)
def test_cli_check_rule_breaking_file_exits_4(change: Any, needle: str, sched_dir: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _break_file(sched_dir, change)
    assert main(["schedule", "check", "--year", "2028", "--json"]) == 4
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False and any(needle in p for p in data["problems"]), data["problems"]


@pytest.mark.parametrize("argv, needle", [
    (["schedule", "generate", "--year", "1999"], "--year: 1999 is not a year"),
    (["schedule", "generate", "--year", "next"], "invalid int value"),
    (["schedule", "generate", "--year", "2030", "--rules", "/nonexistent/rules.yml"], "no such rules file"),
    (["schedule", "show"], "--year"),
])
def test_cli_bad_input_exits_2(argv: list[str], needle: str, sched_dir: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert needle in capsys.readouterr().err
    assert not sched_dir.exists()
