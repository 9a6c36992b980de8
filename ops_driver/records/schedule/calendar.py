"""The one definition of a Japanese business day (営業日) in the project, and Japan's public holidays.

A day is a **business day** unless it is

- a Saturday or a Sunday,
- a public holiday of Japan: 祝日, 振替休日 (a holiday on a Sunday moves to the next weekday) and 国民の休日 (a
  weekday between two holidays), from the ``holidays`` library,
- in a non-business period of ``schedule/calendar.yml`` (:func:`calendar_path`): by default 年末年始, from 12-29
  to 01-03 of every year.

The non-business periods of ``schedule/calendar.yml`` are also the default ``exclude`` of the schedule rules
(:func:`.rules.default_exclude`), so the annual schedules and the business days never disagree
about 年末年始: change the period in that one file and both follow.

Functions (each takes an optional ``cal``, a :class:`BusinessCalendar`; default: :func:`load_calendar`):
:func:`is_business_day`, :func:`non_business_reason`, :func:`business_days`, :func:`nth_business_day`,
:func:`last_business_day`, :func:`next_business_day`, :func:`previous_business_day`; and :func:`public_holidays`,
:func:`holiday_name`, :func:`month_days`.

Dates are :class:`datetime.date` (not datetimes) in the Japanese calendar (Asia/Tokyo, UTC+9, no daylight saving
time), in the years :data:`MIN_YEAR` .. :data:`MAX_YEAR` (the ``holidays`` library knows Japan up to 2099; outside
it would silently know no holiday). A bad calendar file, a day outside those years or an impossible question (the
9th business day of a month that has 8) raise :class:`CalendarError` (an InvalidInput: exit 2) saying what to fix.
"""

from __future__ import annotations

import calendar as stdlib_calendar
import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ops_driver.errors import InvalidInput
from ops_driver.paths import project_root, read_text

MIN_YEAR, MAX_YEAR = 2000, 2099  # the holidays library knows Japan's calendar up to 2099
WEEKEND = (5, 6)  # Saturday, Sunday (datetime weekday numbers)
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SEARCH_DAYS = 366  # next/previous business day: how far to look before calling the calendar impossible

_MD = r"(\d{2})-(\d{2})"
_YMD = r"(\d{4})-(\d{2})-(\d{2})"
_PERIOD_KEYS = {"name", "days"}


class CalendarError(InvalidInput):
    """Bad calendar file, a day outside the calendar's years, or a business day that does not exist: exit 2."""


# ---------------------------------------------------------------- days and ranges of days

def month_days(year: int, month: int) -> list[dt.date]:
    """Every day of ``year``-``month``, the 1st first."""
    return [dt.date(year, month, d) for d in range(1, stdlib_calendar.monthrange(year, month)[1] + 1)]


@dataclass(frozen=True)
class DayRange:
    """Days written ``YYYY-MM-DD``, ``MM-DD`` (every year) or a range ``A..B`` of either form (both ends included).

    An every-year range may wrap the year end (``12-29..01-03``). ``spec`` is the text as written.
    """

    spec: str
    start: tuple[int, int, int]  # (year or 0 for every year, month, day)
    end: tuple[int, int, int]

    def matches(self, day: dt.date) -> bool:
        """Whether ``day`` is one of the range's days."""
        if self.start[0]:
            return dt.date(*self.start) <= day <= dt.date(*self.end)
        md, lo, hi = (day.month, day.day), self.start[1:], self.end[1:]
        return lo <= md <= hi if lo <= hi else (md >= lo or md <= hi)


def parse_day_range(spec: Any, where: str, error: type[InvalidInput] = CalendarError) -> DayRange:
    """Parse one day or range (see :class:`DayRange`); ``error`` (default CalendarError) naming ``where`` when it
    is not one of the documented forms, mixes a dated and an every-year end, or ends before it starts.
    """
    text = spec.isoformat() if isinstance(spec, dt.date) else spec
    fix = f"{where}: {spec!r} is not a day or a range; use YYYY-MM-DD, MM-DD (every year) or A..B, e.g. 12-29..01-03"
    if not isinstance(text, str):
        raise error(fix)
    parts = [p.strip() for p in text.split("..")]
    if len(parts) not in (1, 2):
        raise error(fix)
    ends: list[tuple[int, int, int]] = []
    for p in parts:
        m = re.fullmatch(_YMD, p) or re.fullmatch(_MD, p)
        if not m:
            raise error(fix)
        nums = [int(g) for g in m.groups()]
        ymd = (nums[0], nums[1], nums[2]) if len(nums) == 3 else (0, nums[0], nums[1])
        try:
            dt.date(ymd[0] or 2000, ymd[1], ymd[2])  # 2000 is a leap year: 02-29 is a valid every-year day
        except ValueError:
            raise error(fix) from None
        ends.append(ymd)
    start, end = ends[0], ends[-1]
    if bool(start[0]) != bool(end[0]):
        raise error(f"{where}: {text!r} mixes a dated and an every-year day; write both ends alike")
    if start[0] and dt.date(*start) > dt.date(*end):
        raise error(f"{where}: {text!r} ends before it starts; write the earlier day first")
    return DayRange(spec=text, start=start, end=end)


