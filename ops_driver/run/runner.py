"""A thin adapter over ``ansible_runner.run()``: run one playbook, return status, rc, events and artifacts.

Inputs go into a private data dir (``$TMPDIR/ops-driver-*``, mode 0700) that is deleted after the run on every path
(normal end, time limit, signal): extra vars, and the ``command`` artifact of ansible-runner, hold secrets. The
run's ``~/.ansible/tmp`` (module arguments of the tasks in hand) is a folder of its own,
``~/.ansible/tmp/ops-driver-<marker>`` (``ANSIBLE_REMOTE_TEMP``), deleted with it; Ansible's controller temporary
folder (``ANSIBLE_LOCAL_TEMP``) is inside the private data dir. ``owner.json`` in the private data dir names the
driver process (PID and start time), so that ``recovery`` removes what a driver killed with SIGKILL left.

The event handler appends to a list, hands the event to ``on_event`` (the apply streams it into its bundle) and
calls the progress callback; it never raises.

**Signals.** SIGTERM, SIGINT and SIGHUP (the operator's SSH session dropped) stop the run alike
(:class:`StopSignals`): ansible-runner ends the playbook's process group, :func:`stop_leftovers` every other
process of the run, and the result's status is ``canceled`` (recorded, exit 3).

**The run does not outlive the driver.** Beside ansible-playbook the driver starts a small watcher (:data:`WATCHER`)
whose stdin is a pipe only the driver holds: when the driver dies (SIGKILL included) the kernel closes the pipe, and
the watcher, not told by the driver that the run is over, kills every process of the run and removes the private
data dir and the run's ``~/.ansible/tmp`` folder. Ansible's task workers start sessions of their own (``setsid``)
and would otherwise go on with the task in hand (a module that still waits, copies or renames): every process of a
run carries :data:`RUN_MARKER` in its environment, and :func:`stop_leftovers` ends those still alive (the watcher,
the driver after a time limit or a signal, and ``recovery`` for a dead run). The watcher stands beside the run, not
between ansible-runner and ansible-playbook, so the playbook starts without waiting for it (issue #28: the guard
that stood between them until 2026-12-07 delayed every run by 12 ms).
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from ops_driver import untrusted
from ops_driver.paths import project_root
from ops_driver.processes import RUN_MARKER, stop_leftovers, this_process
from ops_driver.run import contract
from ops_driver.run.manifest import Place

Event = dict[str, Any]
ProgressFn = Callable[[Event, float], None]
EventSink = Callable[[Event], None]


@dataclass
class RunResult:
    """What a playbook run left: ``status`` is ansible-runner's (successful, failed, timeout, canceled)."""

    status: str
    rc: int
    events: list[Event]
    stdout: str
    artifacts: dict[str, Any]
    failures: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    def failure_kind(self) -> str | None:
        """None when the run succeeded, else a failure kind of :mod:`contract` (``contract.OUTCOMES`` gives its
        exit code): ``timeout`` when ansible-runner stopped the run at its time limit, else ``invalid`` when a
        failure message starts with ``INVALID INPUT:``, ``drift`` with ``DRIFT:``, ``failed`` for any other."""
        if self.ok:
            return None
        if self.status == "timeout":
            return contract.TIMEOUT
        msgs = [str(f.get("msg", "")) for f in self.failures]
        if any(m.startswith(contract.INVALID_PREFIX) for m in msgs):
            return contract.INVALID
        if any(m.startswith(contract.DRIFT_PREFIX) for m in msgs):
            return contract.DRIFT
        return contract.FAILED


def ansible_env() -> dict[str, str]:
    """Environment for ansible-playbook: the project's ansible.cfg, the venv's binaries, a scratch ANSIBLE_HOME."""
    root = project_root()
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
    }
    if "ANSIBLE_HOME" not in os.environ:
        env["ANSIBLE_HOME"] = str(root / ".ansible-home")
    return env


class StopSignals:
    """SIGTERM, SIGINT and SIGHUP, caught while the ``with`` block runs: ``signum`` is the first one received (None:
    none). Only the main thread can set signal handlers; elsewhere nothing is caught (the defaults stay)."""

    CAUGHT = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def is_set(self) -> bool:
        """ansible-runner's ``cancel_callback``: True once a signal came (it then ends the playbook)."""
        return self.signum is not None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.CAUGHT:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


