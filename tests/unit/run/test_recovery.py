"""recovery: an apply whose driver was killed with SIGKILL (in a forked child, with ``run_playbook`` faked) is on the
record as running, consumes its plan, and is closed as interrupted by the next command: its processes killed, its
private files and the NAS ``.part`` files removed, the changes its streamed events show recorded, the ledger
closed and ``evidence verify`` clean. No Ansible: the integration test (tests/integration/test_crash.py) kills real
runs."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver import processes
from ops_driver.errors import PolicyRefused
from ops_driver.evidence import bundles, governance, ledger
from ops_driver.paths import evidence_dir
from ops_driver.run import pipeline, recovery, runner
from ops_driver.run.runner import RunResult
from tests.unit.run.test_operations import REQUEST, STOP, FakeRun


def _plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artifacts: dict[str, Any] | None = None,
          **top: Any) -> str:
    req = tmp_path / "r.yml"
    req.write_text(yaml.safe_dump({**REQUEST, **top}))
    FakeRun(monkeypatch, artifacts=artifacts or STOP)
    out = pipeline.plan(req)
    assert out.exit_code == 0, out.message
    return out.run_id


def _event(kind: str, task: str, uuid: str, res: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": "aws-sandbox", "task": task, "task_uuid": uuid,
                                          "task_action": "ec2_power", **({"res": res} if res is not None else {})}}


STOPPED = _event("runner_on_ok", "Stop the instances", "u1",
                 {"changed": True, "ops_changes": [{"resource": "ec2:instance/i-1", "name": "joho-web01",
                                                    "action": "stop", "before": {"state": "running"},
                                                    "after": {"state": "stopped"}, "changed": True}]})


def _die_in_the_run(plan_id: str, info: Path, part: Path | None) -> None:
    """The child: apply ``plan_id`` with a fake playbook run that starts a marked process in a session of its own
    (as an ansible worker does), streams events (one task done and changed, one started), then SIGKILLs itself."""

    def killed(playbook: Path, inventory: Path, extravars: dict[str, Any], check: bool, progress: Any = None,
               timeout_s: int | None = None, *, on_event: Any = None, stop: Any = None,
               place: runner.RunPlace | None = None, meanwhile: Any = None) -> RunResult:
        assert place is not None and on_event is not None
        worker = subprocess.Popen(["sleep", "300"], env={**os.environ, runner.RUN_MARKER: place.marker},
                                  start_new_session=True)
        Path(place.rtmp).expanduser().mkdir(parents=True)
        (Path(place.rtmp).expanduser() / "args").write_text("module arguments")
        if part is not None:
            part.write_text("half a file")
        on_event(_event("playbook_on_task_start", "Stop the instances", "u1"))
        on_event(_event("runner_on_start", "Stop the instances", "u1"))
        on_event(STOPPED)
        on_event(_event("playbook_on_task_start", "Wait until stopped", "u2"))
        on_event(_event("runner_on_start", "Wait until stopped", "u2"))
        info.write_text(json.dumps({"worker": worker.pid, **place.as_record()}))
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("not reached")

    pipeline.run_playbook = killed  # type: ignore[assignment]  # the forked child's own copy of the module
    pipeline.apply(plan_id, operator="operator-b")


def _kill_an_apply(tmp_path: Path, plan_id: str, part: Path | None = None) -> dict[str, Any]:
    info = tmp_path / "run.json"
    child = multiprocessing.get_context("fork").Process(target=_die_in_the_run, args=(plan_id, info, part))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    data: dict[str, Any] = json.loads(info.read_text())
    return data


def _apply_of(plan_id: str) -> str:
    runs = [e.run_id for e in ledger.entries(evidence_dir()) if e.kind == "start" and e.ref == plan_id]
    assert len(runs) == 1
    return runs[0]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_killed_apply_is_on_the_record_consumes_its_plan_and_is_closed_by_the_next_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "share" / "from-prod"
    dest.mkdir(parents=True)
    nas = {"resource": f"nas:{dest / 'data.csv'}", "name": "data.csv", "action": "create", "before": None,
           "after": {"size": 3}, "changed": True, "host": "nas-sandbox"}
    plan_id = _plan(tmp_path, monkeypatch, {**STOP, "ops_changes": [*STOP["ops_changes"], nas]})
    part = dest / ".data.csv.part-4242"
    other = dest / ".other.csv.part-1"  # not a planned file: left alone
    other.write_text("x")
    run = _kill_an_apply(tmp_path, plan_id, part)
    base = evidence_dir()
    apply_id = _apply_of(plan_id)

    # on the record from its first second: running, with its driver, and the plan consumed
    b = bundles.bundle(apply_id)
    m = b.manifest()
    assert m["status"] == "running" and m["plan_id"] == plan_id and m["operator"] == "operator-b"
    assert m["process"]["pid"] != os.getpid() and m["process"]["start_ticks"] > 0
    assert bundles.verify(b) == []
    events, _ = bundles.read_events(b.path / "events.jsonl")
    assert [e["event"] for e in events][-1] == "runner_on_start"  # streamed up to the kill
    problems = governance.verify_all(base)
    assert any("never closed: interrupted" in p for p in problems[apply_id])
    with pytest.raises(PolicyRefused, match=f"applied or interrupted: see {apply_id}"):
        pipeline.apply(plan_id, operator="operator-c")  # recovers first (under the lock), then refuses
    assert _alive(run["worker"]) is False  # the worker that had a session of its own was killed

    # closed as interrupted by that command's recovery
    m = bundles.bundle(apply_id).manifest()
    assert (m["status"], m["exit_code"]) == ("interrupted", 3)
    assert "interrupted: the driver" in m["message"] and "Wait until stopped" in m["message"]
    assert m["interrupted"]["unfinished"] == [{"host": "aws-sandbox", "task": "Wait until stopped",
                                               "action": "ec2_power"}]
    assert m["interrupted"]["part_files"] == [str(part)]
    assert not part.exists() and other.exists()
    assert not Path(run["private_dir"]).exists() and not Path(run["ansible_tmp"]).expanduser().exists()
    changes = bundles.bundle(apply_id).read_json("changes.json")
    assert [(c["resource"], c["action"], c["changed"]) for c in changes] == [("ec2:instance/i-1", "stop", True)]
    assert m["comparison"] == {"matched": ["ec2:instance/i-1"], "unpredicted": [],
                               "not_done": [f"nas:{dest / 'data.csv'}"]}
    report = (bundles.bundle(apply_id).path / "report.md").read_text()
    assert "interrupted" in report and "Wait until stopped" in report
    kinds = [(e.kind, e.run_id) for e in ledger.entries(base)]
    assert kinds[-2:] == [("start", apply_id), ("apply", apply_id)]
    assert governance.verify_all(base) == {}
    assert recovery.recover(base) == []  # nothing left to close
    # the monthly record shows it as a failure
    from ops_driver.records import monthly

    when = bundles.utc_now()
    month = monthly.collect(when.year, when.month, base=base)
    assert [(r.run_id, r.outcome, r.status) for r in month.failures if r.run_id == apply_id] == [
        (apply_id, "failed", "interrupted")]


def test_a_live_apply_is_left_running_and_a_reused_pid_is_not_taken_for_it(tmp_path: Path) -> None:
    me = processes.this_process()
    assert processes.is_alive(me) is True
    assert processes.is_alive({**me, "start_ticks": me["start_ticks"] - 1}) is False  # same PID, another process
    assert processes.is_alive({**me, "boot_id": "another-boot"}) is False
    assert processes.is_alive({**me, "host": "another-host"}) is None  # not judged from here
    child = subprocess.Popen(["true"])
    child.wait()
    assert processes.is_alive({**me, "pid": child.pid, "start_ticks": 1}) is False


def test_an_interrupted_emergency_stays_pending_and_fails_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  ) -> None:
    plan_id = _plan(tmp_path, monkeypatch, change_class="emergency", emergency_reason="the web tier is compromised")
    _kill_an_apply(tmp_path, plan_id)
    base = evidence_dir()
    apply_id = _apply_of(plan_id)
    assert [p["run_id"] for p in governance.pending(base)] == [apply_id]  # running, not closed: still pending
    done = recovery.recover(base)
    assert [(r.run_id, r.state) for r in done] == [(apply_id, "interrupted")]
    pending = governance.pending(base)
    assert [(p["run_id"], p["status"]) for p in pending] == [(apply_id, "interrupted")]
    assert any("emergency apply interrupted, pending post-approval" in p
               for p in governance.verify_all(base)[apply_id])
    # its bundle moved away: still pending, and verify names it
    (base / apply_id).rename(tmp_path / "moved")
    assert [(p["run_id"], p["status"]) for p in governance.pending(base)] == [(apply_id, "bundle missing")]
    assert any("bundle removed" in p for p in governance.verify_all(base)[apply_id])


def test_a_signal_before_the_start_runs_nothing_and_leaves_the_plan(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    plan_id = _plan(tmp_path, monkeypatch)
    fake = FakeRun(monkeypatch)
    real_lock = pipeline.guards.environment_lock

    def lock_then_hup(*args: Any, **kw: Any) -> Any:
        os.kill(os.getpid(), signal.SIGHUP)  # arrives while the apply waits for its lock
        return real_lock(*args, **kw)

    monkeypatch.setattr(pipeline.guards, "environment_lock", lock_then_hup)
    with pytest.raises(pipeline.RunFailed, match="stopped by SIGHUP before the apply started: nothing was run"):
        pipeline.apply(plan_id, operator="operator-b")
    assert fake.calls == [] and not any(e.kind == "start" for e in ledger.entries(evidence_dir()))
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # the handlers are put back


def test_orphan_private_dirs_of_dead_plans_are_removed(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    child = subprocess.Popen(["true"])
    child.wait()
    dead = tmp / "ops-driver-dead"
    dead.mkdir()
    (dead / "owner.json").write_text(json.dumps({**processes.this_process(), "pid": child.pid, "start_ticks": 1,
                                                 "marker": "m", "rtmp": "~/.ansible/tmp/ops-driver-m"}))
    live = tmp / "ops-driver-live"
    live.mkdir()
    (live / "owner.json").write_text(json.dumps(processes.this_process()))
    rtmp = Path("~/.ansible/tmp/ops-driver-m").expanduser()
    rtmp.mkdir(parents=True)
    assert recovery.clean_orphans(tmp) == [str(dead)]
    assert not dead.exists() and live.exists() and not rtmp.exists()


def test_remove_place_touches_only_the_shapes_it_makes(tmp_path: Path) -> None:
    keep = tmp_path / "ops-driver-keep"  # not in the temporary folder: a recorded path is data
    keep.mkdir()
    outside = Path.home() / "precious"
    outside.mkdir()
    runner.remove_place(keep, "~/precious")
    runner.remove_place(None, "~/.ansible/tmp/ops-driver-x/../../../precious")
    assert keep.exists() and outside.exists()
    real = Path(tempfile.mkdtemp(prefix="ops-driver-"))
    runner.remove_place(real, None)
    assert not real.exists()


def test_the_event_stream_is_flushed_at_task_boundaries(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    stream = bundles.EventStream(folder, bundles.Scrubber(["s3cret-value"]))
    stream({"event": "verbose", "stdout": "noise"})
    assert (folder / "events.jsonl").read_text() == ""  # buffered
    stream({"event": "playbook_on_task_start", "event_data": {"task": "uses s3cret-value"}})
    lines = (folder / "events.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "s3cret-value" not in lines[1] and "********" in lines[1]
    stream.close()
    (folder / "events.jsonl").write_text((folder / "events.jsonl").read_text() + '{"event": "runner_on')
    events, bad = bundles.read_events(folder / "events.jsonl")
    assert len(events) == 2 and bad == 1  # the line cut by a kill is counted, not fatal


def test_the_changes_of_a_killed_run_are_its_real_results_never_a_check_mode_preflight() -> None:
    """The ESA role runs its module in check mode (a preflight) before the real change; killed after the preflight,
    the run changed nothing: the preflight's would-be ops_changes are not recorded as made (issue 23)."""
    change = {"resource": "esa:esa-core/InboundMail/BLACKLIST", "name": "BLACKLIST", "action": "update",
              "before": {"entries": 2}, "after": {"add": ["198.51.100.77"]}, "changed": True}

    def result(task: str, uuid: str, res: dict[str, Any]) -> list[dict[str, Any]]:
        data = {"host": "esa-core-sandbox01", "task": task, "task_uuid": uuid, "task_action": "esa_sender_group"}
        return [{"event": "runner_on_start", "event_data": data},
                {"event": "runner_on_ok", "event_data": dict(data, res=res)}]

    preflight = result("preflight", "u1", {"changed": True, "ops_changes": [change], "ops_check_mode": True})
    held = [{"event": "runner_on_start", "event_data": {"host": "esa-core-sandbox01", "task": "change",
                                                        "task_uuid": "u2", "task_action": "esa_sender_group"}}]
    _, changes, unfinished = recovery.summarize_events(preflight + held)
    assert changes == [] and [t["task"] for t in unfinished] == ["change"]
    real = result("change", "u2", {"changed": True, "ops_changes": [change], "ops_check_mode": False})
    _, changes, unfinished = recovery.summarize_events(preflight + real)
    assert changes == [dict(change, host="esa-core-sandbox01")] and unfinished == []


