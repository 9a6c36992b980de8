"""runner: what the events of a run say (failures, skips, artifacts, warnings), the failure kind, the time limit."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ops_driver.run import contract
from ops_driver.run.runner import RUN_MARKER, RunPlace, RunResult, collect_event, run_playbook, stop_leftovers


def _result(**kw: Any) -> RunResult:
    return RunResult(**{"status": "failed", "rc": 2, "events": [], "stdout": "", "artifacts": {}, **kw})


def _events(*events: dict[str, Any]) -> RunResult:
    out = _result(status="successful", rc=0)
    for e in events:
        collect_event(e, out)
    return out


def _ev(kind: str, res: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": "h1", "task": "Do it", **({"res": res} if res is not None else {}),
                                          **data}}


def test_failures_and_unreachable_hosts_are_collected_ignored_errors_are_not() -> None:
    out = _events(_ev("runner_on_failed", {"msg": "INVALID INPUT: bad"}),
                  _ev("runner_on_failed", {"msg": "tolerated"}, ignore_errors=True),
                  _ev("runner_on_unreachable", {"msg": "ssh: no route"}),
                  _ev("runner_on_failed", None))
    assert out.failures == [
        {"host": "h1", "task": "Do it", "msg": "INVALID INPUT: bad", "result": {"msg": "INVALID INPUT: bad"}},
        {"host": "h1", "task": "Do it", "msg": "unreachable: ssh: no route", "result": {"msg": "ssh: no route"}},
        {"host": "h1", "task": "Do it", "msg": "", "result": {}},
    ]


def test_skipped_tasks_keep_the_reason() -> None:
    out = _events(_ev("runner_on_skipped", {"false_condition": "not ansible_check_mode"}),
                  _ev("runner_on_skipped", {"skip_reason": "Conditional result was False"}),
                  _ev("runner_on_skipped", {"msg": "check mode"}),
                  _ev("runner_on_skipped", {}))
    assert [s["reason"] for s in out.skipped] == ["not ansible_check_mode", "Conditional result was False",
                                                  "check mode", ""]
    assert all(s["host"] == "h1" and s["task"] == "Do it" for s in out.skipped)


def test_the_stats_event_carries_the_set_stats_artifacts() -> None:
    out = _events({"event": "playbook_on_stats", "event_data": {"artifact_data": {contract.CHANGES: [{"x": 1}]}}},
                  {"event": "playbook_on_stats", "event_data": {}},
                  {"event": "verbose", "stdout": "noise"})
    assert out.artifacts == {contract.CHANGES: [{"x": 1}]}
    assert out.failures == [] == out.skipped


def test_warnings_of_ok_and_failed_results_strings_or_mappings() -> None:
    out = _events(_ev("runner_on_ok", {"warnings": ["plain", {"msg": "as a mapping"}, {"other": 1}]}),
                  _ev("runner_on_failed", {"msg": "x", "warnings": ["from a failure"]}),
                  _ev("runner_on_skipped", {"warnings": ["not from a skip"]}),
                  _ev("runner_on_ok", {}))
    assert out.warnings == ["plain", "as a mapping", "{'other': 1}", "from a failure"]


@pytest.mark.parametrize("msgs, kind", [
    (["INVALID INPUT: i-9 does not exist"], contract.INVALID),
    (["DRIFT: i-1 is stopped, the plan saw running"], contract.DRIFT),
    (["boom"], contract.FAILED),
    ([], contract.FAILED),
    (["boom", "DRIFT: x"], contract.DRIFT),
    (["DRIFT: x", "INVALID INPUT: y"], contract.INVALID),  # bad input first: nothing should have run
    (["the message says INVALID INPUT: later"], contract.FAILED),  # a prefix, not anywhere in the text
])
def test_failure_kind_by_prefix(msgs: list[str], kind: str) -> None:
    assert _result(failures=[{"msg": m} for m in msgs]).failure_kind() == kind


def test_failure_kind_of_a_success_and_of_a_timeout() -> None:
    assert _result(status="successful", rc=0).failure_kind() is None
    assert _result(status="successful", rc=2).failure_kind() == contract.FAILED  # rc wins over the status
    assert _result(status="timeout", rc=254, failures=[{"msg": "INVALID INPUT: x"}]).failure_kind() == contract.TIMEOUT


def _playbook(tmp_path: Path, task: str) -> tuple[Path, Path]:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                         "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n" + task)
    return playbook, inventory


def running_with(text: str) -> list[str]:
    """Command lines of the live processes (zombies aside) that contain ``text``."""
    out = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and entry.name != str(os.getpid()):
            out.append(cmdline)
    return out


def _gone(text: str, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while running_with(text):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_run_past_its_time_limit_is_stopped_with_everything_it_started(tmp_path: Path) -> None:
    """The module (a shell that sleeps) runs in an ansible worker that has a session of its own: it must go too."""
    playbook, inventory = _playbook(tmp_path, f"    - ansible.builtin.shell: \"sleep 120; true {tmp_path}\"\n"
                                              "      changed_when: false\n")
    start = time.monotonic()
    result = run_playbook(playbook, inventory, {}, check=False, timeout_s=3)
    assert time.monotonic() - start < 60  # ansible-runner looks at the clock every few seconds
    assert result.status == "timeout" and result.failure_kind() == contract.TIMEOUT
    assert not result.ok
    assert any(e.get("event") == "runner_on_start" for e in result.events)  # the shell had started
    assert _gone(str(tmp_path)), running_with(str(tmp_path))
    assert any("were still running and were killed" in w for w in result.warnings)


def test_stop_leftovers_kills_the_marked_processes_only(tmp_path: Path) -> None:
    marker = f"test-{os.getpid()}"
    marked = subprocess.Popen(["sleep", "60"], env={**os.environ, RUN_MARKER: marker}, start_new_session=True)
    other = subprocess.Popen(["sleep", "60"], env={**os.environ, RUN_MARKER: "another-run"}, start_new_session=True)
    try:
        assert stop_leftovers(marker) == [marked.pid]
        assert marked.wait(timeout=10) == -signal.SIGKILL
        assert other.poll() is None
        assert stop_leftovers(marker) == []
        assert stop_leftovers(marker, tmp_path) == []  # no /proc: nothing to do
    finally:
        other.kill()
        other.wait()



# ---------------------------------------------------------------- signals and a driver that dies (issue 23 item 4)

def _held_playbook(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A playbook whose shell task says it has started (a file), then waits: the point a signal is sent at."""
    started = tmp_path / "started"
    playbook, inventory = _playbook(tmp_path, f"    - ansible.builtin.shell: \"touch {started}; sleep 120; true "
                                              f"{tmp_path}\"\n      changed_when: false\n")
    return playbook, inventory, started


