"""Which catalog tasks are due on a day or in a month: the catalog's cycles and timings on the business-day calendar.

Business days come from :mod:`.schedule.calendar` (the project's one definition: weekends, Japan's public
holidays with 振替休日 and 国民の休日, and the non-business periods of ``schedule/calendar.yml``, 年末年始 by default).
The rules, by the catalog's ``cycle`` and ``timing`` (``catalog/schema/catalog.schema.json``):

==========  ===============================  ========================================  ============================
cycle       timing                           due on                                    done on time until
==========  ===============================  ========================================  ============================
any         ``automation.schedule`` (CORE-049)  each environment's date in ``schedule/<YYYY>.yml``  that day
daily       ``continuous: true`` (24H)       every day                                 that day
daily       —                                every business day                        that day
weekly      ``weekday: W``                   W, or the next business day up to Sunday  the week's Sunday
weekly      —                                the 1st business day of the week          the week's Sunday
monthly     ``business_day: N``              the Nth business day (第N営業日)           that day
monthly     ``business_days: [A, …, B]``     the Ath to the Bth business day           the Bth
monthly     ``last_business_day: true``      the last business day (最終営業日)         that day
monthly     ``day: D``                       day D (a shorter month: its last day), or the next business day   that day
monthly     —                                the 1st business day                      the month's last day
yearly      ``months: [M, …]`` (+ the above) in month M, as a monthly task                 as monthly
yearly      no ``months``                    not placed on a day: listed as *unplaced*
on_demand   —                                never (随時: on request)
==========  ===============================  ========================================  ============================

Weeks run Monday to Sunday; a week with no business day from its due weekday to Sunday has no occurrence. An
occurrence belongs to the month of its first due day. Notes of the catalog (``timing.note_ja``, e.g. 協会営業日,
週次および月次) are carried along for the reader; they change no date.

Month and date arguments are parsed by :func:`parse_month` and :func:`parse_date` (InvalidInput, exit 2, naming the
option); a day outside the calendar's years raises CalendarError (exit 2).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops_driver import i18n
from ops_driver.catalog import Catalog, Task
from ops_driver.errors import InvalidInput
from ops_driver.i18n import N_, Phrase, Words, phrase
from ops_driver.paths import project_root
from ops_driver.records.schedule import ScheduleError, ScheduleMissing, load, schedule_path
from ops_driver.records.schedule.calendar import (
    MIN_YEAR,
    WEEKDAY_NAMES,
    BusinessCalendar,
    business_days,
    is_business_day,
    last_business_day,
    load_calendar,
    month_days,
    next_business_day,
    non_business_reason,
    nth_business_day,
)

CYCLES = ("daily", "weekly", "monthly", "yearly", "on_demand")
WEEKDAYS = tuple(w.lower() for w in WEEKDAY_NAMES)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_month(text: str | None, option: str = "--month") -> tuple[int, int]:
    """``"2026-11"`` → ``(2026, 11)``; InvalidInput (exit 2) naming ``option`` for anything else."""
    m = _MONTH.match(text or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise InvalidInput(f"{option}: {text!r} is not a month; write YYYY-MM, e.g. {option} 2026-11")
    return int(m.group(1)), int(m.group(2))


def parse_date(text: str | None, option: str = "--date") -> dt.date:
    """``"2026-11-02"`` → the date; InvalidInput (exit 2) naming ``option`` for anything else (``2026-02-30`` too)."""
    try:
        if _DATE.match(text or ""):
            return dt.date.fromisoformat(str(text))
    except ValueError:
        pass
    raise InvalidInput(f"{option}: {text!r} is not a date; write YYYY-MM-DD, e.g. {option} 2026-11-02")


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _nth(n: int) -> Words:
    """An ordinal in each language: ``6th`` / ``第6``."""
    return Words(ordinal(n), f"第{n}")


def _day_word(reason: str | None) -> Phrase | str:
    """Why a day is not a business day (calendar.non_business_reason), a weekend day translatable."""
    text = reason or ""
    return phrase(text) if text in i18n.WEEKDAY_WORDS else text


@dataclass(frozen=True)
class Occurrence:
    """One time a task is due.

    ``days``: the days it is due on (``due --date`` lists it on each), in order; ``until``: the last day on which
    doing it counts as on time (>= ``days[-1]``); ``why``: the rule in words (``6th business day``), in English;
    ``environment``: the environment of an annual schedule's date (CORE-049), else None (any estate the caller
    judges, see :mod:`ops_driver.records.monthly`); ``rule``: ``why`` as a phrase of the catalog (:meth:`why_in`
    another language; made by :func:`_occurrence`).
    """

    task_id: str
    days: tuple[dt.date, ...]
    until: dt.date
    why: str
    environment: str | None = None
    rule: Phrase | None = field(default=None, compare=False, repr=False)

    def why_in(self, lang: str) -> str:
        """``why`` in ``lang`` (``ja``: ``第6営業日``)."""
        return self.rule.text(lang) if self.rule is not None else self.why

    @property
    def day(self) -> dt.date:
        """The first due day."""
        return self.days[0]


@dataclass
class MonthDue:
    """Every occurrence of ``year``-``month`` (sorted by day, then task ID), the yearly tasks that name no month
    (``unplaced``: task IDs) and ``notes`` (an annual schedule that is missing or does not parse, by task)."""

    year: int
    month: int
    occurrences: list[Occurrence]
    unplaced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _occurrence(task_id: str, days: tuple[dt.date, ...], until: dt.date, rule: Phrase,
                environment: str | None = None) -> Occurrence:
    """An occurrence whose ``why`` is ``rule`` in English."""
    return Occurrence(task_id, days, until, rule.text("en"), environment, rule)


def _timing(task: Task) -> dict[str, Any]:
    t = task.raw.get("timing")
    return t if isinstance(t, dict) else {}


def _first_business_day_from(day: dt.date, cal: BusinessCalendar) -> dt.date:
    return day if is_business_day(day, cal) else next_business_day(day, cal)


def _monthly(task: Task, year: int, month: int, cal: BusinessCalendar, prefix: Phrase | str = "") -> Occurrence:
    """The one occurrence of a monthly rule (or a yearly task's month) in ``year``-``month``."""
    t = _timing(task)
    if t.get("business_day"):
        n = int(t["business_day"])
        d = nth_business_day(year, month, n, cal)
        return _occurrence(task.id, (d,), d, phrase(N_("{prefix}{nth} business day"), prefix=prefix, nth=_nth(n)))
    if t.get("business_days"):
        numbers = sorted(int(n) for n in t["business_days"])
        days = tuple(nth_business_day(year, month, n, cal) for n in range(numbers[0], numbers[-1] + 1))
        return _occurrence(task.id, days, days[-1], phrase(N_("{prefix}{first} to {last} business day"),
                                                           prefix=prefix, first=_nth(numbers[0]),
                                                           last=_nth(numbers[-1])))
    if t.get("last_business_day"):
        d = last_business_day(year, month, cal)
        return _occurrence(task.id, (d,), d, phrase(N_("{prefix}last business day"), prefix=prefix))
    last = month_days(year, month)[-1]
    if t.get("day"):
        fixed = dt.date(year, month, min(int(t["day"]), last.day))
        d = _first_business_day_from(fixed, cal)
        moved: Phrase | str = "" if d == fixed else phrase(
            N_(" ({date} is {reason}: the next business day)"), date=fixed.isoformat(),
            reason=_day_word(non_business_reason(fixed, cal)))
        return _occurrence(task.id, (d,), d, phrase(N_("{prefix}day {day} of the month{moved}"), prefix=prefix,
                                                    day=t["day"], moved=moved))
    d = nth_business_day(year, month, 1, cal)
    return _occurrence(task.id, (d,), last, phrase(N_("{prefix}monthly, no day in the catalog: from the 1st business "
                                                      "day to the end of the month"), prefix=prefix))


def _weekly(task: Task, year: int, month: int, cal: BusinessCalendar) -> list[Occurrence]:
    weekday = _timing(task).get("weekday")
    offset = WEEKDAYS.index(weekday) if weekday in WEEKDAYS else 0
    why = (phrase(N_("weekly: {weekday}, or the next business day of the week"),
                  weekday=phrase(WEEKDAY_NAMES[offset])) if weekday in WEEKDAYS
           else phrase(N_("weekly, no weekday in the catalog: the 1st business day of the week")))
    first = dt.date(year, month, 1)
    monday = first - dt.timedelta(days=first.weekday())
    out = []
    while monday <= month_days(year, month)[-1]:
        sunday = monday + dt.timedelta(days=6)
        d = _first_business_day_from(monday + dt.timedelta(days=offset), cal)
        if d <= sunday and (d.year, d.month) == (year, month):
            out.append(_occurrence(task.id, (d,), sunday, why))
        monday += dt.timedelta(days=7)
    return out


class _Schedules:
    """The annual schedules read so far, by year (None: missing or bad, with the reason in ``problems``)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.years: dict[int, Any] = {}
        self.problems: dict[int, str] = {}

    def get(self, year: int) -> Any:
        if year not in self.years:
            try:
                self.years[year] = load(schedule_path(year, self.directory))
            except (ScheduleMissing, ScheduleError) as e:
                self.years[year] = None
                self.problems[year] = str(e)
        return self.years[year]


def _scheduled(task: Task, year: int, month: int, schedules: _Schedules, notes: list[str]) -> list[Occurrence]:
    assert task.automation is not None and task.automation.schedule is not None
    sched = schedules.get(year)
    if sched is None:
        notes.append(f"{task.id}: {schedules.problems[year]}")
        return []
    if sched.name != task.automation.schedule:
        notes.append(f"{task.id}: {schedule_path(year, schedules.directory)} is the schedule {sched.name!r}, not "
                     f"{task.automation.schedule!r}")
        return []
    out = []
    for env in sched.dates:
        d = sched.date_of(env, month)
        if d is None:
            continue
        rule = sched.rules.environments.get(env)
        said: Phrase = phrase(N_("its day")) if rule is None else phrase(
            N_("{nth} {weekday}"), nth=Words("last", "最終") if rule.nth == -1 else _nth(rule.nth),
            weekday=phrase(WEEKDAY_NAMES[rule.weekday]))
        shift = sched.shift_of(env, month)
        moved: Phrase | str = "" if shift is None else phrase(
            N_(" (moved from {date}: {reason})"), date=str(shift.shifted_from), reason=shift.reason)
        why = phrase(N_("annual schedule {name}: {environment}, {rule}{moved}"), name=sched.name, environment=env,
                     rule=said, moved=moved)
        out.append(_occurrence(task.id, (d,), d, why, environment=env))
    return out


def occurrences(task: Task, year: int, month: int, cal: BusinessCalendar | None = None,
                schedule_dir: Path | None = None, _schedules: _Schedules | None = None,
                _notes: list[str] | None = None) -> list[Occurrence]:
    """The occurrences of ``task`` that belong to ``year``-``month`` (see the module's table), by day.

    An empty list for an on-demand task and for a yearly task that names no month (or not this one). CalendarError
    (exit 2) for a month outside the calendar's years or a business day the month does not have.
    """
    cal = cal or load_calendar()
    schedules = _schedules or _Schedules(schedule_dir)
    notes = [] if _notes is None else _notes
    t = _timing(task)
    if task.automation is not None and task.automation.schedule:
        return _scheduled(task, year, month, schedules, notes)
    if task.cycle == "daily":
        if t.get("continuous"):
            every_day = phrase(N_("every day (24H)"))
            return [_occurrence(task.id, (d,), d, every_day) for d in month_days(year, month)]
        every_bd = phrase(N_("every business day"))
        return [_occurrence(task.id, (d,), d, every_bd) for d in business_days(year, month, cal)]
    if task.cycle == "weekly":
        return _weekly(task, year, month, cal)
    if task.cycle == "monthly":
        return [_monthly(task, year, month, cal)]
    if task.cycle == "yearly" and month in (t.get("months") or []):
        return [_monthly(task, year, month, cal, prefix=phrase(
            N_("yearly in {month}: "), month=Words(f"{dt.date(year, month, 1):%B}", f"{month}月")))]
    return []


def month_due(catalog: Catalog, year: int, month: int, tasks: Iterable[Task] | None = None,
              cal: BusinessCalendar | None = None, schedule_dir: Path | None = None,
              _schedules: _Schedules | None = None) -> MonthDue:
    """Every occurrence of ``year``-``month`` for ``tasks`` (default: the whole catalog); see :class:`MonthDue`."""
    cal = cal or load_calendar()
    business_days(year, month, cal)  # CalendarError (exit 2) at once for a month outside the calendar
    schedules = _schedules or _Schedules(schedule_dir)
    notes: list[str] = []
    found: list[Occurrence] = []
    unplaced = []
    for task in sorted(catalog.tasks.values() if tasks is None else tasks, key=lambda t: t.id):
        if task.cycle == "yearly" and not _timing(task).get("months") and not (
                task.automation and task.automation.schedule):
            unplaced.append(task.id)
            continue
        found += occurrences(task, year, month, cal, _schedules=schedules, _notes=notes)
    found.sort(key=lambda o: (o.day, o.task_id, o.environment or ""))
    return MonthDue(year=year, month=month, occurrences=found, unplaced=unplaced, notes=list(dict.fromkeys(notes)))


def _may_spill(task: Task) -> bool:
    """Whether an occurrence of ``task`` can fall in the month after the one it belongs to (a week that starts in
    one month, a fixed day moved to the next business day)."""
    return task.cycle == "weekly" or bool(_timing(task).get("day"))


def day_due(catalog: Catalog, day: dt.date, cal: BusinessCalendar | None = None,
            schedule_dir: Path | None = None) -> tuple[list[Occurrence], list[str]]:
    """(the occurrences due on ``day``, notes): those of ``day``'s month, and of the month before for the tasks
    whose occurrence can fall in the next month, that list ``day`` among their days."""
    cal = cal or load_calendar()
    schedules = _Schedules(schedule_dir)
    this = month_due(catalog, day.year, day.month, cal=cal, _schedules=schedules)
    found = [o for o in this.occurrences if day in o.days]
    before = day.replace(day=1) - dt.timedelta(days=1)
    spill = [t for t in catalog.tasks.values() if _may_spill(t)]
    if spill and before.year >= MIN_YEAR:
        found += [o for o in month_due(catalog, before.year, before.month, spill, cal, _schedules=schedules).occurrences
                  if day in o.days]
    return found, this.notes


# ---------------------------------------------------------------- what to tell the reader

def example_request(task: Task) -> Path | None:
    """The sample work request of an automated task (``examples/requests/<id>-*.yml``, first by name), else None."""
    folder = project_root() / "examples" / "requests"
    found = sorted(folder.glob(f"{task.id.lower()}-*.yml")) if folder.is_dir() else []
    return found[0] if found else None


def describe(o: Occurrence, task: Task) -> dict[str, Any]:
    """One occurrence as the JSON of ``due``: ``id``, ``name_ja``, ``name_en``, ``cycle``, ``cycle_ja``, ``why``,
    ``why_ja`` (the rule in Japanese), ``note_ja``, ``environment``, ``days`` and ``until`` (ISO dates),
    ``automated``, and for an automated task
    ``playbook``, ``tags`` and ``command`` (``ops-driver plan`` with its sample request when there is one)."""
    out: dict[str, Any] = {"id": task.id, "name_ja": task.name_ja, "name_en": task.name_en, "cycle": task.cycle,
                           "cycle_ja": task.cycle_ja, "why": o.why, "why_ja": o.why_in("ja"),
                           "note_ja": _timing(task).get("note_ja"),
                           "environment": o.environment, "days": [d.isoformat() for d in o.days],
                           "until": o.until.isoformat(), "automated": task.automated}
    if task.automation is not None:
        sample = example_request(task)
        where = sample.relative_to(project_root()).as_posix() if sample else "REQUEST.yml"
        out.update(playbook=task.automation.playbook, tags=list(task.automation.tags),
                   command=f"ops-driver plan {where}" + ("" if sample else f"  (a work request with task: {task.id})"))
    return out


def day_json(catalog: Catalog, day: dt.date, cal: BusinessCalendar | None = None,
             schedule_dir: Path | None = None,
             due_on_day: tuple[list[Occurrence], list[str]] | None = None) -> dict[str, Any]:
    """The answer of ``due --date``: ``date``, ``weekday``, ``business_day`` (bool), ``non_business_reason``,
    ``tasks`` (:func:`describe` each, automated first), ``count``, ``automated`` (how many) and ``notes``.
    ``due_on_day``: :func:`day_due` of ``day`` when the caller has it already."""
    cal = cal or load_calendar()
    found, notes = due_on_day or day_due(catalog, day, cal, schedule_dir)
    tasks = sorted((describe(o, catalog.tasks[o.task_id]) for o in found),
                   key=lambda d: (not d["automated"], d["id"], d["environment"] or ""))
    return {"date": day.isoformat(), "weekday": WEEKDAY_NAMES[day.weekday()],
            "business_day": is_business_day(day, cal), "non_business_reason": non_business_reason(day, cal),
            "tasks": tasks, "count": len(tasks), "automated": sum(1 for t in tasks if t["automated"]), "notes": notes}


def day_text(data: dict[str, Any]) -> str:
    """:func:`day_json` as lines: a heading, then per task ID, cycle, why, automated or manual and the name; under
    an automated task its command and playbook."""
    state = "a business day" if data["business_day"] else f"not a business day: {data['non_business_reason']}"
    lines = [f"{data['date']} ({data['weekday']}), {state}: {data['count']} task(s) due, "
             f"{data['automated']} automated"]
    for t in data["tasks"]:
        why = t["why"] + (f" ({t['note_ja']})" if t.get("note_ja") and t["note_ja"] not in t["why"] else "")
        env = f" [{t['environment']}]" if t["environment"] else ""
        lines.append(f"  {t['id']:<9}{t['cycle']:<9}{'automated' if t['automated'] else 'manual':<10}"
                     f"{t['name_ja']} ({t['name_en']}){env}: {why}")
        if t["automated"]:
            lines.append(f"  {'':<28}{t['command']}   playbook {t['playbook']}")
    lines += [f"note: {n}" for n in data["notes"]]
    return "\n".join(lines)


def month_json(catalog: Catalog, year: int, month: int, cal: BusinessCalendar | None = None,
               schedule_dir: Path | None = None) -> dict[str, Any]:
    """The answer of ``due --month``: ``month``; ``days`` (each ``date``, ``weekday``, ``business_day``,
    ``business_day_number`` (1, 2, … or None), ``non_business_reason``, ``tasks``: the IDs due that day, and
    ``occurrences``: :func:`describe` of each); ``unplaced`` (yearly tasks without ``timing.months``); ``notes``."""
    cal = cal or load_calendar()
    due = month_due(catalog, year, month, cal=cal, schedule_dir=schedule_dir)
    numbers = {d: i for i, d in enumerate(business_days(year, month, cal), 1)}
    days = []
    for d in month_days(year, month):
        found = [o for o in due.occurrences if d in o.days]
        days.append({"date": d.isoformat(), "weekday": WEEKDAY_NAMES[d.weekday()], "business_day": d in numbers,
                     "business_day_number": numbers.get(d), "non_business_reason": non_business_reason(d, cal),
                     "tasks": sorted({o.task_id for o in found}),
                     "occurrences": [describe(o, catalog.tasks[o.task_id]) for o in found]})
    return {"month": f"{year}-{month:02d}", "days": days, "unplaced": due.unplaced, "notes": due.notes,
            "business_days": len(numbers)}


def month_text(data: dict[str, Any], catalog: Catalog, lang: str = "en") -> str:
    """:func:`month_json` as a calendar in ``lang``: what is due every day and every business day once, then one
    line per day with its business-day number (or why it is not one) and the IDs of the other tasks due (``*``:
    automated, ``[env]``: an annual schedule's environment), then each rule once with the tasks it applies to."""
    _ = i18n.gettext(lang)
    ja = lang == "ja"
    every_day = set.intersection(*(set(d["tasks"]) for d in data["days"])) if data["days"] else set()
    business = [d for d in data["days"] if d["business_day"]]
    every_bd = (set.intersection(*(set(d["tasks"]) for d in business)) - every_day) if business else set()

    def ids(found: Iterable[str]) -> str:
        return " ".join(f"{i}{'*' if catalog.tasks[i].automated else ''}" for i in sorted(found))

    lines = [_("{month}: {count} business days (bd); * automated").format(month=data["month"],
                                                                          count=data["business_days"]),
             _("every day (24H): {tasks}").format(tasks=ids(every_day) or "-"),
             _("every business day: {tasks}").format(tasks=ids(every_bd) or "-")]
    rules: dict[str, list[str]] = {}
    for d in data["days"]:
        day = dt.date.fromisoformat(d["date"])
        weekday = i18n.weekday_word(WEEKDAY_NAMES[day.weekday()], lang)[:1] if ja else f"{day:%a}"
        head = f"{weekday} {day:%m-%d}  " + (f"bd {d['business_day_number']:>2}" if d["business_day"]
                                             else f"-- {i18n.weekday_word(str(d['non_business_reason']), lang)}")
        rest = [o for o in d["occurrences"] if o["id"] not in every_day | every_bd]
        for o in rest:
            why = o["why_ja"] if ja else o["why"]
            if o["id"] not in rules.setdefault(why, []):
                rules[why].append(o["id"])
        items = [f"{o['id']}{'*' if o['automated'] else ''}" + (f"[{o['environment']}]" if o["environment"] else "")
                 for o in rest]
        lines.append(head + ("   " + " ".join(items) if items else ""))
    lines += [_("rules:")] + [f"  {rule}: {ids(found)}" for rule, found in sorted(rules.items())]
    if data["unplaced"]:
        lines.append(_("yearly, no month in the catalog (timing.months), not shown: {tasks}").format(
            tasks=ids(data["unplaced"])))
    lines += [f"{_('note')}: {n}" for n in data["notes"]]
    return "\n".join(lines)
