"""Today's checklist (``ops-driver due``, issue #26 item 2): every catalog task due on a day, marked from the work
on the record.

What counts as work on a task (:func:`work_of`, one verified bundle each):

- a **record** (``ops-driver record``, :mod:`.manual`): its ``result`` — ``done``, ``ng`` (done, something found)
  or ``skipped`` — on its ``date`` (the day of the work, which may be earlier than the day it was recorded);
- a successful **apply** (status ``applied``, exit 0): ``done`` on its Asia/Tokyo start date;
- a successful **check**: a plan or an apply, exit 0, of a task the catalog marks ``read_only`` (a recurring
  read-only check such as STAT-001 or the AWS daily checks: its plan reads exactly what a run reads, so it is done
  without a record).

A bundle counts only when it verifies (:func:`ops_driver.evidence.bundles.verify`) and, when there is a ledger, the
ledger holds its manifest as written; an AWX job imported from files (``source: file (unverified)``) never counts.

A due occurrence (:mod:`.due`) listed on the day is then, by the work on its task in its environment dated within
the occurrence's window (``days[0]`` … ``until``, up to today): ``done``; ``ng`` when the latest such work is an
``ng`` record; ``skipped`` when it is a ``skipped`` record; ``late`` for work dated after ``until``; else
``open``. A task with an annual schedule (CORE-049) is judged in its schedule's environment, any other in
``--environment`` (default prod, as the monthly record).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops_driver import i18n
from ops_driver.catalog import Catalog
from ops_driver.errors import InvalidInput
from ops_driver.evidence import bundles, ledger
from ops_driver.evidence.guards import JST
from ops_driver.i18n import N_
from ops_driver.paths import ENVIRONMENTS
from ops_driver.records import due
from ops_driver.records.manual import DEFAULT_ENVIRONMENT
from ops_driver.records.manual import KIND as RECORD

#: The states of a task on the day's checklist, in the order they are listed.
STATES = ("open", "ng", "late", "skipped", "done")
#: Where work comes from (:attr:`Work.source`), marked for translation.
SOURCES = (N_("record"), N_("apply"), N_("check"))
#: The ``source`` of an AWX job imported from files anyone can write (as :mod:`.monthly`): never counts.
UNVERIFIED_SOURCE = "file (unverified)"


@dataclass(frozen=True)
class Work:
    """Work on a task from one bundle: ``source`` ``record``, ``apply`` or ``check``; ``result`` ``done``, ``ng``
    or ``skipped``; ``date`` its Asia/Tokyo day; ``note`` (a record's) and ``operator``."""

    task: str
    environment: str
    date: dt.date
    source: str
    result: str
    run_id: str
    note: str = ""
    operator: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "environment": self.environment, "date": self.date.isoformat(),
                "source": self.source, "result": self.result, "run_id": self.run_id, "note": self.note,
                "operator": self.operator}


def check_environment(environment: str | None) -> str:
    """``--environment`` (default prod); InvalidInput (exit 2) for an unknown one."""
    env = environment or DEFAULT_ENVIRONMENT
    if env not in ENVIRONMENTS:
        raise InvalidInput(f"--environment: {env!r} is not an environment; use one of {', '.join(ENVIRONMENTS)}")
    return env


def work_of(m: dict[str, Any], catalog: Catalog) -> Work | None:
    """The work a verified manifest ``m`` shows (module docstring), or None (a plan that changes something, a
    failure, a refusal, an import from files)."""
    task_id, env, run_id = str(m.get("task") or ""), str(m.get("environment") or ""), str(m.get("run_id") or "")
    if m.get("source") == UNVERIFIED_SOURCE or m.get("exit_code") != 0:
        return None
    kind = m.get("kind")
    if kind == RECORD:
        try:
            day = dt.date.fromisoformat(str(m.get("date")))
        except ValueError:
            return None
        if m.get("result") not in ("done", "ng", "skipped"):
            return None
        return Work(task_id, env, day, RECORD, str(m["result"]), run_id, str(m.get("note") or ""),
                    str(m.get("operator") or ""))
    started = bundles.parse_time(m.get("started_at"))
    task = catalog.tasks.get(task_id)
    if started is None or task is None or kind not in ("plan", "apply"):
        return None
    read_only = task.automation is not None and task.automation.read_only
    if kind == "apply" and m.get("status") == "applied":
        source = "check" if read_only else "apply"
    elif read_only:
        source = "check"
    else:
        return None
    return Work(task_id, env, started.astimezone(JST).date(), source, "done", run_id, "",
                str(m.get("operator") or ""))


