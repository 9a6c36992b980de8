"""Annual schedules of monthly operations (CORE-049: the Dedicated Host reboot), Japanese calendar.

Seed (CORE-049): 「年間スケジュールの策定時に、Dedicated Host再起動の毎月の実施日を決定する。本番環境、災対環境、
保守環境の各環境単位で別日に実施する。」 — one date per month per environment, every environment on its own day.

Files (``schedule/`` in the project; year files in ``$OPS_SCHEDULE_DIR`` when set):

- ``schedule/rules.yml`` — the rules (see :func:`parse_rules` and the comments in the file): per environment a
  weekday and its occurrence in the month (``{weekday: saturday, nth: 2}``: the 2nd Saturday; ``nth: -1``: the
  last), what to do when that day cannot be used (``shift``, ``shift_weekdays``) and days never used (``exclude``,
  by default ``12-29..01-03``, 年末年始).
- ``schedule/<YYYY>.yml`` — the schedule of one year made by :func:`generate` and written by :func:`save`:
  per environment per month the date, plus ``shifted_from`` and ``reason`` when it is not the rule's day.

Public holidays are those of the ``holidays`` library for Japan (祝日, 振替休日 and 国民の休日 included).

Dates are :class:`datetime.date` in the Japanese calendar (Asia/Tokyo, UTC+9, no daylight saving time).
Bad rules or a bad schedule file raise :class:`ScheduleError` (an InvalidInput: exit 2) naming the field and
the fix; a missing year file raises :class:`ScheduleMissing` (a ScheduleError).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput
from .paths import ENVIRONMENTS, schedule_dir

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SHIFTS = ("next", "previous")
DEFAULT_SHIFT = "next"
DEFAULT_SHIFT_WEEKDAYS = ("saturday", "sunday")
DEFAULT_EXCLUDE = ("12-29..01-03",)  # 年末年始: from 29 December to 3 January, every year
MIN_YEAR, MAX_YEAR = 2000, 2099  # the holidays library knows Japan's calendar up to 2099
JST = dt.timezone(dt.timedelta(hours=9), "JST")  # Asia/Tokyo: UTC+9 all year (no DST since 1951)
TODAY_ENV = "OPS_TODAY"

_RULE_KEYS = {"weekday", "nth", "shift", "shift_weekdays", "exclude", "note"}
_TOP_KEYS = {"schedule", "shift", "shift_weekdays", "exclude", "environments", "note"}
_MD = r"(\d{2})-(\d{2})"
_YMD = r"(\d{4})-(\d{2})-(\d{2})"


class ScheduleError(InvalidInput):
    """Bad rules, a bad schedule file or rules that cannot be met: exit 2, nothing run."""


class ScheduleMissing(ScheduleError):
    """No schedule file for the year (make it with ``ops-driver schedule generate --year YYYY``)."""


# ---------------------------------------------------------------- rules

@dataclass(frozen=True)
class Exclusion:
    """Days never used: ``YYYY-MM-DD``, ``MM-DD`` (every year) or a range ``A..B`` of either form.

    An every-year range may wrap the year end (``12-29..01-03``).
    """

    spec: str
    start: tuple[int, int, int]  # (year or 0 for every year, month, day)
    end: tuple[int, int, int]

    def matches(self, day: dt.date) -> bool:
        if self.start[0]:
            return dt.date(*self.start) <= day <= dt.date(*self.end)
        md, lo, hi = (day.month, day.day), self.start[1:], self.end[1:]
        return lo <= md <= hi if lo <= hi else (md >= lo or md <= hi)


def parse_exclusion(spec: Any, where: str) -> Exclusion:
    """Parse one ``exclude`` entry; ScheduleError naming ``where`` when it is not one of the documented forms."""
    text = spec.isoformat() if isinstance(spec, dt.date) else spec
    fix = f"{where}: {spec!r} is not a day or a range; use YYYY-MM-DD, MM-DD (every year) or A..B, e.g. 12-29..01-03"
    if not isinstance(text, str):
        raise ScheduleError(fix)
    parts = [p.strip() for p in text.split("..")]
    if len(parts) not in (1, 2):
        raise ScheduleError(fix)
    ends: list[tuple[int, int, int]] = []
    for p in parts:
        m = re.fullmatch(_YMD, p) or re.fullmatch(_MD, p)
        if not m:
            raise ScheduleError(fix)
        nums = [int(g) for g in m.groups()]
        ymd = (nums[0], nums[1], nums[2]) if len(nums) == 3 else (0, nums[0], nums[1])
        try:
            dt.date(ymd[0] or 2000, ymd[1], ymd[2])  # 2000 is a leap year: 02-29 is a valid every-year day
        except ValueError:
            raise ScheduleError(fix) from None
        ends.append(ymd)
    start, end = ends[0], ends[-1]
    if bool(start[0]) != bool(end[0]):
        raise ScheduleError(f"{where}: {text!r} mixes a dated and an every-year day; write both ends alike")
    if start[0] and dt.date(*start) > dt.date(*end):
        raise ScheduleError(f"{where}: {text!r} ends before it starts; write the earlier day first")
    return Exclusion(spec=text, start=start, end=end)


@dataclass(frozen=True)
class Rule:
    """One environment's day: the ``nth`` ``weekday`` of each month (``nth`` 1-4, or -1 for the last).

    ``weekday`` and ``shift_weekdays`` are Python weekday numbers (0 Monday .. 6 Sunday). When the rule's day is a
    holiday, excluded, or another environment's day, the date moves in the ``shift`` direction (``next`` or
    ``previous``) to the nearest day of the same month whose weekday is in ``shift_weekdays`` and that is free;
    when that direction has none it looks the other way; when the month has none, generation fails.
    """

    weekday: int
    nth: int
    shift: str = DEFAULT_SHIFT
    shift_weekdays: tuple[int, ...] = tuple(WEEKDAYS.index(w) for w in DEFAULT_SHIFT_WEEKDAYS)
    exclude: tuple[Exclusion, ...] = ()
    note: str = ""

    def describe(self) -> str:
        """``2nd Saturday``, ``last Sunday``."""
        nth = "last" if self.nth == -1 else {1: "1st", 2: "2nd", 3: "3rd"}.get(self.nth, f"{self.nth}th")
        return f"{nth} {WEEKDAYS[self.weekday].capitalize()}"

    def day(self, year: int, month: int) -> dt.date:
        """The rule's day in ``year``-``month`` (before any shift)."""
        days = [d for d in _month_days(year, month) if d.weekday() == self.weekday]
        return days[self.nth - 1] if self.nth > 0 else days[-1]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"weekday": WEEKDAYS[self.weekday], "nth": self.nth, "shift": self.shift,
                               "shift_weekdays": [WEEKDAYS[w] for w in self.shift_weekdays]}
        if self.exclude:
            out["exclude"] = [e.spec for e in self.exclude]
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Rules:
    """The rules of one named schedule. ``environments`` is ordered: earlier environments keep their day first."""

    name: str
    environments: dict[str, Rule]
    exclude: tuple[Exclusion, ...] = tuple(parse_exclusion(s, "exclude") for s in DEFAULT_EXCLUDE)
    source: str = field(default="<rules>", compare=False)

    def excluded_by(self, environment: str, day: dt.date) -> str | None:
        """The ``exclude`` entry (global or the environment's) that covers ``day``, else None."""
        rule = self.environments.get(environment)
        for e in (*self.exclude, *(rule.exclude if rule else ())):
            if e.matches(day):
                return e.spec
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"schedule": self.name, "exclude": [e.spec for e in self.exclude],
                "environments": {env: r.to_dict() for env, r in self.environments.items()}}