#: The watcher of a run (see the module docstring). Its stdin is a pipe whose other end only the driver holds; the
#: pipe ends when the driver closes it after the run, having written ``done``, or when the driver dies (the kernel
#: closes a dead process's files, SIGKILL included). Without ``done`` it kills every process of the run and removes
#: the run's private data dir and ``~/.ansible/tmp`` folder. (Its parent process is no sign: the kernel closes a
#: dying process's files before it hands its children to another parent.) ``python -IS`` with two C modules: about
#: 6 ms of CPU, on the core that ansible-playbook leaves idle as it starts. Its environment (and nothing else):
#: OPS_DRIVER_WATCH (the run's marker: the watcher is not one of the run's processes), OPS_DRIVER_PRIVATE and
#: OPS_DRIVER_RTMP (what to remove), HOME.
WATCHER = r"""
import os
import _signal as signal  # the C module: SIGKILL without enum's import
NEEDLE = ("OPS_DRIVER_RUN=" + os.environ["OPS_DRIVER_WATCH"]).encode()
def kill_run():
    for _ in range(20):
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open("/proc/%s/environ" % name, "rb") as f:
                        if NEEDLE in f.read().split(b"\0"):
                            found.append(int(name))
                except OSError:
                    pass
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
said = b""
while True:
    chunk = os.read(0, 512)
    if not chunk:
        break
    said += chunk
if said != b"done":  # the driver is gone: nobody else will end the run or clean up soon
    kill_run()
    import shutil
    for path in (os.environ.get("OPS_DRIVER_RTMP"), os.environ.get("OPS_DRIVER_PRIVATE")):
        if path:
            shutil.rmtree(os.path.expanduser(path), ignore_errors=True)
"""


def _watch(place: RunPlace) -> subprocess.Popen[bytes]:
    """Start the watcher of the run at ``place`` (:data:`WATCHER`); :func:`_unwatch` ends it. In a session of its
    own, so that a Ctrl-C or a hang-up of the operator's terminal, which stop the run through the driver, do not end
    the watcher first; its stdout is /dev/null (the driver's stdout may be ``--json``), its stderr the driver's."""
    env = {"OPS_DRIVER_WATCH": place.marker, "OPS_DRIVER_PRIVATE": str(place.private), "OPS_DRIVER_RTMP": place.rtmp}
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    return subprocess.Popen([sys.executable, "-IS", "-c", WATCHER], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env=env, start_new_session=True)


def _unwatch(watcher: subprocess.Popen[bytes]) -> None:
    """End the watcher of a run that ended with the driver alive: ``done`` on its stdin, which is then closed."""
    if watcher.stdin is not None:
        try:
            with watcher.stdin:
                watcher.stdin.write(b"done")
        except OSError:  # the watcher is gone already (killed): nothing to tell it
            pass
    watcher.wait()


@dataclass(frozen=True)
class RunPlace:
    """Where one run keeps its files and how its processes are known: ``private`` (the private data dir),
    ``marker`` (the value of :data:`RUN_MARKER`), ``rtmp`` (its ``~/.ansible/tmp`` folder, ``~`` not expanded)."""

    private: Path
    marker: str
    rtmp: str

    @classmethod
    def new(cls, run_id: str = "") -> RunPlace:
        """A fresh private data dir (0700) with ``owner.json`` (this process, the run ID, the marker)."""
        private = Path(tempfile.mkdtemp(prefix=PRIVATE_PREFIX))
        marker = secrets.token_hex(8)
        place = cls(private=private, marker=marker, rtmp=f"~/.ansible/tmp/ops-driver-{marker}")
        (private / OWNER).write_text(json.dumps({**this_process(), "run_id": run_id, "marker": marker,
                                                 "rtmp": place.rtmp}), encoding="utf-8")
        return place

    def as_record(self) -> Place:
        return {"private_dir": str(self.private), "marker": self.marker, "ansible_tmp": self.rtmp}

    def remove(self) -> None:
        """Delete the private data dir and the run's ``~/.ansible/tmp`` folder (whatever is there)."""
        remove_place(self.private, self.rtmp)


PRIVATE_PREFIX = "ops-driver-"
OWNER = "owner.json"
#: Seconds between ansible-runner's looks at the cancel callback (a signal: TERM, INT, HUP) and at the run's time
#: limit while the playbook prints nothing (its ``pexpect_timeout``; ansible-runner's default is 5 s, so a TERM
#: during a quiet task, e.g. a module waiting on an API call, was acted on up to 5 s late). A look costs microseconds.
CANCEL_POLL_S = 0.25
_RTMP_NAME = "ops-driver-"


def remove_place(private: Path | None, rtmp: str | None, tmp: Path | None = None) -> None:
    """Remove a run's private data dir and ``~/.ansible/tmp`` folder; only paths of the shapes :class:`RunPlace`
    makes are touched (a recorded path is data: never a folder elsewhere). ``tmp``: the folder private data dirs
    are made in (default the system's temporary folder)."""
    if private is not None and private.name.startswith(PRIVATE_PREFIX) and \
            private.parent == (tmp or Path(tempfile.gettempdir())):
        shutil.rmtree(private, ignore_errors=True)
    if rtmp and rtmp.startswith("~/.ansible/tmp/" + _RTMP_NAME) and "/" not in rtmp[len("~/.ansible/tmp/"):]:
        shutil.rmtree(Path(rtmp).expanduser(), ignore_errors=True)


