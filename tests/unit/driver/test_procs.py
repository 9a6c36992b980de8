"""ops_sandbox.procs with real child processes: spawn, readiness, early exit, timeout, stop (SIGKILL path)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops_driver.errors import RunFailed
from ops_sandbox import procs

#: A child that says it is up, then marks itself ready after a short while and sleeps until stopped.
SLOW_READY = ("import sys, time, pathlib; print('child: starting', flush=True); time.sleep(0.3); "
              "pathlib.Path(sys.argv[1]).write_text('ready'); time.sleep(60)")
#: A child that ignores SIGTERM (only SIGKILL ends it), and says so in a file once the handler is set.
DEAF = ("import signal, sys, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "pathlib.Path(sys.argv[1]).write_text('deaf'); time.sleep(60)")


def python(code: str, *args: str | Path) -> list[str | Path]:
    return [sys.executable, "-c", code, *args]


def wait_for(path: Path, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def test_spawn_waits_for_readiness_then_stop_ends_and_forgets_the_child(tmp_path: Path) -> None:
    log, pid_file, marker = tmp_path / "child.log", tmp_path / "child.pid", tmp_path / "ready"
    proc = procs.spawn(python(SLOW_READY, marker), log=log, pid_file=pid_file, env=dict(os.environ, X="1"),
                       cwd=tmp_path)
    try:
        assert pid_file.read_text() == str(proc.pid) and procs.read_pid(pid_file) == proc.pid
        assert os.getpgid(proc.pid) == proc.pid  # detached: it leads its own process group (new session)
        start = time.monotonic()
        procs.wait_ready(proc, marker.exists, name="child", log=log, timeout_s=10, interval_s=0.02)
        assert marker.read_text() == "ready" and time.monotonic() - start >= 0.2
        assert procs.alive(proc.pid)
        assert "child: starting" in log.read_text()
    finally:
        assert procs.stop(proc, timeout_s=5) == []
    assert proc.returncode == -signal.SIGTERM  # reaped by stop: SIGTERM was enough
    assert not procs.alive(proc.pid) and proc.pid not in procs._CHILDREN


def test_spawn_appends_to_the_log_and_passes_the_environment(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    log.write_text("earlier run\n")
    proc = procs.spawn(python("import os; print(os.environ['OPS_TEST_VALUE'])"), log=log,
                       env=dict(os.environ, OPS_TEST_VALUE="from the parent"))
    assert proc.wait(10) == 0
    assert log.read_text() == "earlier run\nfrom the parent\n"
    assert procs.stop(proc) == [] and proc.pid not in procs._CHILDREN


def test_readiness_timeout_stops_the_child_and_names_it_with_its_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "stuck.log"
    proc = procs.spawn(python("print('\\n'.join(f'line {i}' for i in range(40)), flush=True); "
                              "import time; time.sleep(60)"), log=log)
    calls = []

    def never() -> bool:
        calls.append(time.monotonic())
        return False

    with pytest.raises(procs.StartFailed) as e:
        procs.wait_ready(proc, never, name="sandbox: the stuck server", log=log, timeout_s=0.5, interval_s=0.05,
                         describe=lambda: "last check: nothing")
    err = e.value
    assert isinstance(err, RunFailed) and err.exit_code == 3
    assert err.name == "sandbox: the stuck server"
    assert err.reason == "timed out after 0.5 s (last check: nothing)"
    message = str(err)
    assert message.startswith("sandbox: the stuck server did not start: timed out after 0.5 s (last check: nothing);"
                              f" see {log}\nlast lines of stuck.log:\n")
    assert message.endswith("\n".join(f"line {i}" for i in range(20, 40)))  # the tail: its last 20 lines
    assert "line 19\n" not in message
    assert len(calls) >= 5
    assert proc.returncode is not None and not procs.alive(proc.pid)  # stopped and reaped


def test_a_child_that_exits_early_fails_at_once_with_its_status_and_log(tmp_path: Path) -> None:
    log = tmp_path / "early.log"
    proc = procs.spawn(python("import sys; print('error: bad config', file=sys.stderr); sys.exit(3)"), log=log)
    start = time.monotonic()
    with pytest.raises(procs.StartFailed) as e:
        procs.wait_ready(proc, lambda: False, name="early", log=log, timeout_s=30, interval_s=0.05)
    assert time.monotonic() - start < 10  # not the timeout
    assert e.value.reason == "exited with status 3"
    assert e.value.tail == "error: bad config"  # stderr goes to the log too
    assert str(e.value) == f"early did not start: exited with status 3; see {log}\nlast lines of early.log:\n" \
                           "error: bad config"
    assert proc.pid not in procs._CHILDREN


def test_a_predicate_that_gives_up_stops_the_child(tmp_path: Path) -> None:
    log = tmp_path / "given-up.log"  # never written: the child prints nothing
    proc = procs.spawn(python("import time; time.sleep(60)"), log=log)

    def ready() -> bool:
        raise procs.GiveUp("programs failed: {'x': 'FATAL'}")

    with pytest.raises(procs.StartFailed) as e:
        procs.wait_ready(proc, ready, name="supervisord", log=tmp_path / "missing.log", timeout_s=30)
    assert e.value.reason == "programs failed: {'x': 'FATAL'}" and e.value.tail == ""
    assert str(e.value) == f"supervisord did not start: programs failed: {{'x': 'FATAL'}}; see {tmp_path}/missing.log"
    assert proc.returncode == -signal.SIGTERM


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    marker = tmp_path / "deaf"
    proc = procs.spawn(python(DEAF, marker), log=tmp_path / "deaf.log")
    wait_for(marker)
    start = time.monotonic()
    assert procs.stop(proc, timeout_s=0.5, kill_timeout_s=5) == []
    assert time.monotonic() - start >= 0.5  # it waited for SIGTERM to work first
    assert proc.returncode == -signal.SIGKILL


def test_stop_by_pid_of_a_process_this_one_did_not_register(tmp_path: Path) -> None:
    """A pid from a pid file (the server of another ops-driver process): signalled by pid, gone once a zombie."""
    marker = tmp_path / "deaf"
    other = subprocess.Popen(python(DEAF, marker), start_new_session=True)
    try:
        wait_for(marker)
        assert other.pid not in procs._CHILDREN and procs.alive(other.pid)
        assert procs.stop(other.pid, timeout_s=0.3, kill_timeout_s=5) == []
        assert not procs.alive(other.pid)  # a zombie until its parent (this test) reaps it
    finally:
        other.kill()
        assert other.wait(10) == -signal.SIGKILL


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    grandchild_pid = tmp_path / "grandchild.pid"
    code = ("import subprocess, sys, time, pathlib; "
            "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "pathlib.Path(sys.argv[1]).write_text(str(g.pid)); time.sleep(60)")
    proc = procs.spawn(python(code, grandchild_pid), log=tmp_path / "group.log")
    wait_for(grandchild_pid)
    grandchild = int(grandchild_pid.read_text())
    assert procs.alive(grandchild)
    assert procs.stop(proc, timeout_s=5) == []
    deadline = time.monotonic() + 5
    while procs.alive(grandchild):  # it became init's child: gone once init reaps it
        assert time.monotonic() < deadline, "the grandchild survived the stop of its process group"
        time.sleep(0.02)


def test_stop_of_what_is_already_gone_is_quiet(tmp_path: Path) -> None:
    proc = procs.spawn(python("pass"), log=tmp_path / "quick.log", pid_file=tmp_path / "quick.pid")
    proc.wait(10)
    assert procs.stop(proc) == [] and proc.pid not in procs._CHILDREN  # a registered child that exited
    assert procs.stop(proc.pid) == []  # its pid, now unknown
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert procs.stop(pid_max + 1, timeout_s=0.1) == []  # a pid no process can have
    assert procs.stop() == []


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen(python("pass"))
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert not procs.alive(child.pid)  # exited, not reaped yet
    assert child.wait(10) == 0


def test_read_pid_and_log_tail(tmp_path: Path) -> None:
    assert procs.read_pid(tmp_path / "none.pid") is None
    (tmp_path / "bad.pid").write_text("not a pid\n")
    assert procs.read_pid(tmp_path / "bad.pid") is None
    (tmp_path / "good.pid").write_text(" 4242\n")
    assert procs.read_pid(tmp_path / "good.pid") == 4242
    assert procs.log_tail(tmp_path / "none.log") == ""
    log = tmp_path / "big.log"
    log.write_bytes(b"x" * 20_000 + b"\nsecond to last\nlast \xff\n")
    assert procs.log_tail(log, lines=2) == "second to last\nlast \ufffd"
    assert len(procs.log_tail(log, lines=5, max_bytes=100)) <= 100


def test_free_ports_and_accepts() -> None:
    ports = procs.free_ports(3)
    assert len(set(ports)) == 3
    assert not procs.accepts(ports[0], timeout_s=0.2)
    with socket.socket() as s:
        s.bind((procs.HOST, 0))
        s.listen()
        assert procs.accepts(s.getsockname()[1])