def _wait_for(path: Path, within_s: float = 240.0) -> None:
    deadline = time.monotonic() + within_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def _no_ansible_tmp_left() -> list[str]:
    tmp = Path.home() / ".ansible" / "tmp"
    return [str(p) for p in tmp.iterdir()] if tmp.is_dir() else []


def test_sighup_stops_a_run_like_sigterm_and_every_private_file_goes(tmp_path: Path) -> None:
    import threading

    playbook, inventory, started = _held_playbook(tmp_path)
    place = RunPlace.new("test-run")

    def hang_up() -> None:
        _wait_for(started)
        os.kill(os.getpid(), signal.SIGHUP)  # the operator's SSH session dropped

    t = threading.Thread(target=hang_up, daemon=True)
    t.start()
    result = run_playbook(playbook, inventory, {"secret_value": "do-not-leave-me"}, check=False, place=place)
    t.join(10)
    assert result.status == "canceled" and result.failure_kind() == contract.FAILED
    assert any(w.startswith("stopped by SIGHUP") for w in result.warnings)
    assert _gone(str(tmp_path)), running_with(str(tmp_path))
    assert not place.private.exists() and not Path(place.rtmp).expanduser().exists()
    assert _no_ansible_tmp_left() == []
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL


DRIVER = """
import json, sys
from pathlib import Path
from ops_driver.run import runner
place = runner.RunPlace.new("killed-run")
print(json.dumps(place.as_record()), flush=True)
runner.run_playbook(Path(sys.argv[1]), Path(sys.argv[2]), {"secret_value": "do-not-leave-me"}, check=False,
                    place=place)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_a_driver_that_dies_takes_its_run_with_it(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGKILL: the watcher (its pipe from the driver closed by the kernel) kills every process of the run (the
    worker in a session of its own too) and removes the private data dir; SIGHUP: the driver stops the run itself."""
    import json
    import sys

    playbook, inventory, started = _held_playbook(tmp_path)
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(playbook), str(inventory)], stdout=subprocess.PIPE,
                              text=True)
    assert driver.stdout is not None
    with driver.stdout:
        place = json.loads(driver.stdout.readline())
    _wait_for(started)
    driver.send_signal(sig)
    driver.wait(120)
    assert _gone(str(tmp_path), within_s=60), running_with(str(tmp_path))
    deadline = time.monotonic() + 60
    while Path(place["private_dir"]).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(place["private_dir"]).exists()
    assert not Path(place["ansible_tmp"]).expanduser().exists() and _no_ansible_tmp_left() == []