def _weekday(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return WEEKDAYS.index(value.strip().lower())
    raise ScheduleError(f"{where}: {value!r} is not a weekday; use one of {', '.join(WEEKDAYS)}")


def _rule(data: Any, where: str, shift: str, shift_weekdays: tuple[int, ...]) -> Rule:
    if not isinstance(data, dict):
        raise ScheduleError(f"{where}: give a mapping like {{weekday: saturday, nth: 2}} (the 2nd Saturday)")
    unknown = sorted(set(map(str, data)) - _RULE_KEYS)
    if unknown:
        raise ScheduleError(f"{where}: unknown key(s) {', '.join(unknown)}; a rule has {', '.join(sorted(_RULE_KEYS))}")
    nth = data.get("nth")
    if isinstance(nth, bool) or not isinstance(nth, int) or nth not in (1, 2, 3, 4, -1):
        raise ScheduleError(f"{where}.nth: {nth!r} is not valid; use 1, 2, 3 or 4 (the Nth of the month) or -1 "
                            "(the last: not every month has a 5th)")
    note = data.get("note", "")
    if not isinstance(note, str):
        raise ScheduleError(f"{where}.note: give a string")
    return Rule(weekday=_weekday(data.get("weekday"), f"{where}.weekday"), nth=nth,
                shift=_shift(data.get("shift", shift), f"{where}.shift"),
                shift_weekdays=_weekdays(data.get("shift_weekdays", shift_weekdays), f"{where}.shift_weekdays"),
                exclude=_exclusions(data.get("exclude", []), f"{where}.exclude"), note=note)


def _shift(value: Any, where: str) -> str:
    if value not in SHIFTS:
        raise ScheduleError(f"{where}: {value!r} is not valid; use next (a later day) or previous (an earlier day)")
    return str(value)


def _weekdays(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return value
    if not isinstance(value, list) or not value:
        raise ScheduleError(f"{where}: give a non-empty list of weekdays, e.g. [saturday, sunday]")
    return tuple(sorted({_weekday(v, f"{where}[{i}]") for i, v in enumerate(value)}))


def _exclusions(value: Any, where: str) -> tuple[Exclusion, ...]:
    if not isinstance(value, list):
        raise ScheduleError(f"{where}: give a list of days or ranges, e.g. ['12-29..01-03', 2026-08-14]")
    return tuple(parse_exclusion(v, f"{where}[{i}]") for i, v in enumerate(value))


def parse_rules(data: Any, source: str = "<rules>") -> Rules:
    """Validate a rules mapping (the content of ``schedule/rules.yml``) and return :class:`Rules`.

    Shape::

        schedule: dedicated_host_reboot        # the name the catalog's automation.schedule refers to
        shift: next                            # default for every environment: next | previous
        shift_weekdays: [saturday, sunday]     # default: the weekdays a shifted date may fall on
        exclude: ['12-29..01-03']              # default when absent: 年末年始; [] excludes nothing
        environments:                          # every environment of paths.ENVIRONMENTS, in priority order
          prod: {weekday: saturday, nth: 2}    # may override shift, shift_weekdays; may add exclude, note

    Raises ScheduleError (exit 2) naming the field and the fix.
    """
    if not isinstance(data, dict):
        raise ScheduleError(f"{source}: the rules are a mapping with the keys schedule, environments "
                            "(and optionally shift, shift_weekdays, exclude)")
    unknown = sorted(set(map(str, data)) - _TOP_KEYS)
    if unknown:
        raise ScheduleError(f"{source}: unknown key(s) {', '.join(unknown)}; the rules have "
                            f"{', '.join(sorted(_TOP_KEYS))}")
    name = data.get("schedule")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ScheduleError(f"{source}: schedule: {name!r} is not a schedule name; give the name the catalog's "
                            "automation.schedule uses, e.g. dedicated_host_reboot")
    shift = _shift(data.get("shift", DEFAULT_SHIFT), f"{source}: shift")
    shift_weekdays = _weekdays(data.get("shift_weekdays", list(DEFAULT_SHIFT_WEEKDAYS)), f"{source}: shift_weekdays")
    exclude = _exclusions(data.get("exclude", list(DEFAULT_EXCLUDE)), f"{source}: exclude")
    envs = data.get("environments")
    if not isinstance(envs, dict) or not envs:
        raise ScheduleError(f"{source}: environments: give one rule per environment ({', '.join(ENVIRONMENTS)})")
    extra = [str(e) for e in envs if e not in ENVIRONMENTS]
    missing = [e for e in ENVIRONMENTS if e not in envs]
    if extra or missing:
        raise ScheduleError(f"{source}: environments: " + "; ".join(
            ([f"unknown {', '.join(extra)}"] if extra else []) + ([f"missing {', '.join(missing)}"] if missing else []))
            + f"; give exactly one rule for each of {', '.join(ENVIRONMENTS)}")
    rules = {str(env): _rule(r, f"{source}: environments.{env}", shift, shift_weekdays) for env, r in envs.items()}
    return Rules(name=name, environments=rules, exclude=exclude, source=source)


def rules_path() -> Path:
    """``<project>/schedule/rules.yml`` (the agreed rules live in the repository)."""
    from .paths import project_root

    return project_root() / "schedule" / "rules.yml"


def load_rules(path: Path | None = None) -> Rules:
    """Read and validate a rules file (default :func:`rules_path`). Raises ScheduleError (exit 2)."""
    path = path or rules_path()
    return parse_rules(_read_yaml(path, "rules file", "give --rules FILE or restore schedule/rules.yml"), str(path))


def _read_yaml(path: Path, what: str, fix: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScheduleError(f"{path}: no such {what}; {fix}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScheduleError(f"{path}: cannot read the {what}: {e}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScheduleError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}; fix the syntax") from None


# ---------------------------------------------------------------- calendar

def _month_days(year: int, month: int) -> list[dt.date]:
    return [dt.date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


@functools.lru_cache(maxsize=64)
def _holidays(year: int) -> tuple[tuple[dt.date, str], ...]:
    import holidays

    jp = holidays.country_holidays("JP", years=year, language="ja")
    return tuple(sorted((d, str(n)) for d, n in jp.items()))


def public_holidays(year: int) -> dict[dt.date, str]:
    """Japan's public holidays of ``year`` (祝日, 振替休日, 国民の休日): ``{date: Japanese name}``."""
    return dict(_holidays(year))


def holidays_source() -> str:
    """Which holiday calendar generated a schedule, e.g. ``holidays 0.109 (JP)``."""
    from importlib import metadata

    return f"holidays {metadata.version('holidays')} (JP)"


def check_year(year: Any, field_name: str = "--year") -> int:
    """``year`` as an int in 2000..2099; ScheduleError (exit 2) naming ``field_name`` otherwise."""
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        raise ScheduleError(f"{field_name}: {year!r} is not a year the schedule supports; give a year from "
                            f"{MIN_YEAR} to {MAX_YEAR}, e.g. {field_name} {dt.date.today().year + 1}")
    return year


# ---------------------------------------------------------------- schedule

@dataclass(frozen=True)
class Shift:
    """Why a date is not its rule's day: the rule's day (``shifted_from``) and the ``reason`` it was not used."""

    shifted_from: dt.date
    reason: str


@dataclass
class Schedule:
    """One year of one schedule: ``dates[environment][month] -> date`` (months 1..12), ``shifts`` likewise for the
    dates that are not their rule's day. ``generated_at`` is UTC ISO 8601; ``rules`` are the rules used.
    """

    name: str
    year: int
    rules: Rules
    dates: dict[str, dict[int, dt.date]]
    shifts: dict[str, dict[int, Shift]] = field(default_factory=dict)
    generated_at: str = ""
    holidays: str = ""

    def date_of(self, environment: str, month: int) -> dt.date | None:
        return self.dates.get(environment, {}).get(month)

    def shift_of(self, environment: str, month: int) -> Shift | None:
        return self.shifts.get(environment, {}).get(month)

    def to_dict(self) -> dict[str, Any]:
        """The YAML document of ``schedule/<YYYY>.yml`` (dates as :class:`datetime.date`)."""
        dates: dict[str, dict[int, dict[str, Any]]] = {}
        for env, months in self.dates.items():
            dates[env] = {}
            for month, day in sorted(months.items()):
                entry: dict[str, Any] = {"date": day}
                s = self.shift_of(env, month)
                if s:
                    entry.update(shifted_from=s.shifted_from, reason=s.reason)
                dates[env][month] = entry
        hol = {d: n for d, n in public_holidays(self.year).items()}
        return {"schedule": self.name, "year": self.year, "generated_at": self.generated_at,
                "holidays": {"source": self.holidays, "days": hol}, "rules": self.rules.to_dict(), "dates": dates}


def _blocked(rules: Rules, environment: str, day: dt.date, hol: Mapping[dt.date, str]) -> str | None:
    if day in hol:
        return f"祝日 {hol[day]}"
    spec = rules.excluded_by(environment, day)
    return f"excluded {spec}" if spec else None


def _candidates(start: dt.date, direction: str) -> Iterator[dt.date]:
    """Days of ``start``'s month, nearest first in ``direction``, then the other way (finite: ends the loop)."""
    days = _month_days(start.year, start.month)
    i = start.day - 1
    later, earlier = days[i + 1:], list(reversed(days[:i]))
    yield from (later + earlier) if direction == "next" else (earlier + later)


def generate(year: int, rules: Rules, now: dt.datetime | None = None) -> Schedule:
    """Make the schedule of ``year``: for every month, one date per environment of ``rules``.

    Every environment whose rule's day is usable (not a public holiday, not excluded) keeps it, in the rules'
    order. The others (and any environment whose day an earlier one took) move per :class:`Rule` to the nearest
    free day of the month, never onto a holiday, an excluded day, a day already taken or another environment's
    usable rule day; the move is recorded with its reason. The search is bounded by the month, so this always ends.

    Raises ScheduleError (exit 2) when a month has no such day left for an environment, or for a bad year.
    """
    check_year(year, "year")
    hol = public_holidays(year)
    dates: dict[str, dict[int, dt.date]] = {env: {} for env in rules.environments}
    shifts: dict[str, dict[int, Shift]] = {env: {} for env in rules.environments}
    for month in range(1, 13):
        nominal = {env: r.day(year, month) for env, r in rules.environments.items()}
        usable = {env: d for env, d in nominal.items() if _blocked(rules, env, d, hol) is None}
        taken: dict[dt.date, str] = {}
        for env, day in usable.items():
            if day not in taken:
                taken[day] = env
                dates[env][month] = day
        reserved = set(usable.values())
        for env, rule in rules.environments.items():
            if month in dates[env]:
                continue
            day = nominal[env]
            reason = _blocked(rules, env, day, hol) or f"same day as {taken[day]}"
            found = next((c for c in _candidates(day, rule.shift) if c.weekday() in rule.shift_weekdays
                          and c not in taken and c not in reserved and _blocked(rules, env, c, hol) is None), None)
            if found is None:
                allowed = ", ".join(WEEKDAYS[w] for w in rule.shift_weekdays)
                raise ScheduleError(f"{rules.source}: {env} {year}-{month:02d}: the {rule.describe()} ({day}) cannot "
                                    f"be used ({reason}) and no other {allowed} of the month is free of holidays, "
                                    "exclusions and other environments' days; widen shift_weekdays or narrow exclude")
            taken[found] = env
            dates[env][month] = found
            shifts[env][month] = Shift(shifted_from=day, reason=reason)
    now = now or dt.datetime.now(dt.UTC)
    sched = Schedule(name=rules.name, year=year, rules=rules, dates=dates,
                     shifts={e: s for e, s in shifts.items() if s},
                     generated_at=now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                     holidays=holidays_source())
    problems = check(sched, rules)
    if problems:  # cannot happen by construction; never hand out a schedule that does not hold
        raise ScheduleError(f"generated schedule does not hold: {'; '.join(problems)}")
    return sched


def check(schedule: Schedule, rules: Rules) -> list[str]:
    """Every problem of ``schedule`` against ``rules`` and today's holiday calendar (empty when it holds).

    Problems: another schedule name or year; an environment missing or unknown; a month without a date; a date
    outside its month; a public holiday; an excluded day; two environments on one day; a date that is not its
    rule's day without a recorded shift; a recorded shift whose ``shifted_from`` is not the rule's day, whose
    reason is empty, whose rule's day was usable (not a holiday, not excluded, not another environment's date)
    or whose date falls on a weekday outside the rule's ``shift_weekdays``.
    """
    out: list[str] = []
    year = schedule.year
    if schedule.name != rules.name:
        out.append(f"schedule {schedule.name!r} is not {rules.name!r} of the rules ({rules.source})")
    try:
        check_year(year, "year")
    except ScheduleError as e:
        return [*out, str(e)]
    hol = public_holidays(year)
    out += [f"{env}: not an environment of the rules" for env in schedule.dates if env not in rules.environments]
    by_day: dict[dt.date, list[str]] = {}
    for env, rule in rules.environments.items():
        months = schedule.dates.get(env)
        if not months:
            out.append(f"{env}: no dates at all")
            continue
        for month in range(1, 13):
            day = months.get(month)
            label = f"{env} {year}-{month:02d}"
            if day is None:
                out.append(f"{label}: missing month (no date)")
                continue
            by_day.setdefault(day, []).append(env)
            if (day.year, day.month) != (year, month):
                out.append(f"{label}: {day} is outside its month")
            if day in hol:
                out.append(f"{label}: {day} is a public holiday ({hol[day]})")
            spec = rules.excluded_by(env, day)
            if spec:
                out.append(f"{label}: {day} is excluded ({spec})")
            nominal = rule.day(year, month)
            s = schedule.shift_of(env, month)
            if s is None:
                if day != nominal:
                    out.append(f"{label}: {day} is not the {rule.describe()} ({nominal}) and no shift is recorded")
                continue
            if s.shifted_from != nominal:
                out.append(f"{label}: shifted_from {s.shifted_from} is not the {rule.describe()} ({nominal})")
            if not s.reason.strip():
                out.append(f"{label}: the shift from {s.shifted_from} has no reason")
            if day == nominal:
                out.append(f"{label}: recorded as shifted but {day} is the rule's day")
            elif day.weekday() not in rule.shift_weekdays:
                out.append(f"{label}: shifted to a {WEEKDAYS[day.weekday()]}, which shift_weekdays does not allow")
            others = [e for e, m in schedule.dates.items() if e != env and m.get(month) == nominal]
            if _blocked(rules, env, nominal, hol) is None and not others:
                out.append(f"{label}: shifted from {nominal}, which is usable (no holiday, not excluded, "
                           "no other environment's day)")
    for day, envs in sorted(by_day.items()):
        if len(envs) > 1:
            out.append(f"{day}: {' and '.join(envs)} on the same day")
    return out


# ---------------------------------------------------------------- files

def schedule_path(year: int, directory: Path | None = None) -> Path:
    """``<directory or $OPS_SCHEDULE_DIR or <project>/schedule>/<year>.yml``."""
    return (directory or schedule_dir()) / f"{year}.yml"


def _as_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ScheduleError(f"{where}: {value!r} is not a date; write YYYY-MM-DD")


def parse(data: Any, source: str = "<schedule>") -> Schedule:
    """A schedule document (see :meth:`Schedule.to_dict`) as a :class:`Schedule`; ScheduleError when malformed.

    Only the shape is checked here; whether the dates hold is :func:`check`'s job (a missing month, a holiday
    and the like are problems it lists, not errors).
    """
    fix = "regenerate it with `ops-driver schedule generate --year YYYY --force`"
    if not isinstance(data, dict):
        raise ScheduleError(f"{source}: not a schedule (a mapping with schedule, year, rules, dates); {fix}")
    for key in ("schedule", "year", "rules", "dates"):
        if key not in data:
            raise ScheduleError(f"{source}: {key}: missing; {fix}")
    year = check_year(data["year"], f"{source}: year")
    rules = parse_rules(data["rules"], f"{source}: rules")
    if not isinstance(data["dates"], dict):
        raise ScheduleError(f"{source}: dates: give a mapping environment -> month (1-12) -> {{date: YYYY-MM-DD}}")
    dates: dict[str, dict[int, dt.date]] = {}
    shifts: dict[str, dict[int, Shift]] = {}
    for env, months in data["dates"].items():
        where = f"{source}: dates.{env}"
        if not isinstance(months, dict):
            raise ScheduleError(f"{where}: give a mapping month (1-12) -> {{date: YYYY-MM-DD}}")
        dates[str(env)] = {}
        for month, entry in months.items():
            w = f"{where}.{month}"
            if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
                raise ScheduleError(f"{w}: {month!r} is not a month; use 1 to 12")
            if not isinstance(entry, dict) or "date" not in entry:
                raise ScheduleError(f"{w}: give {{date: YYYY-MM-DD}} (plus shifted_from and reason when shifted)")
            dates[str(env)][month] = _as_date(entry["date"], f"{w}.date")
            if entry.get("shifted_from") is not None or entry.get("reason") is not None:
                reason = entry.get("reason")
                shifts.setdefault(str(env), {})[month] = Shift(
                    shifted_from=_as_date(entry.get("shifted_from"), f"{w}.shifted_from"),
                    reason=reason if isinstance(reason, str) else "")
    hol = data.get("holidays")
    return Schedule(name=str(data["schedule"]), year=year, rules=rules, dates=dates, shifts=shifts,
                    generated_at=str(data.get("generated_at") or ""),
                    holidays=str(hol.get("source", "")) if isinstance(hol, dict) else "")


def load(path: Path) -> Schedule:
    """Read ``schedule/<YYYY>.yml``. ScheduleMissing when absent, ScheduleError when unreadable or malformed."""
    if not path.is_file():
        year = path.stem if path.stem.isdigit() else "YYYY"
        raise ScheduleMissing(f"{path}: no schedule for {year}; make it with `ops-driver schedule generate "
                              f"--year {year}`")
    return parse(_read_yaml(path, "schedule", "generate it"), str(path))


class _Dumper(yaml.SafeDumper):
    """Block sequences indented under their key, lists of scalars in flow style (what yamllint/ansible-lint want)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, (str, int, float, dt.date)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[Any, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style="date" in data)  # one line per date


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(dict, _represent_dict)


def save(schedule: Schedule, path: Path) -> Path:
    """Write ``schedule`` as YAML to ``path`` (atomically, parent folders made). Returns ``path``."""
    body = yaml.dump(schedule.to_dict(), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=118)
    head = (f"# Annual schedule {schedule.name} for {schedule.year}: one date per month per environment, each\n"
            f"# environment on its own day, never on a public holiday (rules: schedule/rules.yml).\n"
            f"# Made by `ops-driver schedule generate --year {schedule.year}`; check it with\n"
            f"# `ops-driver schedule check --year {schedule.year}`. shifted_from/reason: the rule's day and why\n"
            f"# it could not be used.\n---\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(head + body, encoding="utf-8")
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- today and the policy question

def today() -> tuple[dt.date, bool]:
    """Today's date in Asia/Tokyo and whether it was overridden by ``$OPS_TODAY`` (``YYYY-MM-DD``, for tests and
    rehearsals; the evidence records the override). ScheduleError (exit 2) when OPS_TODAY is not a date.
    """
    value = os.environ.get(TODAY_ENV, "").strip()
    if value:
        try:
            return dt.date.fromisoformat(value), True
        except ValueError:
            raise ScheduleError(f"{TODAY_ENV}: {value!r} is not a date; set it as YYYY-MM-DD or unset it") from None
    return dt.datetime.now(JST).date(), False


def scheduled_day(environment: str, on: dt.date, schedule_dir: Path | None = None,
                  name: str | None = None) -> tuple[bool, dt.date | None]:
    """Is ``on`` the scheduled day of ``environment`` in ``<schedule_dir>/<on.year>.yml``?

    Returns ``(on == date, date)`` where ``date`` is the environment's date of ``on``'s month, or
    ``(False, None)`` when the schedule has no date for it. Raises ScheduleMissing when the year file is absent,
    ScheduleError when it is malformed or (with ``name``) belongs to another schedule.
    """
    sched = load(schedule_path(on.year, schedule_dir))
    if name is not None and sched.name != name:
        raise ScheduleError(f"{schedule_path(on.year, schedule_dir)}: is the schedule {sched.name!r}, not {name!r}")
    day = sched.date_of(environment, on.month)
    return (day == on, day)