# ---------------------------------------------------------------- public holidays

@functools.lru_cache(maxsize=128)
def _holidays(year: int, language: str) -> Mapping[dt.date, str]:
    import holidays

    jp = holidays.country_holidays("JP", years=year, language=language)
    return MappingProxyType(dict(sorted((d, str(n)) for d, n in jp.items())))


def public_holidays(year: int) -> dict[dt.date, str]:
    """Japan's public holidays of ``year`` (祝日, 振替休日, 国民の休日): ``{date: Japanese name}``."""
    return dict(_holidays(year, "ja"))


def holiday_name(day: dt.date) -> str | None:
    """``"元日 (New Year's Day)"``: the Japanese and the English name of the public holiday on ``day``, else None.

    CalendarError when ``day`` is not a date of :data:`MIN_YEAR` .. :data:`MAX_YEAR`.
    """
    _check_day(day, "day")
    ja = _holidays(day.year, "ja").get(day)
    return None if ja is None else f"{ja} ({_holidays(day.year, 'en_US')[day]})"


def holidays_source() -> str:
    """Which holiday calendar generated a schedule, e.g. ``holidays 0.109 (JP)``."""
    from importlib import metadata

    return f"holidays {metadata.version('holidays')} (JP)"


# ---------------------------------------------------------------- the calendar file

@dataclass(frozen=True)
class Period:
    """A configured non-business period: its ``name`` (what :func:`non_business_reason` says) and its ``days``."""

    name: str
    days: DayRange


@dataclass(frozen=True)
class BusinessCalendar:
    """The non-business periods on top of weekends and public holidays (the content of ``schedule/calendar.yml``)."""

    periods: tuple[Period, ...]
    source: str = "<calendar>"

    def period_of(self, day: dt.date) -> Period | None:
        """The first period that covers ``day``, else None."""
        return next((p for p in self.periods if p.days.matches(day)), None)


def calendar_path() -> Path:
    """``<project>/schedule/calendar.yml`` (the agreed calendar lives in the repository)."""
    return project_root() / "schedule" / "calendar.yml"


def parse_calendar(data: Any, source: str = "<calendar>") -> BusinessCalendar:
    """Validate a calendar mapping (the content of ``schedule/calendar.yml``) and return :class:`BusinessCalendar`.

    Shape::

        non_business_days:                     # [] when only weekends and public holidays are closed
          - name: 年末年始                     # what non_business_reason() says for these days
            days: "12-29..01-03"               # YYYY-MM-DD, MM-DD (every year) or A..B of either form

    Raises CalendarError (exit 2) naming the field and the fix.
    """
    if not isinstance(data, dict) or set(map(str, data)) != {"non_business_days"}:
        raise CalendarError(f"{source}: the calendar is a mapping with the one key non_business_days "
                            "(a list of {name, days}); restore schedule/calendar.yml")
    entries = data["non_business_days"]
    if not isinstance(entries, list):
        raise CalendarError(f"{source}: non_business_days: give a list of {{name, days}}, e.g. "
                            "[{name: 年末年始, days: '12-29..01-03'}], or [] for none")
    periods = []
    for i, entry in enumerate(entries):
        where = f"{source}: non_business_days[{i}]"
        if not isinstance(entry, dict) or set(map(str, entry)) != _PERIOD_KEYS:
            raise CalendarError(f"{where}: give exactly the keys name and days, e.g. {{name: 年末年始, days: "
                                "'12-29..01-03'}")
        name = entry["name"]
        if not isinstance(name, str) or not name.strip():
            raise CalendarError(f"{where}.name: {name!r} is not a name; give the words a report shows, e.g. 年末年始")
        periods.append(Period(name=name.strip(), days=parse_day_range(entry["days"], f"{where}.days")))
    return BusinessCalendar(periods=tuple(periods), source=source)


@functools.lru_cache(maxsize=8)
def _load_calendar(path: Path, stamp: tuple[int, int]) -> BusinessCalendar:
    return parse_calendar(read_yaml(path, "calendar file", "restore schedule/calendar.yml", CalendarError), str(path))


def load_calendar(path: Path | None = None) -> BusinessCalendar:
    """Read and validate a calendar file (default :func:`calendar_path`); read again only when it changes.

    Raises CalendarError (exit 2) when it is missing, unreadable or malformed.
    """
    path = (path or calendar_path()).resolve()
    try:
        st = path.stat()
    except OSError:
        st = None  # read_yaml says what is wrong
    return _load_calendar(path, (st.st_mtime_ns, st.st_size) if st else (0, -1))