def _run_id_day(name: str) -> dt.date | None:
    """The UTC day in a run ID (``yyyymmddThhmmssZ-…``), or None."""
    try:
        return dt.date(int(name[0:4]), int(name[4:6]), int(name[6:8])) if name[8:9] == "T" else None
    except ValueError:
        return None


def _run_id_parts(name: str) -> tuple[str, str] | None:
    """(task ID, kind) of a run ID ``<time>-<task>-<kind>-<hex>``, or None."""
    parts = name.split("-")
    if len(parts) < 5:
        return None
    return "-".join(parts[1:-2]), parts[-2]


_RUN_ID_KEY = '"run_id":"'


def _ledger_hashes(base: Path, wanted: set[str]) -> dict[str, str] | None:
    """Run ID → the manifest SHA-256 of its ``apply`` or ``record`` ledger line, for the run IDs in ``wanted``; None
    without a ledger. Only the lines of those runs are parsed (a ledger line is written with sorted keys and no
    spaces, ledger.append: ``"run_id":"…"`` is found without parsing the line); a line written otherwise is not
    found, and its bundle then counts for nothing. The chain itself is ``evidence verify``'s to check."""
    path = ledger.path_of(base)
    out: dict[str, str] = {}
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for line in f:
                i = line.find(_RUN_ID_KEY)
                if i < 0:
                    continue
                start = i + len(_RUN_ID_KEY)
                if line[start:line.find('"', start)] not in wanted:
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                if isinstance(data, dict) and data.get("kind") in ("apply", RECORD) and data.get("run_id") in wanted:
                    out[str(data["run_id"])] = str(data.get("sha256"))
    except FileNotFoundError:
        return None
    return out


def read_work(base: Path, since: dt.date, catalog: Catalog, tasks: set[str] | None = None) -> list[Work]:
    """The work (:func:`work_of`) of every verified bundle of ``base`` made on or after ``since`` - 1 day (by the
    UTC day in its run ID: a record for an earlier day is made after it, never before), dated ``since`` or later;
    with ``tasks``, of those tasks only. Folders are chosen by their run ID (time, task, kind: plans never count)
    before any file is read, so a day's checklist reads the bundles of its own tasks only."""
    try:
        names = [e.name for e in os.scandir(base) if e.is_dir() and not e.name.startswith(".")]
    except FileNotFoundError:
        return []
    except OSError as e:
        raise InvalidInput(f"evidence folder {base}: cannot be read ({e.strerror})") from None
    lower = since - dt.timedelta(days=1)
    names = [n for n in names if (d := _run_id_day(n)) is not None and d >= lower
             and (parts := _run_id_parts(n)) is not None and parts[1] in ("apply", RECORD)
             and (tasks is None or parts[0] in tasks)]
    if not names:
        return []
    held = _ledger_hashes(base, set(names))
    out = []
    for name in sorted(names):
        b = bundles.Bundle(name, base / name)
        try:
            raw = (b.path / bundles.MANIFEST).read_bytes()
            m = json.loads(raw)
        except (OSError, ValueError):
            continue
        if not isinstance(m, dict) or (held is not None and held.get(name) != hashlib.sha256(raw).hexdigest()):
            continue
        w = work_of(m, catalog)
        if w is None or w.date < since or bundles.verify(b):
            continue
        out.append(w)
    return out


def judge(o: due.Occurrence, env: str, work: list[Work], today: dt.date) -> tuple[str, list[Work]]:
    """(state, the work that decided it) of occurrence ``o`` judged in ``env`` as of ``today`` (module docstring;
    work dated after ``today`` — a rehearsal with ``$OPS_TODAY`` — is not seen)."""
    mine = sorted((w for w in work if w.task == o.task_id and w.environment == env and o.day <= w.date <= today),
                  key=lambda w: (w.date, w.run_id))
    within = [w for w in mine if w.date <= o.until]
    if within:
        done = [w for w in within if w.result == "done"]
        last = within[-1]
        if last.result == "ng":
            return "ng", within
        return ("done" if done else last.result), within
    later = [w for w in mine if w.result in ("done", "ng")]
    if later:
        return "late", later
    return "open", []


