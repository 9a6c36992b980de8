"""Rules of an annual schedule (``schedule/rules.yml``): per environment the Nth weekday of the month, where the
date moves when that day cannot be used, and the days never used.

:func:`load_rules` reads and :func:`parse_rules` validates them; bad rules raise :class:`ScheduleError` (an
InvalidInput: exit 2) naming the field and the fix.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops_driver.errors import InvalidInput
from ops_driver.paths import ENVIRONMENTS, project_root
from ops_driver.records.schedule.calendar import (
    MAX_YEAR,
    MIN_YEAR,
    DayRange,
    load_calendar,
    month_days,
    parse_day_range,
    read_yaml,
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SHIFTS = ("next", "previous")
DEFAULT_SHIFT = "next"
DEFAULT_SHIFT_WEEKDAYS = ("saturday", "sunday")

_RULE_KEYS = {"weekday", "nth", "shift", "shift_weekdays", "exclude", "note"}
_TOP_KEYS = {"schedule", "shift", "shift_weekdays", "exclude", "environments", "note"}


class ScheduleError(InvalidInput):
    """Bad rules, a bad schedule file or rules that cannot be met: exit 2, nothing run."""


Exclusion = DayRange
"""Days never used (an ``exclude`` entry): ``YYYY-MM-DD``, ``MM-DD`` (every year) or a range ``A..B`` of either form;
the calendar's :class:`~ops_driver.records.schedule.calendar.DayRange`."""


def parse_exclusion(spec: Any, where: str) -> Exclusion:
    """Parse one ``exclude`` entry; ScheduleError naming ``where`` when it is not one of the documented forms."""
    return parse_day_range(spec, where, ScheduleError)


def default_exclude() -> tuple[Exclusion, ...]:
    """The days every schedule excludes when its rules have no ``exclude``: the non-business periods of
    ``schedule/calendar.yml`` (年末年始, ``12-29..01-03``), the same days the business-day calendar closes.
    """
    return tuple(p.days for p in load_calendar().periods)


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
        days = [d for d in month_days(year, month) if d.weekday() == self.weekday]
        return days[self.nth - 1] if self.nth > 0 else days[-1]

    def to_dict(self) -> dict[str, Any]:
        """The rule as in ``rules.yml``, every default written out (``weekday`` and ``shift_weekdays`` by name)."""
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
    exclude: tuple[Exclusion, ...] = field(default_factory=default_exclude)
    source: str = field(default="<rules>", compare=False)

    def excluded_by(self, environment: str, day: dt.date) -> str | None:
        """The ``exclude`` entry (global or the environment's) that covers ``day``, else None."""
        rule = self.environments.get(environment)
        for e in (*self.exclude, *(rule.exclude if rule else ())):
            if e.matches(day):
                return e.spec
        return None

    def to_dict(self) -> dict[str, Any]:
        """The rules as a ``rules.yml`` mapping with ``exclude`` written out (the ``rules`` of a year file)."""
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
        exclude: ['2026-08-14']                # default when absent: schedule/calendar.yml's 年末年始;
                                               # [] excludes nothing
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
    name = check_schedule_name(data.get("schedule"), f"{source}: schedule")
    shift = _shift(data.get("shift", DEFAULT_SHIFT), f"{source}: shift")
    shift_weekdays = _weekdays(data.get("shift_weekdays", list(DEFAULT_SHIFT_WEEKDAYS)), f"{source}: shift_weekdays")
    exclude = _exclusions(data["exclude"], f"{source}: exclude") if "exclude" in data else default_exclude()
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
    return project_root() / "schedule" / "rules.yml"


def load_rules(path: Path | None = None) -> Rules:
    """Read and validate a rules file (default :func:`rules_path`). Raises ScheduleError (exit 2)."""
    path = path or rules_path()
    return parse_rules(read_yaml(path, "rules file", "give --rules FILE or restore schedule/rules.yml", ScheduleError),
                       str(path))


def check_schedule_name(name: Any, where: str) -> str:
    """``name`` when it is a schedule name (``[a-z][a-z0-9_]*``, e.g. ``dedicated_host_reboot``); ScheduleError
    (exit 2) naming ``where`` otherwise.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ScheduleError(f"{where}: {name!r} is not a schedule name; give the name the catalog's "
                            "automation.schedule uses, e.g. dedicated_host_reboot")
    return name


def check_year(year: Any, field_name: str = "--year") -> int:
    """``year`` as an int in 2000..2099; ScheduleError (exit 2) naming ``field_name`` otherwise."""
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        example = f"{field_name} " if field_name.startswith("--") else ""
        raise ScheduleError(f"{field_name}: {year!r} is not a year the schedule supports; give a year from "
                            f"{MIN_YEAR} to {MAX_YEAR}, e.g. {example}{dt.date.today().year + 1}")
    return year
