"""A night operator's day (#29), on the sandbox: a plan approved in the daytime with a maintenance window, applied
from another folder at the window's start, refused before it; the request file no longer needed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.cli import main
from ops_driver.errors import PolicyRefused
from ops_driver.evidence import bundles, window
from ops_driver.run import pipeline
from tests.integration.conftest import ids_by_name, states
from tests.support.approvals import approved

pytestmark = pytest.mark.integration


class NightClock(window.Clock):
    """The apply's clock, set by the test; its sleep moves time forward (the test never sleeps)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at, self.slept = at, 0.0
        super().__init__(now=lambda: self.at, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.at += dt.timedelta(seconds=seconds)


def _window(minutes_ahead: int) -> tuple[str, dt.datetime]:
    start = (bundles.utc_now() + dt.timedelta(minutes=minutes_ahead)).replace(second=0, microsecond=0)
    text = start.astimezone(window.JST).strftime("%Y-%m-%dT%H:%M+09:00") + "/PT2H"
    return text, start


def test_an_approved_plan_with_a_window_is_applied_from_another_folder_at_its_start(
        estate: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    day, night = tmp_path / "day-desk", tmp_path / "night-desk"
    day.mkdir()
    night.mkdir()
    request = day / "stop.yml"
    request.write_text(yaml.safe_dump({"task": "INFO-005", "environment": "sandbox", "ticket": "REQ-2026-1208-001",
                                       "requested_by": "sato", "reason": "middleware patching at night",
                                       "change_class": "minor", "params": {"instances": ["joho-web01"]}}))
    text, start = _window(30)
    monkeypatch.chdir(day)
    assert main(["plan", "--json", "--quiet", str(request), "--window", text]) == 0
    plan_id = json.loads(capsys.readouterr().out)["run_id"]
    report = (bundles.bundle(plan_id).path / "report.md").read_text()
    assert "maintenance window" in report and "JST (+09:00)" in report and "--at-window" in report
    approved(plan_id)  # the daytime change board
    request.unlink()  # the request file is gone: the bundle's request.yml is what runs
    before = states(estate)

    monkeypatch.chdir(night)
    with pytest.raises(PolicyRefused) as refused:  # 20 minutes early
        pipeline.apply(plan_id, clock=NightClock(start - dt.timedelta(minutes=20)))
    assert refused.value.exit_code == 4 and "it opens in 20 min" in str(refused.value)
    assert states(estate) == before  # nothing ran
    assert main(["apply", plan_id, "--quiet"]) == 4  # the CLI, now (30 minutes early): refused the same way
    assert "it opens in" in capsys.readouterr().err

    clock = NightClock(start - dt.timedelta(minutes=3))  # the timer fires 3 minutes early and waits
    monkeypatch.setattr(bundles, "utc_now", lambda: clock.at)
    done = pipeline.apply(plan_id, at_window=True, clock=clock)
    assert done.exit_code == 0, done.message
    assert clock.slept == 180.0 and clock.at == start
    assert states(estate)[ids_by_name(estate)["joho-web01"]] == "stopped"
    assert done.manifest["window"]["text"] == text and done.manifest["plan_id"] == plan_id
    assert list(night.iterdir()) == [] and list(day.iterdir()) == []  # nothing written in either folder
    assert bundles.verify(bundles.bundle(done.run_id)) == []


def test_a_changed_request_file_given_to_apply_is_refused(estate: Any, tmp_path: Path) -> None:
    request = tmp_path / "stop.yml"
    body = {"task": "INFO-005", "environment": "sandbox", "ticket": "REQ-2026-1208-002", "requested_by": "sato",
            "reason": "patching", "params": {"instances": ["joho-ap01"]}}
    request.write_text(yaml.safe_dump(body))
    plan = pipeline.plan(request)
    assert plan.exit_code == 0, plan.message
    request.write_text(yaml.safe_dump({**body, "params": {"instances": ["joho-web01"]}}))
    with pytest.raises(PolicyRefused, match="changed since the plan; plan again"):
        pipeline.apply(approved(plan.run_id), request_path=request)
