"""Guards around ``plan`` and ``apply``: a plan is applied once, while fresh, intact, under an environment lock;
a scheduled task (CORE-049) runs only on its environment's scheduled day or as a recorded emergency.

Every refusal is a :class:`PolicyRefused` (exit 4). "Is today the day" is answered here: :func:`today` (the date in
Asia/Tokyo, or ``$OPS_TODAY``) and :func:`scheduled_day` (the environment's date in the year's schedule file, read
with :mod:`ops_driver.records.schedule`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import window
from ops_driver.evidence.ledger import flock_wait

DEFAULT_PLAN_MAX_AGE_S = 24 * 3600
JST = dt.timezone(dt.timedelta(hours=9), "JST")  # Asia/Tokyo: UTC+9 all year (no DST since 1951)
TODAY_ENV = "OPS_TODAY"


PLAN_MAX_AGE_ENV = "OPS_PLAN_MAX_AGE"
#: The one environment where ``$OPS_PLAN_MAX_AGE`` may override the reviewed maximum age (recorded).
OVERRIDE_ENVIRONMENT = "sandbox"


def plan_max_age_s(environment: str | None = None, reviewed: int = DEFAULT_PLAN_MAX_AGE_S) -> int:
    """The maximum age of a plan in seconds: ``reviewed`` (``plan_max_age_s`` of ``policy/change.yml``, default
    86400: a plan is good for one day), or ``$OPS_PLAN_MAX_AGE`` in the sandbox environment.

    Raises PolicyRefused (exit 4) for ``$OPS_PLAN_MAX_AGE`` set in any other environment (the age limit is the
    reviewed one), InvalidInput (exit 2) for one that is not a whole number of seconds >= 0.
    """
    raw = os.environ.get(PLAN_MAX_AGE_ENV)
    if raw is None:
        return reviewed
    if environment != OVERRIDE_ENVIRONMENT:
        raise PolicyRefused(f"{PLAN_MAX_AGE_ENV}={raw}: the maximum age of a plan is the reviewed one "
                            f"(plan_max_age_s in policy/change.yml: {reviewed} s) outside the {OVERRIDE_ENVIRONMENT} "
                            f"environment; unset {PLAN_MAX_AGE_ENV}")
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidInput(f"{PLAN_MAX_AGE_ENV}: {raw!r} is not a whole number of seconds; set it (sandbox only) "
                           "or unset it")
    return value


def max_age_override(environment: str | None) -> list[str]:
    """``["OPS_PLAN_MAX_AGE=<value>"]`` when that override is in effect (the sandbox), for the manifest's
    ``overrides``; [] otherwise."""
    raw = os.environ.get(PLAN_MAX_AGE_ENV)
    return [f"{PLAN_MAX_AGE_ENV}={raw}"] if raw is not None and environment == OVERRIDE_ENVIRONMENT else []


def check_plan(manifest: Mapping[str, Any], now: dt.datetime, applies: Sequence[Mapping[str, Any]],
               max_age_s: int = DEFAULT_PLAN_MAX_AGE_S, before_window: bool = False) -> None:
    """Refuse a plan that failed, is older than the maximum age, or was already applied.

    ``applies`` are the manifests of the apply bundles that name this plan, finished, running or interrupted (an
    apply consumes its plan when its start is written ahead, before its playbook starts). ``max_age_s``: the
    reviewed maximum age today (``plan_max_age_s`` of ``policy/change.yml``); the limit is the smaller of it and the
    plan's own recorded ``plan_max_age_s`` (a limit never grows after the plan), unless ``$OPS_PLAN_MAX_AGE``
    overrides both in the sandbox environment (:func:`plan_max_age_s`; PolicyRefused anywhere else).
    """
    run_id = manifest.get("run_id")
    if manifest.get("status") != "planned":
        raise PolicyRefused(f"plan {run_id} ended {manifest.get('status')!r}; only a successful plan can be "
                            "applied: fix the request and plan again")
    recorded = manifest.get("plan_max_age_s")
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        max_age_s = min(max_age_s, recorded)
    environment = manifest.get("environment")
    limit = plan_max_age_s(str(environment) if environment else None, max_age_s)
    source = PLAN_MAX_AGE_ENV if max_age_override(environment) else "plan_max_age_s in policy/change.yml"
    ended = dt.datetime.fromisoformat(str(manifest["ended_at"]).replace("Z", "+00:00"))
    planned_window = window.from_record(manifest.get("window"))
    if planned_window is not None:  # judged at the window's start: the plan was approved for that time
        if not (before_window and now < planned_window.start):
            window.check_open(str(run_id), planned_window, now)
        age = (planned_window.start - ended).total_seconds()
        if age > limit:
            raise PolicyRefused(f"plan {run_id} is stale: made {int(age)} s before its window opened, the limit is "
                                f"{limit} s ({source}); plan again")
    age = (now - ended).total_seconds() if planned_window is None else age
    if age > limit:
        raise PolicyRefused(f"plan {run_id} is stale: made {int(age)} s ago, the limit is {limit} s "
                            f"({source}); plan again")
    if applies:
        done = ", ".join(f"{a.get('run_id')} ({a.get('status')})" for a in applies)
        raise PolicyRefused(f"plan {run_id} was already applied by {done}: applied or interrupted: see "
                            f"{applies[0].get('run_id')} (`ops-driver evidence show`); plan again for a new run")


DEFAULT_LOCK_WAIT_S = 10.0


def lock_wait_s() -> float:
    """``$OPS_LOCK_WAIT`` in seconds (default 10): how long an apply waits for its environment's lock."""
    try:
        return max(0.0, float(os.environ.get("OPS_LOCK_WAIT", DEFAULT_LOCK_WAIT_S)))
    except ValueError:
        return DEFAULT_LOCK_WAIT_S


