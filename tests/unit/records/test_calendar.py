"""The business-day calendar (ops_driver.records.schedule.calendar): weekends, Japan's public holidays, 年末年始.

Expected days are real Japanese dates, and the sweep over many years checks against the ``holidays`` library and
a hand-written 年末年始 directly, independently of the module.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import holidays
import pytest

from ops_driver.records.schedule import calendar, generate, load_rules, parse_rules
from ops_driver.records.schedule.calendar import BusinessCalendar, CalendarError

D = dt.date.fromisoformat
OPEN_ALL_YEAR = calendar.parse_calendar({"non_business_days": []}, "open")
OBON = calendar.parse_calendar({"non_business_days": [{"name": "年末年始", "days": "12-29..01-03"},
                                                 {"name": "お盆", "days": "08-13..08-16"}]}, "obon")


def _year_end(day: dt.date) -> bool:
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


@pytest.mark.parametrize("day, reason", [
    ("2026-01-01", "元日 (New Year's Day)"),          # also 年末年始: the holiday's name comes first
    ("2026-01-02", "年末年始"),                         # a Friday, closed only by 年末年始
    ("2026-05-06", "振替休日 (Substitute Holiday)"),   # 05-03 憲法記念日 is a Sunday -> Wednesday 05-06
    ("2026-09-22", "国民の休日 (National Holiday)"),   # between 敬老の日 (09-21) and 秋分の日 (09-23)
    ("2027-03-22", "振替休日 (Substitute Holiday)"),   # 03-21 春分の日 is a Sunday
    ("2026-12-29", "年末年始"),                         # a Tuesday
    ("2027-01-02", "年末年始"),                         # a Saturday: 年末年始 before the weekend
    ("2026-05-03", "憲法記念日 (Constitution Day)"),   # a Sunday: the holiday before the weekend
    ("2026-05-09", "Saturday"),
    ("2026-05-10", "Sunday"),
    ("2026-05-07", None),                              # the Thursday after Golden Week
    ("2026-12-28", None),                              # the last business day of 2026
    ("2027-01-04", None),                              # the first business day of 2027
])
def test_non_business_reason_and_is_business_day(day: str, reason: str | None) -> None:
    assert calendar.non_business_reason(D(day)) == reason
    assert calendar.is_business_day(D(day)) is (reason is None)


def test_business_days_of_a_month() -> None:
    may = calendar.business_days(2026, 5)
    assert len(may) == 18 and may[0] == D("2026-05-01") and may[1] == D("2026-05-07") and may[-1] == D("2026-05-29")
    assert not {D("2026-05-04"), D("2026-05-05"), D("2026-05-06")} & set(may)
    sept = calendar.business_days(2026, 9)
    assert len(sept) == 19 and D("2026-09-18") in sept and D("2026-09-24") in sept
    assert not {D("2026-09-21"), D("2026-09-22"), D("2026-09-23")} & set(sept)


@pytest.mark.parametrize("year, month, n, day", [
    (2027, 1, 1, "2027-01-04"),    # 01-01 元日, 01-02/03 a weekend and 年末年始
    (2026, 1, 1, "2026-01-05"),    # 01-02 is a Friday of 年末年始
    (2026, 5, 2, "2026-05-07"),    # after Golden Week
    (2026, 5, 3, "2026-05-08"),
    (2026, 12, -1, "2026-12-28"),  # 12-29 .. 12-31 are 年末年始
    (2026, 12, -2, "2026-12-25"),
    (2026, 5, 18, "2026-05-29"),
    (2026, 5, -18, "2026-05-01"),
])
def test_nth_business_day(year: int, month: int, n: int, day: str) -> None:
    assert calendar.nth_business_day(year, month, n) == D(day)


def test_last_business_day() -> None:
    assert calendar.last_business_day(2026, 12) == D("2026-12-28")
    assert calendar.last_business_day(2026, 5) == D("2026-05-29")
    assert calendar.last_business_day(2027, 1) == D("2027-01-29")       # 01-30/31 are a weekend
    assert calendar.last_business_day(2026, 12, OPEN_ALL_YEAR) == D("2026-12-31")


@pytest.mark.parametrize("day, after, before", [
    ("2026-05-01", "2026-05-07", "2026-04-30"),   # Golden Week: Friday 05-01 -> Thursday 05-07
    ("2026-05-07", "2026-05-08", "2026-05-01"),
    ("2026-12-28", "2027-01-04", "2026-12-25"),   # over 年末年始 and the year end
    ("2027-01-04", "2027-01-05", "2026-12-28"),
    ("2026-09-18", "2026-09-24", "2026-09-17"),   # Silver Week: 09-21 .. 09-23
    ("2026-05-09", "2026-05-11", "2026-05-08"),   # from a Saturday
])
def test_next_and_previous_business_day(day: str, after: str, before: str) -> None:
    assert calendar.next_business_day(D(day)) == D(after)
    assert calendar.previous_business_day(D(day)) == D(before)


@pytest.mark.parametrize("year", range(2025, 2036))
def test_every_day_agrees_with_the_holidays_library(year: int) -> None:
    jp = holidays.Japan(years=year)
    day = dt.date(year, 1, 1)
    while day.year == year:
        expected = day.weekday() < 5 and day not in jp and not _year_end(day)
        assert calendar.is_business_day(day) is expected, (day, jp.get(day))
        day += dt.timedelta(days=1)


def test_another_calendar_closes_other_days() -> None:
    assert calendar.is_business_day(D("2026-12-29"), OPEN_ALL_YEAR) and calendar.is_business_day(D("2026-08-13"))
    assert calendar.non_business_reason(D("2026-08-13"), OBON) == "お盆"
    assert calendar.non_business_reason(D("2026-08-11"), OBON) == "山の日 (Mountain Day)"
    assert calendar.next_business_day(D("2026-08-12"), OBON) == D("2026-08-17")
    assert calendar.nth_business_day(2026, 1, 1, OPEN_ALL_YEAR) == D("2026-01-02")


@pytest.mark.parametrize("call, needle", [
    (lambda: calendar.nth_business_day(2026, 5, 0), "n: 0 is not a business-day number"),
    (lambda: calendar.nth_business_day(2026, 5, True), "n: True is not a business-day number"),
    (lambda: calendar.nth_business_day(2026, 5, 19), "2026-05 has 18 business days, so there is no business day 19"),
    (lambda: calendar.nth_business_day(2026, 5, -19), "no business day -19"),
    (lambda: calendar.business_days(2026, 13), "month: 13 is not a month"),
    (lambda: calendar.business_days(2100, 1), "year: 2100 is outside the calendar"),
    (lambda: calendar.is_business_day(D("1999-12-31")), "1999-12-31 is outside the calendar"),
    (lambda: calendar.is_business_day(dt.datetime(2026, 5, 7, 9, 0)), "is not a date"),
    (lambda: calendar.next_business_day(D("2099-12-31")), "next business day: 2100-01-01 is outside the calendar"),
])
def test_impossible_questions_raise_calendar_error(call: Any, needle: str) -> None:
    with pytest.raises(CalendarError, match=needle) as e:
        call()
    assert e.value.exit_code == 2


def test_a_calendar_that_closes_every_day_ends() -> None:
    closed = calendar.parse_calendar({"non_business_days": [{"name": "closed", "days": "01-01..12-31"}]}, "closed")
    with pytest.raises(CalendarError, match="closed: no business day within 366 days of 2026-05-07"):
        calendar.next_business_day(D("2026-05-07"), closed)
    assert calendar.business_days(2026, 5, closed) == []
    with pytest.raises(CalendarError, match="2026-05 has 0 business days"):
        calendar.last_business_day(2026, 5, closed)


# ---------------------------------------------------------------- the calendar file

def test_the_repository_calendar_is_the_schedule_default() -> None:
    repo = calendar.load_calendar()
    assert repo.source == str(calendar.calendar_path()) and calendar.calendar_path().name == "calendar.yml"
    assert [(p.name, p.days.spec) for p in repo.periods] == [("年末年始", "12-29..01-03")]
    assert load_rules().exclude == tuple(p.days for p in repo.periods)


@pytest.mark.parametrize("data, needle", [
    ([], "the calendar is a mapping with the one key non_business_days"),
    ({"non_business_days": [], "weekend": ["sunday"]}, "the one key non_business_days"),
    ({"non_business_days": "12-29..01-03"}, "non_business_days: give a list of {name, days}"),
    ({"non_business_days": [{"days": "12-29..01-03"}]}, "non_business_days[0]: give exactly the keys name and days"),
    ({"non_business_days": [{"name": " ", "days": "12-29..01-03"}]}, "non_business_days[0].name: ' ' is not a name"),
    ({"non_business_days": [{"name": "x", "days": "12-32"}]}, "non_business_days[0].days: '12-32' is not a day"),
    ({"non_business_days": [{"name": "x", "days": "2026-12-29..01-03"}]}, "mixes a dated and an every-year day"),
])
def test_bad_calendar_names_the_field(data: Any, needle: str) -> None:
    with pytest.raises(CalendarError, match=re.escape(needle)) as e:
        calendar.parse_calendar(data, "calendar.yml")
    assert e.value.exit_code == 2 and str(e.value).startswith("calendar.yml: ")


def test_load_calendar_reads_a_changed_file_again(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yml"
    with pytest.raises(CalendarError, match=re.escape("no such calendar file; restore schedule/calendar.yml")):
        calendar.load_calendar(path)
    path.write_text("non_business_days: [{name: 年末年始, days: '12-29..01-03'}]\n", encoding="utf-8")
    first = calendar.load_calendar(path)
    assert first == calendar.load_calendar(path) and not calendar.is_business_day(D("2026-12-30"), first)
    path.write_text("non_business_days: [{name: 創立記念日, days: '2026-06-01'}]  # and a longer line\n",
                    encoding="utf-8")
    second = calendar.load_calendar(path)
    assert calendar.non_business_reason(D("2026-06-01"), second) == "創立記念日"
    assert calendar.is_business_day(D("2026-12-30"), second)
    path.write_text("non_business_days: [\n", encoding="utf-8")
    with pytest.raises(CalendarError, match="not valid YAML"):
        calendar.load_calendar(path)


def test_the_schedule_rules_follow_the_calendar_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "calendar.yml"
    path.write_text("non_business_days:\n  - {name: 年末年始, days: '12-29..01-03'}\n"
                    "  - {name: お盆, days: '08-13..08-16'}\n", encoding="utf-8")
    monkeypatch.setattr(calendar, "calendar_path", lambda: path)
    data = {"schedule": "dedicated_host_reboot", "environments": {
        "prod": {"weekday": "saturday", "nth": 2}, "dr": {"weekday": "saturday", "nth": 3},
        "maint": {"weekday": "saturday", "nth": 1}, "sandbox": {"weekday": "wednesday", "nth": 1}}}
    rules = parse_rules(data, "no-exclude")                    # no exclude: the calendar's periods
    assert [e.spec for e in rules.exclude] == ["12-29..01-03", "08-13..08-16"]
    sched = generate(2026, rules)                            # dr's 3rd Saturday of August is 08-15 (お盆)
    assert sched.date_of("dr", 8) == D("2026-08-22") and sched.shift_of("dr", 8) is not None
    assert parse_rules({**data, "exclude": []}, "none").exclude == ()


def test_business_calendar_is_plain_data() -> None:
    assert BusinessCalendar(periods=()).period_of(D("2026-12-30")) is None
    assert OBON.period_of(D("2026-08-16")) == OBON.periods[1]