def test_closing_the_pty_of_a_reaped_playbook_does_not_pause_a_live_one_still_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import ptyprocess

    from ops_driver.run import runner

    runner._close_without_idle_wait()
    runner._close_without_idle_wait()  # idempotent: wrapped once
    assert getattr(ptyprocess.PtyProcess.close, "ops_driver_no_idle_wait", False)
    slept: list[float] = []
    real_sleep = time.sleep

    def recording_sleep(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(ptyprocess.ptyprocess.time, "sleep", recording_sleep)
    done = ptyprocess.PtyProcess.spawn(["true"])
    while done.isalive():  # as ansible-runner's loop: until the child is reaped
        real_sleep(0.01)
    done.close()
    assert done.closed and done.exitstatus == 0 and max(slept) == 0  # no 0.1 s pause: the child is gone
    slept.clear()
    live = ptyprocess.PtyProcess.spawn(["sleep", "30"])
    live.close(force=True)
    assert live.closed and not live.isalive() and slept[0] == 0.1  # ptyprocess's own behaviour, kept


def test_the_work_meanwhile_runs_once_beside_the_play_and_its_failure_is_dropped(tmp_path: Path) -> None:
    """``meanwhile`` runs in a thread started at the first event, is over when run_playbook returns, and what it
    raises changes nothing; the collector, off as the CLI leaves it (cli.entry), is on again for the run, with
    what was made before set aside (gc.freeze); the watcher was told the run is over and is gone."""
    import gc
    import threading

    playbook, inventory = _playbook(tmp_path, "    - ansible.builtin.debug:\n        msg: hello\n")
    seen: list[str] = []

    def meanwhile() -> None:
        seen.append(threading.current_thread().name)
        raise RuntimeError("dropped")

    place = RunPlace.new("meanwhile")
    gc.disable()
    try:
        result = run_playbook(playbook, inventory, {}, check=False, meanwhile=meanwhile, place=place)
        assert gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()
    assert result.ok and result.warnings == []
    assert seen == ["ops-driver-meanwhile"]  # once, in its own thread
    assert not any(t.name == "ops-driver-meanwhile" for t in threading.enumerate())  # joined
    assert _with_environ(f"OPS_DRIVER_WATCH={place.marker}") == [] and running_with(str(tmp_path)) == []
    assert not place.private.exists()


def _with_environ(entry: str) -> list[int]:
    """PIDs of the live processes whose environment holds ``entry`` (``NAME=value``)."""
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if entry.encode() in (proc / "environ").read_bytes().split(b"\0"):
                out.append(int(proc.name))
        except OSError:
            continue
    return out