@contextmanager
def environment_lock(lock_dir: Path, environment: str, holder: str, wait_s: float | None = None) -> Iterator[float]:
    """Hold an exclusive lock for ``environment`` during an apply (or the recovery of one of its runs).

    Waits at most ``wait_s`` seconds (default :func:`lock_wait_s`) for another holder to let go, then refuses
    (PolicyRefused, exit 4) naming the holder written in the lock file. Yields the seconds waited. The lock is a
    ``flock``: the kernel lets go of it when its holder's process ends, however it ends.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{environment}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        wait = lock_wait_s() if wait_s is None else wait_s
        start = time.monotonic()
        if not flock_wait(fd, wait):
            other = path.read_text(encoding="utf-8", errors="replace").strip()[:300] or "another run"
            raise PolicyRefused(f"environment {environment} is locked by {other}"
                                + (f" (waited {wait:g} s, OPS_LOCK_WAIT)" if wait else "") + "; wait for it to end")
        waited = time.monotonic() - start
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        yield waited
    finally:
        os.close(fd)


def today() -> tuple[dt.date, bool]:
    """Today's date in Asia/Tokyo and whether it was overridden by ``$OPS_TODAY`` (``YYYY-MM-DD``, for tests and
    rehearsals; the evidence records the override). InvalidInput (exit 2) when OPS_TODAY is not a date.
    """
    value = os.environ.get(TODAY_ENV, "").strip()
    if value:
        try:
            return dt.date.fromisoformat(value), True
        except ValueError:
            raise InvalidInput(f"{TODAY_ENV}: {value!r} is not a date; set it as YYYY-MM-DD or unset it") from None
    return dt.datetime.now(JST).date(), False


def _today() -> tuple[dt.date, bool]:
    """:func:`today`, looked up when called (in :func:`check_schedule` its parameter ``today`` hides the function)."""
    return today()


def scheduled_day(environment: str, on: dt.date, schedule_dir: Path | None = None,
                  name: str | None = None) -> tuple[bool, dt.date | None]:
    """Is ``on`` the scheduled day of ``environment`` in ``<schedule_dir>/<on.year>.yml``?

    ``schedule_dir``: default ``$OPS_SCHEDULE_DIR`` or ``<project>/schedule``. Returns ``(on == date, date)`` where
    ``date`` is the environment's date of ``on``'s month, or ``(False, None)`` when the schedule has no date for it.
    Raises ScheduleMissing when the year file is absent, ScheduleError (both InvalidInput, exit 2) when it is
    malformed or (with ``name``) belongs to another schedule.
    """
    from ops_driver.records import schedule  # only a scheduled task reads it: not on every plan's start (#28)

    path = schedule.schedule_path(on.year, schedule_dir)
    sched = schedule.load(path)
    if name is not None and sched.name != name:
        raise schedule.ScheduleError(f"{path}: is the schedule {sched.name!r}, not {name!r}")
    day = sched.date_of(environment, on.month)
    return (day == on, day)


def check_schedule(schedule_name: str | None, environment: str, params: Mapping[str, Any], *,
                   today: dt.date | None = None, schedule_dir: Path | None = None,
                   today_source: str = "argument") -> dict[str, Any] | None:
    """The schedule guard of ``plan`` and ``apply`` for a task whose catalog automation has ``schedule`` set.

    ``schedule_name``: the task's ``automation.schedule`` (None: not a scheduled task, returns None at once).
    ``params``: the request's params (defaults filled in); ``emergency`` (bool) and ``emergency_reason`` (str)
    are read from it. ``today``: the date to judge (default: ``$OPS_TODAY`` when set, else today in Asia/Tokyo).
    ``schedule_dir``: where ``<YYYY>.yml`` lives (default ``$OPS_SCHEDULE_DIR`` or ``<project>/schedule``).
    ``today_source``: what gave ``today`` (recorded; ``maintenance window`` for a plan made ahead for its window's
    day, see :mod:`ops_driver.evidence.window`).

    Returns the evidence record (manifest key ``schedule``)::

        {"name", "file", "file_sha256", "scheduled": bool, "scheduled_date": "YYYY-MM-DD" | None,
         "today": "YYYY-MM-DD", "today_source": "clock (Asia/Tokyo)" | "OPS_TODAY" | "argument" | "maintenance window",
         "today_overridden": bool, "emergency": bool, "reason": str | None}

    Raises InvalidInput (exit 2) for ``emergency: true`` without a non-blank ``emergency_reason`` or a bad
    ``$OPS_TODAY``; PolicyRefused (exit 4) when the year's schedule file is missing or malformed, or when today
    is not the environment's scheduled day of this month and the request is not an emergency.
    """
    if schedule_name is None:
        return None
    from ops_driver.records import schedule  # only a scheduled task reads it: not on every plan's start (#28)

    emergency = params.get("emergency") is True
    reason = str(params.get("emergency_reason") or "").strip()
    if emergency and not reason:
        raise InvalidInput("params.emergency_reason: missing or empty; an emergency run (params.emergency: true) "
                           "needs the reason it cannot wait for the scheduled day, or drop emergency: true")
    if today is None:
        day, overridden = _today()
        source = TODAY_ENV if overridden else "clock (Asia/Tokyo)"
    else:
        day, overridden, source = today, today_source != "maintenance window", today_source
    path = schedule.schedule_path(day.year, schedule_dir)
    try:
        is_day, date = scheduled_day(environment, day, schedule_dir, name=schedule_name)
    except schedule.ScheduleMissing:
        raise PolicyRefused(f"schedule {schedule_name}: no schedule for {day.year} ({path}); make it with "
                            f"`ops-driver schedule generate --year {day.year}` and review it") from None
    except InvalidInput as e:
        raise PolicyRefused(f"schedule {schedule_name}: {e}; fix it (`ops-driver schedule check --year "
                            f"{day.year}`) or regenerate it") from None
    if not is_day and not emergency:
        when = (f"this month's scheduled day for {environment} is {date} ({date.strftime('%a')})" if date
                else f"the schedule has no date for {environment} in {day:%Y-%m}")
        raise PolicyRefused(f"schedule {schedule_name}: today ({day}{', ' + source if overridden else ''}) is not "
                            f"the scheduled day: {when} ({path}); run on that day, or as an emergency with "
                            "params emergency: true and emergency_reason")
    return {"name": schedule_name, "file": str(path), "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "scheduled": is_day, "scheduled_date": date.isoformat() if date else None, "today": day.isoformat(),
            "today_source": source, "today_overridden": overridden, "emergency": emergency,
            "reason": reason or None}


def schedule_warnings(record: Mapping[str, Any] | None) -> list[str]:
    """Warnings for report.md from a :func:`check_schedule` record: an emergency run, an overridden date."""
    if not record:
        return []
    out = []
    if record.get("emergency") and not record.get("scheduled"):
        out.append(f"EMERGENCY run outside the schedule {record.get('name')} (scheduled day "
                   f"{record.get('scheduled_date')}): {record.get('reason')}")
    if record.get("today_overridden"):
        out.append(f"the date {record.get('today')} was set by {record.get('today_source')}, not read from the clock")
    return out
