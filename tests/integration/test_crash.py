"""Crash-safe applies against the sandbox (issue 23): ``ops-driver apply`` of an INFO-005 stop, killed with KILL,
TERM, INT or HUP while the AWS test proxy holds its StopInstances call - before the call reaches EC2 (nothing
changed yet) or after EC2 has done it (the change is made, the driver does not know yet). Deterministic: the
signal is sent once the proxy says the call is held, never after a sleep.

Each case checks the record (a bundle and ledger lines from the first second, closed as failed by the driver or as
interrupted by recovery), the consumed plan, the lock, that no process of the run is left, that no private file
(secrets, module arguments) is left in the temporary folder or ``~/.ansible/tmp``, ``evidence verify`` exit 0, and
that a new plan shows exactly what is left and applying it finishes the work. Two applies of one plan started
together: exactly one runs.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from ops_driver.evidence import bundles, guards, ledger
from ops_driver.paths import evidence_dir
from ops_driver.run import pipeline
from tests.integration.conftest import ids_by_name, states, write_request
from tests.support.aws_proxy import AwsProxy
from tests.support.crash import apply_of as _apply_of
from tests.support.crash import cli as _cli
from tests.support.crash import marked as _marked
from tests.support.crash import start_apply as _start_apply

pytestmark = pytest.mark.integration

NAMES = ["joho-web01", "joho-ap01"]


def _plan(tmp_path: Path, name: str = "r.yml") -> tuple[Path, str]:
    req = write_request(tmp_path / name, "INFO-005", {"instances": NAMES})
    out = pipeline.plan(req)
    assert out.exit_code == 0, out.message
    return req, out.run_id


@pytest.mark.parametrize("point", ["before", "after"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["KILL", "TERM", "INT", "HUP"])
def test_an_apply_killed_at_a_held_point_is_recorded_recovered_and_finished_by_a_new_plan(
        proxied: AwsProxy, estate: Any, tmp_path: Path, sig: signal.Signals, point: str) -> None:
    ids = [ids_by_name(estate)[n] for n in NAMES]
    _, plan_id = _plan(tmp_path)
    proxied.hold["StopInstances"] = point
    driver = _start_apply(plan_id)
    assert proxied.held.wait(600), "the apply never reached StopInstances"
    apply_id = _apply_of(plan_id)
    start = bundles.bundle(apply_id).manifest()
    assert start["status"] == "running" and start["process"]["pid"] == driver.pid  # on the record already
    marker = start["place"]["marker"]
    driver.send_signal(sig)
    _, err = driver.communicate(timeout=600)
    deadline = time.monotonic() + 120  # a killed driver's watcher ends the run's processes: wait for it (a poll)
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked(marker) == []  # before the held call is let go: it must not be made by an orphan
    proxied.release.set()
    if sig == signal.SIGKILL:
        assert driver.returncode == -signal.SIGKILL
        assert bundles.bundle(apply_id).manifest()["status"] == "running"
        assert _cli("evidence", "verify").returncode == 4  # a started apply never closed is named
        listed = _cli("evidence", "list")
        assert "INTERRUPTED, not closed yet" in listed.stdout, listed.stdout
        recovered = _cli("evidence", "recover", "--json")
        assert recovered.returncode == 3, recovered.stderr
        assert json.loads(recovered.stdout)["closed"] == 1
        expected = ("interrupted", 3)
    else:
        assert driver.returncode == 3, err  # SIGHUP too: stopped, recorded, exit 3 (not 129)
        expected = ("failed", 3)
    m = bundles.bundle(apply_id).manifest()
    assert (m["status"], m["exit_code"]) == expected, m["message"]
    if sig != signal.SIGKILL:
        assert f"stopped by {sig.name}" in m["message"]
    events, _ = bundles.read_events(bundles.bundle(apply_id).path / "events.jsonl")
    assert any(e.get("event") == "runner_on_start" for e in events)  # streamed: the task that was held
    assert [(e.kind, e.run_id) for e in ledger.entries(evidence_dir()) if e.run_id == apply_id] == [
        ("start", apply_id), ("apply", apply_id)]

    # nothing of the run is left: processes, private data dir (the environment, secrets), module arguments
    assert _marked(marker) == []
    assert not Path(start["place"]["private_dir"]).exists()
    tmp = Path.home() / ".ansible" / "tmp"
    assert not tmp.is_dir() or list(tmp.iterdir()) == []
    # the plan is consumed, the lock is free, the evidence verifies
    again = _cli("apply", "--quiet", plan_id)
    assert again.returncode == 4 and f"applied or interrupted: see {apply_id}" in again.stderr, again.stderr
    with guards.environment_lock(evidence_dir() / ".locks", "sandbox", "the test", wait_s=0):
        pass
    verified = _cli("evidence", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # a new plan shows exactly what is left, and applying it finishes the work
    proxied.hold.clear()
    now = states(estate)
    left = sorted(f"ec2:instance/{i}" for i in ids if now[i] not in ("stopped", "stopping"))
    if point == "before":
        assert left == sorted(f"ec2:instance/{i}" for i in ids)  # held before EC2: nothing was changed
    replan = pipeline.plan(write_request(tmp_path / "again.yml", "INFO-005", {"instances": NAMES}))
    assert replan.exit_code == 0, replan.message
    assert sorted(c["resource"] for c in replan.changes if c["changed"]) == left
    done = pipeline.apply(replan.run_id)
    assert done.exit_code == 0, done.message
    assert all(states(estate)[i] == "stopped" for i in ids)


def test_two_applies_of_one_plan_started_together_exactly_one_runs(proxied: AwsProxy, estate: Any,
                                                                   tmp_path: Path) -> None:
    """The second waits for the environment lock (OPS_LOCK_WAIT) while the first is held at StopInstances, then
    checks the plan again under the lock and is refused: the plan was consumed by the first one's start."""
    _, plan_id = _plan(tmp_path)
    proxied.hold["StopInstances"] = "before"
    first = _start_apply(plan_id)
    assert proxied.held.wait(600)
    second = _start_apply(plan_id, OPS_LOCK_WAIT="900")
    proxied.release.set()
    outs = [p.communicate(timeout=900) for p in (first, second)]
    assert sorted([first.returncode, second.returncode]) == [0, 4], outs
    assert "applied or interrupted" in outs[1][1]
    assert proxied.calls["StopInstances"] == 1
    assert len([e for e in ledger.entries(evidence_dir()) if e.kind == "start"]) == 1
