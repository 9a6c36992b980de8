"""Generation and check of one year of an annual schedule: one date per month per environment of the rules.

:func:`generate` makes a :class:`Schedule` from :class:`~ops_driver.records.schedule.rules.Rules` and Japan's public
holidays; :func:`check` lists every way a schedule breaks its rules (an empty list: it holds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ops_driver.records.schedule.calendar import holidays_source, month_days, public_holidays
from ops_driver.records.schedule.rules import WEEKDAYS, Rules, ScheduleError, check_year


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
        """The date of ``environment`` in ``month`` (1-12), None when the schedule has none."""
        return self.dates.get(environment, {}).get(month)

    def shift_of(self, environment: str, month: int) -> Shift | None:
        """Why that date is not its rule's day, None when it is the rule's day (or there is no date)."""
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
    days = month_days(start.year, start.month)
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