def _close_without_idle_wait() -> None:
    """Have ptyprocess skip its pause after closing the pty of a child that has already been reaped.

    ansible-runner 2.4.3 (``runner.py``, ``Runner.run``) loops ``while child.isalive()`` until the playbook's
    process has exited and been reaped, then calls ``child.close()``; ptyprocess 0.7.0 (``PtyProcess.close``)
    sleeps ``delayafterclose`` (0.1 s) there unconditionally, "to give the kernel time to update process status",
    before asking ``isalive()`` again: 100 ms of wall time per run spent waiting on nothing (issue #28: 5 % of a
    2-second plan). For a child already reaped (``terminated``) the pause is set to 0; a child still alive keeps
    it, and everything else ``close`` does is unchanged. Applied once per process, idempotent."""
    import ptyprocess

    close = ptyprocess.PtyProcess.close
    if getattr(close, "ops_driver_no_idle_wait", False):
        return

    def close_reaped(self: Any, force: bool = True) -> None:
        if self.terminated:
            self.delayafterclose = 0
        close(self, force)

    close_reaped.ops_driver_no_idle_wait = True  # type: ignore[attr-defined]
    ptyprocess.PtyProcess.close = close_reaped


def collect_event(event: Event, out: RunResult) -> None:
    """Add what one ansible-runner event says to ``out``: a failure (failed, not ignored, or unreachable), a
    skipped task, the set_stats artifacts (``playbook_on_stats``) and the warnings of a task result."""
    data = event.get("event_data") or {}
    kind = event.get("event")
    if kind == "runner_on_failed" and not data.get("ignore_errors"):
        res = data.get("res") or {}
        out.failures.append({"host": data.get("host"), "task": data.get("task"), "msg": res.get("msg", ""),
                             "result": res})
    elif kind == "runner_on_unreachable":
        res = data.get("res") or {}
        out.failures.append({"host": data.get("host"), "task": data.get("task"),
                             "msg": "unreachable: " + str(res.get("msg", "")), "result": res})
    elif kind == "runner_on_skipped":
        res = data.get("res") or {}
        reason = res.get("false_condition") or res.get("skip_reason") or res.get("msg") or ""
        out.skipped.append({"host": data.get("host"), "task": data.get("task"), "reason": str(reason)})
    elif kind == "playbook_on_stats":
        out.artifacts.update(data.get("artifact_data") or {})
    if kind in ("runner_on_ok", "runner_on_failed"):
        for w in (data.get("res") or {}).get("warnings") or []:
            out.warnings.append(str(w.get("msg", w)) if isinstance(w, dict) else str(w))


def result_of_events(events: list[Event], status: str) -> RunResult:
    """A RunResult made from events alone (``status`` given, rc -1): failures, skips, artifacts and warnings as
    :func:`run_playbook` collects them; for the events streamed by a run that was killed."""
    out = RunResult(status=status, rc=-1, events=list(events), stdout="", artifacts={})
    for e in events:
        collect_event(e, out)
    return out


def _quietly(work: Callable[[], object]) -> None:
    """``work()``, its exception dropped (see ``meanwhile`` of :func:`run_playbook`)."""
    try:
        work()
    except Exception:  # noqa: BLE001,S110 - redone, and reported, where its result is needed
        pass