def test_recovery_waits_for_nothing_when_the_environment_is_busy(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    plan_id = _plan(tmp_path, monkeypatch)
    _kill_an_apply(tmp_path, plan_id)
    base = evidence_dir()
    with pipeline.guards.environment_lock(base / ".locks", "sandbox", "another live apply", wait_s=0):
        start = time.monotonic()
        assert [r.state for r in recovery.recover(base)] == ["busy"]
        assert time.monotonic() - start < 30
    assert [r.state for r in recovery.recover(base)] == ["interrupted"]


def test_the_plan_is_checked_again_after_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An apply that pauses between its first checks and the lock while another apply starts the same plan is
    refused under the lock (the issue's 15 s pause, made deterministic: the other start is written in between)."""
    plan_id = _plan(tmp_path, monkeypatch)
    fake = FakeRun(monkeypatch)
    real_lock = pipeline.guards.environment_lock
    other = "20261207T000000Z-INFO-005-apply-0ther0"

    def another_apply_starts_first(*args: Any, **kw: Any) -> Any:
        ledger.append(evidence_dir(), "start", other, "0" * 64, ref=plan_id)
        return real_lock(*args, **kw)

    monkeypatch.setattr(pipeline.guards, "environment_lock", another_apply_starts_first)
    with pytest.raises(PolicyRefused, match=f"applied or interrupted: see {other}"):
        pipeline.apply(plan_id, operator="operator-b")
    assert fake.calls == []
    assert [e.run_id for e in ledger.entries(evidence_dir()) if e.kind == "start"] == [other]
