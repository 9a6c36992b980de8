"""Maintenance windows: a plan made in the daytime may carry the window its apply must run in (#29).

``ops-driver plan REQUEST --window 2026-12-08T02:00+09:00/PT2H`` records the window in the plan's manifest
(``window``: :meth:`Window.record`). The apply refuses outside it (PolicyRefused, exit 4, saying when it opens or
when it closed); the plan's age is judged at the window's start (guards.check_plan), so a plan approved by the
daytime change board is still fresh at 02:00; a scheduled task (CORE-049) is checked against the window's day
(guards.check_schedule). ``ops-driver apply PLAN --at-window`` waits until the window opens, then applies
(:func:`wait_for`, with an injected :class:`Clock`: tests never sleep).

The window is written as an ISO 8601 time interval (ISO 8601-1:2019 §5.5.4.2; RFC 3339 §A for the date-time):
``<start>/<duration>`` (``2026-12-08T02:00+09:00/PT2H``) or ``<start>/<end>``
(``…T02:00+09:00/2026-12-08T04:00+09:00``).
The start must carry its UTC offset (``+09:00``, ``Z``); durations take days, hours, minutes and seconds
(``P1DT2H30M``), never years or months (their length depends on the calendar).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ops_driver.errors import InvalidInput, PolicyRefused, RunFailed

JST = dt.timezone(dt.timedelta(hours=9), "JST")  # Asia/Tokyo: UTC+9 all year
#: The longest window when policy/change.yml does not say (``window_max_s``): 6 hours.
DEFAULT_WINDOW_MAX_S = 6 * 3600
_DURATION = re.compile(r"^P(?:(?P<d>\d{1,3})D)?(?:T(?:(?P<h>\d{1,4})H)?(?:(?P<m>\d{1,5})M)?(?:(?P<s>\d{1,6})S)?)?$")
EXAMPLE = "2026-12-08T02:00+09:00/PT2H"


def jst(t: dt.datetime) -> str:
    """``2026-12-08 02:00 JST (+09:00)``: a time as the operators read it (Asia/Tokyo, with the offset)."""
    return t.astimezone(JST).strftime("%Y-%m-%d %H:%M JST (+09:00)")


def span(seconds: float) -> str:
    """``2 h 5 min`` / ``4 min 10 s`` / ``30 s``: a duration for a message (whole seconds)."""
    s = round(abs(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{m} min {sec} s" if m and sec else f"{m} min" if m else f"{sec} s"


@dataclass(frozen=True)
class Window:
    """A maintenance window: ``start`` (aware) and ``end`` (after it); ``text`` as the operator wrote it."""

    start: dt.datetime
    end: dt.datetime
    text: str

    @property
    def day(self) -> dt.date:
        """The window's day in Asia/Tokyo (the day a scheduled task is judged on)."""
        return self.start.astimezone(JST).date()

    def record(self) -> dict[str, Any]:
        """The manifest's ``window``: ``{"text", "start", "end" (UTC, ISO 8601 with Z), "start_jst", "end_jst",
        "duration_s"}``."""
        return {"text": self.text, "start": _z(self.start), "end": _z(self.end),
                "start_jst": self.start.astimezone(JST).isoformat(timespec="minutes"),
                "end_jst": self.end.astimezone(JST).isoformat(timespec="minutes"),
                "duration_s": int((self.end - self.start).total_seconds())}

    def describe(self) -> str:
        return f"{jst(self.start)} to {jst(self.end)} ({span((self.end - self.start).total_seconds())})"


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _when(text: str, what: str, whole: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidInput(f"--window {whole!r}: the {what} {text!r} is not an ISO 8601 date and time; write it as "
                           f"{EXAMPLE} (start/duration) or start/end") from None
    if t.tzinfo is None:
        raise InvalidInput(f"--window {whole!r}: the {what} {text!r} has no UTC offset; add it, e.g. "
                           f"{text}+09:00 (Japan time)")
    return t


def parse(text: str, now: dt.datetime, max_s: int = DEFAULT_WINDOW_MAX_S,
          plan_max_age_s: int | None = None) -> Window:
    """The window of ``--window TEXT``, validated at plan time against ``now`` (aware).

    ``max_s``: the longest window (``window_max_s`` of policy/change.yml); ``plan_max_age_s``: when given, the
    start may be at most that far ahead (the plan is judged at the window's start and would be stale by then).

    Raises InvalidInput (exit 2) naming ``--window`` and the fix for: not ``start/duration`` or ``start/end``, a
    start without a UTC offset, a duration with years/months/weeks or of zero, a start not in the future, an end
    not after the start, a window longer than ``max_s``, a start too far ahead.
    """
    whole = text
    if len(text) > 100 or text.count("/") != 1:
        raise InvalidInput(f"--window {text[:100]!r}: not an ISO 8601 interval; write start/duration, e.g. "
                           f"{EXAMPLE} (2 hours from 02:00 Japan time)")
    first, second = text.split("/")
    start = _when(first, "start", whole)
    if second.startswith("P"):
        m = _DURATION.match(second)
        if not m or second in ("P", "PT") or second.endswith("T"):
            raise InvalidInput(f"--window {whole!r}: the duration {second!r} is not one this tool takes; write "
                               "days, hours, minutes or seconds, e.g. PT2H, PT90M, P1DT2H (no years, months or weeks)")
        parts = {k: int(v or 0) for k, v in m.groupdict().items()}
        length = dt.timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
        end = start + length
    else:
        end = _when(second, "end", whole)
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        raise InvalidInput(f"--window {whole!r}: the window is empty or ends before it starts; give a duration "
                           "(PT2H) or an end after the start")
    if seconds > max_s:
        raise InvalidInput(f"--window {whole!r}: {span(seconds)} is longer than the longest window, {span(max_s)} "
                           "(window_max_s in policy/change.yml); give a shorter window")
    if start <= now:
        raise InvalidInput(f"--window {whole!r}: the window starts at {jst(start)}, which is not in the future (now "
                           f"{jst(now)}); give a later start, or plan without --window to apply now")
    if plan_max_age_s is not None and (start - now).total_seconds() > plan_max_age_s:
        raise InvalidInput(f"--window {whole!r}: the window starts in {span((start - now).total_seconds())}, but a "
                           f"plan is good for {span(plan_max_age_s)} (plan_max_age_s in policy/change.yml) and is "
                           "judged at the window's start; plan nearer to the window")
    return Window(start=start.astimezone(dt.UTC), end=end.astimezone(dt.UTC), text=whole)


def from_record(record: Mapping[str, Any] | None) -> Window | None:
    """The window a manifest records (its ``window``), None when the plan has none."""
    if not isinstance(record, Mapping):
        return None
    start = dt.datetime.fromisoformat(str(record["start"]).replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(str(record["end"]).replace("Z", "+00:00"))
    return Window(start=start, end=end, text=str(record.get("text") or ""))


def check_open(plan_id: str, window: Window, now: dt.datetime) -> None:
    """PolicyRefused (exit 4) unless ``now`` is inside ``window`` (start included, end excluded): before it, says
    when it opens and how to wait for it; after it, when it closed."""
    if now < window.start:
        raise PolicyRefused(f"plan {plan_id} is for the maintenance window {window.describe()}: it opens in "
                            f"{span((window.start - now).total_seconds())}; apply then, or let "
                            f"`ops-driver apply {plan_id} --at-window` wait for it")
    if now >= window.end:
        raise PolicyRefused(f"plan {plan_id} was for the maintenance window {window.describe()}: it closed "
                            f"{span((now - window.end).total_seconds())} ago; plan again for a new window")


@dataclass
class Clock:
    """Time as the apply sees it: ``now()`` (aware, UTC) and ``sleep(seconds)``. Tests give one that moves time
    forward when it sleeps; the default is the machine's clock."""

    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    sleep: Callable[[float], None] = field(default=time.sleep)


#: Longest single sleep while waiting: the wait notices a signal (``stopped``) and a clock step within it.
WAIT_STEP_S = 1.0


def wait_for(plan_id: str, window: Window, clock: Clock, stopped: Callable[[], str]) -> float:
    """Wait until ``window`` opens (``--at-window``); return the seconds waited (by ``clock``).

    ``stopped``: the name of a signal that came while waiting (``""``: none); the wait then ends with RunFailed
    (exit 3): nothing was run and the plan can still be applied. A window already closed is refused at once
    (:func:`check_open`); an open one returns 0.
    """
    first = clock.now()
    while True:
        now = clock.now()
        if now >= window.start:
            check_open(plan_id, window, now)
            return (now - first).total_seconds()
        name = stopped()
        if name:
            raise RunFailed(f"stopped by {name} while waiting for the maintenance window {window.describe()}: "
                            f"nothing was run and plan {plan_id} can still be applied")
        clock.sleep(min(WAIT_STEP_S, (window.start - now).total_seconds()))