def run_playbook(playbook: Path, inventory: Path, extravars: dict[str, Any], check: bool,
                 progress: ProgressFn | None = None, timeout_s: int | None = None, *,
                 on_event: EventSink | None = None, stop: StopSignals | None = None,
                 place: RunPlace | None = None, meanwhile: Callable[[], object] | None = None) -> RunResult:
    """Run ``playbook`` against ``inventory`` with ``--diff`` (and ``--check`` when ``check``).

    Args:
        playbook: absolute path of the playbook.
        inventory: absolute path of the inventory directory.
        extravars: the playbook's extra vars; written as one mapping tagged ``!unsafe``
            (:func:`untrusted.extravars_document`), into ``env/extravars`` of a private temporary directory (0700,
            deleted afterwards), which ansible-runner passes with ``-e @file``.
        check: run in check mode.
        progress: called for every event with the event and the seconds since the start; must not raise.
        timeout_s: stop the run after this many seconds (None: no limit); ansible-runner then ends the playbook,
            :func:`stop_leftovers` every process it started, and the result's status is ``timeout`` (with a
            warning naming how many processes were stopped).
        on_event: called with every event as it arrives (the apply streams them into its bundle); an exception
            it raises is reported once as a warning and the run goes on.
        stop: the signals caught around the run (the caller's, when it set them up earlier); None: caught for the
            run only. A signal ends the playbook: status ``canceled``, a warning naming the signal.
        place: the run's private data dir and marker (:meth:`RunPlace.new`; the apply records it ahead of the
            run); None: a new one. Removed when the run ends, whatever ends it.
        meanwhile: work that does not depend on the run, done in a thread while the playbook runs, on the core
            ansible-playbook leaves idle (the caller's preparation of its record: imports, versions): started at the
            playbook's first event, so after its process started, and joined before this returns. Whatever it
            raises is dropped: the caller does the same work again where it needs the result, and fails there.

    Returns: a RunResult; never raises for a failed, timed-out or stopped playbook (the status says it).
    """
    import ansible_runner

    if not gc.isenabled():  # off while the CLI loaded its modules and read its input (cli.entry)
        gc.freeze()  # what was made so far lives to the end: set aside, not traversed by every collection (5 ms)
        gc.enable()  # the event loop makes reference cycles (pexpect raises and catches a TIMEOUT every poll)
    _close_without_idle_wait()
    result = RunResult(status="unstarted", rc=-1, events=[], stdout="", artifacts={})
    start = time.monotonic()
    sink_failed: list[str] = []

    helper: list[threading.Thread] = []

    def handler(event: Event) -> bool:
        if meanwhile is not None and not helper:
            helper.append(threading.Thread(target=_quietly, args=(meanwhile,), name="ops-driver-meanwhile",
                                           daemon=True))
            helper[0].start()
        result.events.append(event)
        collect_event(event, result)
        if on_event is not None and not sink_failed:
            try:
                on_event(event)
            except Exception as e:  # noqa: BLE001 - the record of the run says so; the run goes on
                sink_failed.append(f"events could not be streamed into the evidence ({type(e).__name__}: {e}); "
                                   "events.jsonl is written when the run ends")
        if progress is not None:
            try:
                progress(event, time.monotonic() - start)
            except Exception:  # noqa: BLE001,S110 - a display problem must never abort the run
                pass
        # False: ansible-runner does not write the event again as artifacts/job_events/<n>.json (nothing reads those
        # files: the events are kept here and go into the bundle); about 1 ms of CPU per event (issue #28)
        return False

    place = place or RunPlace.new()
    own = stop is None
    signals = stop or StopSignals()
    watcher: subprocess.Popen[bytes] | None = None
    try:
        if own:
            signals.__enter__()
        if signals.is_set():
            result.status = "canceled"
            result.warnings.append(f"stopped by {signals.name} before the playbook started")
            return result
        watcher = _watch(place)
        cmdline = "--diff --check" if check else "--diff"  # ansible-runner puts the playbook last
        # The extra vars go in a file of the private folder (not on the command line, where `ps` shows them),
        # written by us as one mapping tagged !unsafe: request data is never templated (untrusted.py).
        (place.private / "env").mkdir(mode=0o700)
        fd = os.open(place.private / "env" / "extravars", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(untrusted.extravars_document(extravars))
        envvars = {**ansible_env(), RUN_MARKER: place.marker, "ANSIBLE_REMOTE_TEMP": place.rtmp,
                   "ANSIBLE_LOCAL_TEMP": str(place.private / "tmp")}
        runner = ansible_runner.run(
            private_data_dir=str(place.private), playbook=str(playbook), inventory=str(inventory), cmdline=cmdline,
            envvars=envvars, quiet=True,
            event_handler=handler, project_dir=str(project_root()), timeout=timeout_s, cancel_callback=signals.is_set,
            settings={"pexpect_timeout": CANCEL_POLL_S},
        )
        result.status = str(runner.status)
        if result.status in ("timeout", "canceled"):
            stopped = stop_leftovers(place.marker)
            if result.status == "canceled" and signals.signum:
                result.warnings.append(f"stopped by {signals.name}: the playbook was ended where it was")
            if stopped:
                result.warnings.append(f"the run was stopped ({result.status}): {len(stopped)} process(es) it had "
                                       "started were still running and were killed")
        result.rc = int(runner.rc) if runner.rc is not None else -1
        try:
            with runner.stdout as f:
                result.stdout = f.read()
        except (OSError, AttributeError):
            result.stdout = "".join(str(e.get("stdout", "")) + "\n" for e in result.events if e.get("stdout"))
    finally:
        place.remove()
        if watcher is not None:
            _unwatch(watcher)
        if own:
            signals.__exit__(None, None, None)
        result.warnings.extend(sink_failed)
        result.duration_s = time.monotonic() - start
        for t in helper:
            t.join()
    return result