def read_yaml(path: Path, what: str, fix: str, error: type[InvalidInput] = CalendarError) -> Any:
    """The YAML content of ``path`` (the calendar, the schedule rules, a year's schedule).

    Raises ``error`` (an InvalidInput: exit 2) when the file is missing (with ``fix``), unreadable or not YAML
    (naming the line and column).
    """
    text = read_text(path, what, fix, error)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}; fix the syntax") from None


# ---------------------------------------------------------------- business days

def _check_day(day: Any, where: str) -> dt.date:
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise CalendarError(f"{where}: {day!r} is not a date; give a datetime.date (YYYY-MM-DD)")
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise CalendarError(f"{where}: {day} is outside the calendar; it knows the years {MIN_YEAR} to {MAX_YEAR}")
    return day


def _check_month(year: Any, month: Any) -> None:
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        raise CalendarError(f"year: {year!r} is outside the calendar; it knows the years {MIN_YEAR} to {MAX_YEAR}")
    if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
        raise CalendarError(f"month: {month!r} is not a month; use 1 to 12")


def non_business_reason(day: dt.date, cal: BusinessCalendar | None = None) -> str | None:
    """Why ``day`` is not a business day, else None (a business day).

    The first that applies: the public holiday (``"元日 (New Year's Day)"``, ``"振替休日 (Substitute Holiday)"``),
    the calendar's period (``"年末年始"``), the weekend (``"Saturday"``, ``"Sunday"``). CalendarError for a day
    outside :data:`MIN_YEAR` .. :data:`MAX_YEAR` or a bad calendar file.
    """
    holiday = holiday_name(day)
    if holiday:
        return holiday
    period = (cal or load_calendar()).period_of(day)
    if period:
        return period.name
    return WEEKDAY_NAMES[day.weekday()] if day.weekday() in WEEKEND else None


def is_business_day(day: dt.date, cal: BusinessCalendar | None = None) -> bool:
    """Whether ``day`` is a business day: not a weekend, a public holiday or in a period of the calendar."""
    return non_business_reason(day, cal) is None


def business_days(year: int, month: int, cal: BusinessCalendar | None = None) -> list[dt.date]:
    """The business days of ``year``-``month`` in order (empty only if a period covers every weekday)."""
    _check_month(year, month)
    cal = cal or load_calendar()
    return [d for d in month_days(year, month) if is_business_day(d, cal)]


def nth_business_day(year: int, month: int, n: int, cal: BusinessCalendar | None = None) -> dt.date:
    """The ``n``-th business day of ``year``-``month`` (第n営業日): ``n`` 1, 2, … from the start; -1 the last, -2 the
    one before, … from the end.

    CalendarError when ``n`` is 0 or not an int, or the month has fewer than ``abs(n)`` business days.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n == 0:
        raise CalendarError(f"n: {n!r} is not a business-day number; use 1, 2, … (from the start) or -1, -2, … "
                            "(from the end)")
    days = business_days(year, month, cal)
    if abs(n) > len(days):
        raise CalendarError(f"{year}-{month:02d} has {len(days)} business days, so there is no business day {n}; "
                            f"use a number from 1 to {len(days)} or from -1 to -{len(days)}")
    return days[n - 1] if n > 0 else days[n]


def last_business_day(year: int, month: int, cal: BusinessCalendar | None = None) -> dt.date:
    """The last business day of ``year``-``month`` (最終営業日)."""
    return nth_business_day(year, month, -1, cal)


def _step_to_business_day(day: dt.date, step: int, cal: BusinessCalendar | None) -> dt.date:
    _check_day(day, "day")
    cal = cal or load_calendar()
    for i in range(1, SEARCH_DAYS + 1):
        other = _check_day(day + dt.timedelta(days=step * i), f"{'next' if step > 0 else 'previous'} business day")
        if is_business_day(other, cal):
            return other
    raise CalendarError(f"{cal.source}: no business day within {SEARCH_DAYS} days of {day}; the non_business_days "
                        "cover the whole year, narrow them")


def next_business_day(day: dt.date, cal: BusinessCalendar | None = None) -> dt.date:
    """The first business day after ``day`` (``day`` itself never counts: for "``day``, or the next business day
    if it is not one", write ``day if is_business_day(day) else next_business_day(day)``).

    CalendarError when that day would be after :data:`MAX_YEAR` or the calendar closes a whole year.
    """
    return _step_to_business_day(day, 1, cal)


def previous_business_day(day: dt.date, cal: BusinessCalendar | None = None) -> dt.date:
    """The last business day before ``day`` (``day`` itself never counts; see :func:`next_business_day`)."""
    return _step_to_business_day(day, -1, cal)