def day(catalog: Catalog, on: dt.date, base: Path, environment: str | None = None, today: dt.date | None = None,
        only_open: bool = False) -> dict[str, Any]:
    """The checklist of ``on``: :func:`ops_driver.records.due.day_json` with, per task, ``state`` (:data:`STATES`)
    and ``work`` (:meth:`Work.as_dict` of what decided it), and ``states`` (counts), ``environment`` and
    ``open_only``; with ``only_open`` the tasks still open only (``count`` is theirs, ``due_count`` all of the
    day's). ``base``: the evidence folder."""
    env = check_environment(environment)
    found = due.day_due(catalog, on)
    data = due.day_json(catalog, on, due_on_day=found)
    occurrences = found[0]
    since = min((o.day for o in occurrences), default=on)  # a weekly window may have begun days before
    work = read_work(base, since, catalog, {o.task_id for o in occurrences})
    counts = dict.fromkeys(STATES, 0)
    tasks = []
    by_key = {(o.task_id, o.environment): o for o in occurrences}
    for t in data["tasks"]:
        o = by_key[(t["id"], t["environment"])]
        state, decided = judge(o, o.environment or env, work, today or on)
        counts[state] += 1
        t.update(state=state, work=[w.as_dict() for w in decided], judged_in=o.environment or env)
        tasks.append(t)
    data["due_count"] = len(tasks)
    if only_open:
        tasks = [t for t in tasks if t["state"] == "open"]
    tasks.sort(key=lambda t: (STATES.index(t["state"]), not t["automated"], t["id"], t["environment"] or ""))
    data.update(tasks=tasks, count=len(tasks), states=counts, environment=env, open_only=only_open)
    return data


#: The catalog's cycles in the words of the seed lists (日次, 週次, 月次, 年次, 随時).
CYCLES_JA = {"daily": "日次", "weekly": "週次", "monthly": "月次", "yearly": "年次", "on_demand": "随時"}
WEEKDAYS_JA = ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日")
_HEAD = N_("{date} ({weekday}), {business}: {due} task(s) due in {environment}, {automated} automated; {done} done, "
           "{ng} ng, {late} done late, {skipped} skipped, {open} open")


def text(data: dict[str, Any], lang: str = "en") -> str:
    """:func:`day` as lines in ``lang``: a heading with the counts, then per task its state, ID, cycle, automated or
    manual, name and rule; under an open automated task its command, under a decided one the work (run ID, note)."""
    _ = i18n.gettext(lang)
    business = _("a business day") if data["business_day"] else \
        _("not a business day: {reason}").format(reason=i18n.weekday_word(str(data["non_business_reason"]), lang))
    s = data["states"]
    ja = lang == "ja"
    weekday = WEEKDAYS_JA[dt.date.fromisoformat(data["date"]).weekday()] if ja else data["weekday"]
    lines = [_(_HEAD).format(date=data["date"], weekday=weekday, business=business, due=data["due_count"],
                             environment=data["environment"], automated=data["automated"], done=s["done"], ng=s["ng"],
                             late=s["late"], skipped=s["skipped"], open=s["open"])]
    if data["open_only"]:
        lines.append(_("open only: {count} task(s) left").format(count=data["count"]))
    for t in data["tasks"]:
        if ja:  # the seed lists' words: 日次 / 週次 …, and the catalog's note (協会営業日)
            why = CYCLES_JA.get(t["cycle"], t["cycle"]) + (f"（{t['note_ja']}）" if t.get("note_ja") else "")
        else:
            why = t["why"] + (f" ({t['note_ja']})" if t.get("note_ja") and t["note_ja"] not in t["why"] else "")
        env = f" [{t['environment']}]" if t["environment"] else ""
        name = t["name_ja"] if ja else f"{t['name_ja']} ({t['name_en']})"
        cycle = CYCLES_JA.get(t["cycle"], t["cycle"]) if ja else t["cycle"]
        lines.append(f"  [{i18n.state_word(t['state'], lang)}] {t['id']:<9}{cycle:<9}"
                     f"{_('automated') if t['automated'] else _('manual'):<10}{name}{env}: {why}")
        if t["state"] == "open" and t["automated"]:
            lines.append(f"  {'':<30}{t['command']}   {_('playbook')} {t['playbook']}")
        for w in t["work"]:
            note = f": {w['note']}" if w["note"] else ""
            lines.append(f"  {'':<30}{w['date']} {_(w['source'])} {i18n.result_word(w['result'], lang)} "
                         f"{w['run_id']}{note}")
    if data["open_only"] and not data["tasks"]:
        lines.append("  " + _("nothing left to do today"))
    lines += [f"{_('note')}: {n}" for n in data["notes"]]
    return "\n".join(lines)
