"""Annual schedules of monthly operations (CORE-049: the Dedicated Host reboot), Japanese calendar.

Seed (CORE-049): 「年間スケジュールの策定時に、Dedicated Host再起動の毎月の実施日を決定する。本番環境、災対環境、
保守環境の各環境単位で別日に実施する。」 — one date per month per environment, every environment on its own day.

Files (``schedule/`` in the project; year files in ``$OPS_SCHEDULE_DIR`` when set):

- ``schedule/rules.yml`` — the rules (:mod:`.rules`: see :func:`parse_rules` and the comments in the file): per
  environment a weekday and its occurrence in the month (``{weekday: saturday, nth: 2}``: the 2nd Saturday;
  ``nth: -1``: the last), what to do when that day cannot be used (``shift``, ``shift_weekdays``) and days never
  used (``exclude``, by default the non-business periods of ``schedule/calendar.yml``: ``12-29..01-03``, 年末年始).
- ``schedule/calendar.yml`` — the non-business periods of the business-day calendar (:mod:`.calendar`: the one
  definition of a Japanese business day in the project: weekends, public holidays, 年末年始).
- ``schedule/<YYYY>.yml`` — the schedule of one year made by :func:`generate` (:mod:`.generate`) and written by
  :func:`save` (:mod:`.fileformat`): per environment per month the date, plus ``shifted_from`` and ``reason`` when
  it is not the rule's day.

Public holidays are those of the ``holidays`` library for Japan (祝日, 振替休日 and 国民の休日 included), read
through :mod:`.calendar`. Whether today is an environment's day is :mod:`ops_driver.evidence.guards`'s question
(``today``, ``scheduled_day``, ``check_schedule``).

Dates are :class:`datetime.date` in the Japanese calendar (Asia/Tokyo, UTC+9, no daylight saving time).
Bad rules or a bad schedule file raise :class:`ScheduleError` (an InvalidInput: exit 2) naming the field and
the fix; a missing year file raises :class:`ScheduleMissing` (a ScheduleError).
"""

from __future__ import annotations

from ops_driver.records.schedule.calendar import (
    MAX_YEAR,
    MIN_YEAR,
    BusinessCalendar,
    CalendarError,
    DayRange,
    holidays_source,
    load_calendar,
    month_days,
    public_holidays,
    read_yaml,
)
from ops_driver.records.schedule.fileformat import ScheduleMissing, load, parse, save, schedule_path
from ops_driver.records.schedule.generate import Schedule, Shift, check, generate
from ops_driver.records.schedule.rules import (
    DEFAULT_SHIFT,
    DEFAULT_SHIFT_WEEKDAYS,
    SHIFTS,
    WEEKDAY_ABBR,
    WEEKDAYS,
    Exclusion,
    Rule,
    Rules,
    ScheduleError,
    check_schedule_name,
    check_year,
    default_exclude,
    load_rules,
    parse_exclusion,
    parse_rules,
    rules_path,
)

__all__ = [
    "DEFAULT_SHIFT", "DEFAULT_SHIFT_WEEKDAYS", "MAX_YEAR", "MIN_YEAR", "SHIFTS", "WEEKDAYS", "WEEKDAY_ABBR",
    "BusinessCalendar", "CalendarError", "DayRange", "Exclusion", "Rule", "Rules", "Schedule", "ScheduleError",
    "ScheduleMissing", "Shift", "check", "check_schedule_name", "check_year", "default_exclude", "generate",
    "holidays_source", "load", "load_calendar", "load_rules", "month_days", "parse", "parse_exclusion", "parse_rules",
    "public_holidays", "read_yaml", "rules_path", "save", "schedule_path",
]
