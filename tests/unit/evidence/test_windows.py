"""Maintenance windows (#29): parsing --window, refusal outside it, age at its start, --at-window's wait."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ops_driver.errors import InvalidInput, PolicyRefused, RunFailed
from ops_driver.evidence import guards, window

NOW = dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC)  # 14:00 JST, the daytime change board


def test_start_and_duration_with_the_offset() -> None:
    w = window.parse("2026-12-08T02:00+09:00/PT2H", NOW)
    assert (w.start, w.end) == (dt.datetime(2026, 12, 7, 17, 0, tzinfo=dt.UTC), dt.datetime(2026, 12, 7, 19, 0,
                                                                                           tzinfo=dt.UTC))
    assert w.day == dt.date(2026, 12, 8)  # the window's day in Tokyo, not the UTC date
    assert w.record() == {"text": "2026-12-08T02:00+09:00/PT2H", "start": "2026-12-07T17:00:00Z",
                          "end": "2026-12-07T19:00:00Z", "start_jst": "2026-12-08T02:00+09:00",
                          "end_jst": "2026-12-08T04:00+09:00", "duration_s": 7200}
    assert window.from_record(w.record()) == w
    assert window.parse("2026-12-08T02:00+09:00/2026-12-08T03:30+09:00", NOW).record()["duration_s"] == 5400
    assert window.parse("2026-12-07T17:00Z/PT1H30M", NOW).record()["duration_s"] == 5400


@pytest.mark.parametrize(("text", "words"), [
    ("2026-12-08T02:00/PT2H", "has no UTC offset; add it, e.g. 2026-12-08T02:00+09:00"),
    ("2026-12-08T02:00+09:00", "not an ISO 8601 interval; write start/duration"),
    ("tonight/PT2H", "the start 'tonight' is not an ISO 8601 date and time"),
    ("2026-12-08T02:00+09:00/P1M", "the duration 'P1M' is not one this tool takes"),
    ("2026-12-08T02:00+09:00/PT", "the duration 'PT' is not one this tool takes"),
    ("2026-12-08T02:00+09:00/PT0H", "the window is empty"),
    ("2026-12-08T02:00+09:00/2026-12-08T01:00+09:00", "ends before it starts"),
    ("2026-12-08T02:00+09:00/PT7H", "7 h is longer than the longest window, 6 h (window_max_s"),
    ("2026-12-07T13:00+09:00/PT2H", "which is not in the future (now 2026-12-07 14:00 JST (+09:00))"),
])
def test_an_invalid_window_is_refused_in_words(text: str, words: str) -> None:
    with pytest.raises(InvalidInput) as e:
        window.parse(text, NOW)
    assert str(e.value).startswith(f"--window {text!r}") and words in str(e.value)


def test_a_window_beyond_the_plans_life_is_refused_at_plan_time() -> None:
    with pytest.raises(InvalidInput, match=r"a plan is good for 24 h .* judged at the window's start"):
        window.parse("2026-12-09T02:00+09:00/PT2H", NOW, plan_max_age_s=86400)


def _plan(**extra: Any) -> dict[str, Any]:
    return {"run_id": "p1", "status": "planned", "environment": "prod", "ended_at": "2026-12-07T05:00:00Z", **extra}


W = window.parse("2026-12-08T02:00+09:00/PT2H", NOW)


def test_the_apply_is_refused_before_and_after_the_window() -> None:
    with pytest.raises(PolicyRefused) as e:
        guards.check_plan(_plan(window=W.record()), W.start - dt.timedelta(minutes=90), [])
    assert e.value.exit_code == 4
    assert ("maintenance window 2026-12-08 02:00 JST (+09:00) to 2026-12-08 04:00 JST (+09:00) (2 h): it opens in "
            "1 h 30 min; apply then, or let `ops-driver apply p1 --at-window` wait for it") in str(e.value)
    with pytest.raises(PolicyRefused, match="it closed 1 min ago; plan again for a new window"):
        guards.check_plan(_plan(window=W.record()), W.end + dt.timedelta(minutes=1), [])
    guards.check_plan(_plan(window=W.record()), W.start, [])  # at the start: open
    guards.check_plan(_plan(window=W.record()), W.end - dt.timedelta(seconds=1), [])


def test_the_plans_age_is_judged_at_the_windows_start() -> None:
    # 12 h after the plan: a plan without a window, limited to 10 h, is stale; with a window 12 h ahead it is not
    at = W.start
    with pytest.raises(PolicyRefused, match="stale: made 43200 s ago"):
        guards.check_plan(_plan(), at, [], max_age_s=36000)
    guards.check_plan(_plan(window=W.record()), at + dt.timedelta(minutes=30), [], max_age_s=43200)
    with pytest.raises(PolicyRefused, match="made 43200 s before its window opened, the limit is 36000 s"):
        guards.check_plan(_plan(window=W.record()), at, [], max_age_s=36000)


class FakeClock(window.Clock):
    """A clock whose sleep moves time forward (never sleeps)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at, self.slept = at, 0.0
        super().__init__(now=lambda: self.at, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.slept += seconds
        self.at += dt.timedelta(seconds=seconds)


def test_at_window_waits_until_it_opens_then_returns() -> None:
    clock = FakeClock(W.start - dt.timedelta(minutes=5))
    assert window.wait_for("p1", W, clock, lambda: "") == 300.0
    assert clock.at == W.start and clock.slept == 300.0
    assert window.wait_for("p1", W, clock, lambda: "") == 0.0  # open already: no wait


def test_a_signal_while_waiting_runs_nothing() -> None:
    clock = FakeClock(W.start - dt.timedelta(minutes=5))
    signals = iter(["", "", "SIGTERM"])
    with pytest.raises(RunFailed) as e:
        window.wait_for("p1", W, clock, lambda: next(signals))
    assert e.value.exit_code == 3 and "stopped by SIGTERM while waiting" in str(e.value)
    assert "plan p1 can still be applied" in str(e.value) and clock.slept == 2.0


def test_a_closed_window_is_not_waited_for() -> None:
    clock = FakeClock(W.end)
    with pytest.raises(PolicyRefused, match="it closed"):
        window.wait_for("p1", W, clock, lambda: "")
    assert clock.slept == 0.0
