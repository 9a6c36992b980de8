"""The file of one year's schedule, ``schedule/<YYYY>.yml`` (see :meth:`Schedule.to_dict` for its document):
where it lives, reading (:func:`load`, :func:`parse`) and writing (:func:`save`).

A malformed file raises :class:`.rules.ScheduleError` (exit 2) naming the field and the fix; a
missing one raises :class:`ScheduleMissing` (a ScheduleError).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import yaml

from ops_driver.paths import ENVIRONMENTS, schedule_dir
from ops_driver.records.schedule.calendar import read_yaml
from ops_driver.records.schedule.generate import Schedule, Shift
from ops_driver.records.schedule.rules import ScheduleError, check_schedule_name, check_year, parse_rules

_TOP_KEYS = ("schedule", "year", "generated_at", "holidays", "rules", "dates")
_REQUIRED = ("schedule", "year", "rules", "dates")
_ENTRY_KEYS = ("date", "shifted_from", "reason")
_HOLIDAY_KEYS = ("source", "days")


class ScheduleMissing(ScheduleError):
    """No schedule file for the year (make it with ``ops-driver schedule generate --year YYYY``)."""


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


def _keys(data: dict[Any, Any], allowed: tuple[str, ...], where: str, fix: str) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise ScheduleError(f"{where}: unknown key(s) {', '.join(unknown)}; it has {', '.join(allowed)}; {fix}")


def _entry(entry: Any, where: str, fix: str) -> tuple[dt.date, Shift | None]:
    """One month's ``{date, shifted_from, reason}``: the date and the recorded shift (None when not shifted)."""
    if not isinstance(entry, dict) or "date" not in entry:
        raise ScheduleError(f"{where}: give {{date: YYYY-MM-DD}} (plus shifted_from and reason when shifted)")
    _keys(entry, _ENTRY_KEYS, where, fix)
    day = _as_date(entry["date"], f"{where}.date")
    if entry.get("shifted_from") is None and entry.get("reason") is None:
        return day, None
    if entry.get("shifted_from") is None:
        raise ScheduleError(f"{where}.shifted_from: missing; a date with a reason records the rule's day it was moved "
                            f"from (shifted_from: YYYY-MM-DD); {fix}")
    shifted_from = _as_date(entry["shifted_from"], f"{where}.shifted_from")
    reason = entry.get("reason")
    if not isinstance(reason, str):
        raise ScheduleError(f"{where}.reason: {'missing' if reason is None else f'{reason!r} is not a text'}; a "
                            f"shifted date records why its rule's day ({shifted_from}) was not used, e.g. "
                            f"reason: 祝日 こどもの日; {fix}")
    return day, Shift(shifted_from=shifted_from, reason=reason)


def _generated_at(value: Any, where: str, fix: str) -> str:
    if value is None or isinstance(value, str | dt.datetime):
        return str(value or "")
    raise ScheduleError(f"{where}: {value!r} is not a time; write it quoted as 'YYYY-MM-DDTHH:MM:SSZ' (UTC), or {fix}")


def _holidays_source(value: Any, where: str, fix: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, dict):
        raise ScheduleError(f"{where}: give a mapping {{source: holidays X.Y (JP), days: {{YYYY-MM-DD: name}}}}; {fix}")
    _keys(value, _HOLIDAY_KEYS, where, fix)
    source, days = value.get("source", ""), value.get("days", {})
    if not isinstance(source, str):
        raise ScheduleError(f"{where}.source: {source!r} is not a text; write e.g. 'holidays 0.109 (JP)', or {fix}")
    if not isinstance(days, dict):
        raise ScheduleError(f"{where}.days: give a mapping YYYY-MM-DD -> holiday name; {fix}")
    return source


def parse(data: Any, source: str = "<schedule>") -> Schedule:
    """A schedule document (see :meth:`Schedule.to_dict`) as a :class:`Schedule`; ScheduleError (exit 2) when it is
    malformed: not a mapping, an unknown key, a missing key (``schedule``, ``year``, ``rules``, ``dates``; a
    month's ``date``; ``shifted_from`` and ``reason`` go together), a wrongly typed value (the schedule name, the
    year, the rules, an environment or month key, ``generated_at``, ``holidays``, a reason that is not a text) or a
    bad date. The message names the field and the fix.

    Only the shape is checked here; whether the dates hold is :func:`check`'s job (a missing month, a holiday,
    another schedule's name, an unknown environment, a blank reason and the like are problems it lists, not
    errors).
    """
    if not isinstance(data, dict):
        raise ScheduleError(f"{source}: not a schedule (a mapping with schedule, year, rules, dates); regenerate it "
                            "with `ops-driver schedule generate --year YYYY --force`")
    if "year" not in data:
        raise ScheduleError(f"{source}: year: missing; regenerate it with `ops-driver schedule generate --year YYYY "
                            "--force`")
    year = check_year(data["year"], f"{source}: year")
    fix = f"regenerate it with `ops-driver schedule generate --year {year} --force`"
    for key in _REQUIRED:
        if key not in data:
            raise ScheduleError(f"{source}: {key}: missing; {fix}")
    _keys(data, _TOP_KEYS, source, fix)
    name = check_schedule_name(data["schedule"], f"{source}: schedule")
    rules = parse_rules(data["rules"], f"{source}: rules")
    if not isinstance(data["dates"], dict):
        raise ScheduleError(f"{source}: dates: give a mapping environment -> month (1-12) -> {{date: YYYY-MM-DD}}")
    dates: dict[str, dict[int, dt.date]] = {}
    shifts: dict[str, dict[int, Shift]] = {}
    for env, months in data["dates"].items():
        where = f"{source}: dates.{env}"
        if not isinstance(env, str):
            raise ScheduleError(f"{source}: dates: {env!r} is not an environment name; use {', '.join(ENVIRONMENTS)}")
        if not isinstance(months, dict):
            raise ScheduleError(f"{where}: give a mapping month (1-12) -> {{date: YYYY-MM-DD}}")
        dates[env] = {}
        for month, entry in months.items():
            w = f"{where}.{month}"
            if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
                raise ScheduleError(f"{w}: {month!r} is not a month; use 1 to 12")
            dates[env][month], shift = _entry(entry, w, fix)
            if shift is not None:
                shifts.setdefault(env, {})[month] = shift
    return Schedule(name=name, year=year, rules=rules, dates=dates, shifts=shifts,
                    generated_at=_generated_at(data.get("generated_at"), f"{source}: generated_at", fix),
                    holidays=_holidays_source(data.get("holidays"), f"{source}: holidays", fix))


def load(path: Path) -> Schedule:
    """Read ``schedule/<YYYY>.yml``. ScheduleMissing when absent, ScheduleError when unreadable or malformed."""
    if not path.is_file():
        year = path.stem if path.stem.isdigit() else "YYYY"
        raise ScheduleMissing(f"{path}: no schedule for {year}; make it with `ops-driver schedule generate "
                              f"--year {year}`")
    return parse(read_yaml(path, "schedule", "generate it", ScheduleError), str(path))


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
