"""The file of one year's schedule, ``schedule/<YYYY>.yml`` (see :meth:`Schedule.to_dict` for its document):
where it lives, reading (:func:`load`, :func:`parse`) and writing (:func:`save`).

A malformed file raises :class:`~ops_driver.schedule.rules.ScheduleError` (exit 2) naming the field and the fix; a
missing one raises :class:`ScheduleMissing` (a ScheduleError).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import yaml

from ..paths import schedule_dir
from .calendar import read_yaml
from .generate import Schedule, Shift
from .rules import ScheduleError, check_year, parse_rules


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
