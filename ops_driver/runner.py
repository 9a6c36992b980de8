"""A thin adapter over ``ansible_runner.run()``: run one playbook, return status, rc, events and artifacts.

Inputs go into a private data dir that is deleted after the run (extra vars may hold secrets).
The event handler only appends to a list and calls the progress callback; it never raises.

A run stopped at its time limit leaves nothing running: ansible-runner kills the playbook's process group, but
ansible's task workers start sessions of their own (``setsid``) and would go on with the task in hand (a module
that still waits, copies or changes). Every process of a run carries :data:`RUN_MARKER` in its environment, and
:func:`stop_leftovers` ends those still alive.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import contract, untrusted
from .paths import project_root

Event = dict[str, Any]
ProgressFn = Callable[[Event, float], None]


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
        "PYTHONUNBUFFERED": "1",
    }
    if "ANSIBLE_HOME" not in os.environ:
        env["ANSIBLE_HOME"] = str(root / ".ansible-home")
    return env


#: Environment variable set, to a value of its own, for every process of one run (see the module docstring).
RUN_MARKER = "OPS_DRIVER_RUN"


def stop_leftovers(marker: str, proc: Path = Path("/proc")) -> list[int]:
    """SIGKILL every process whose environment has ``RUN_MARKER=marker``; return their PIDs (empty without /proc).

    Scans until a pass finds none left (a process may fork while it is scanned), at most 20 passes.
    """
    needle = f"{RUN_MARKER}={marker}".encode()
    stopped: list[int] = []
    for _ in range(20):
        found = []
        for entry in proc.glob("[0-9]*"):
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except (OSError, ValueError):
                continue  # gone meanwhile, or not ours to read
        found = [pid for pid in found if pid != os.getpid() and pid not in stopped]
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                stopped.append(pid)
            except OSError:
                pass
    return stopped


def _collect(event: Event, out: RunResult) -> None:
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


def run_playbook(playbook: Path, inventory: Path, extravars: dict[str, Any], check: bool,
                 progress: ProgressFn | None = None, timeout_s: int | None = None) -> RunResult:
    """Run ``playbook`` against ``inventory`` with ``--diff`` (and ``--check`` when ``check``).

    Args:
        playbook: absolute path of the playbook.
        inventory: absolute path of the inventory directory.
        extravars: the playbook's extra vars; written, every string tagged ``!unsafe``
            (:func:`untrusted.extravars_document`), into ``env/extravars`` of a private temporary directory (0700,
            deleted afterwards), which ansible-runner passes with ``-e @file``.
        check: run in check mode.
        progress: called for every event with the event and the seconds since the start; must not raise.
        timeout_s: stop the run after this many seconds (None: no limit); ansible-runner then ends the playbook,
            :func:`stop_leftovers` every process it started, and the result's status is ``timeout`` (with a
            warning naming how many processes were stopped).

    Returns: a RunResult; never raises for a failed or timed-out playbook (the status says it).
    """
    import ansible_runner

    result = RunResult(status="unstarted", rc=-1, events=[], stdout="", artifacts={})
    start = time.monotonic()

    def handler(event: Event) -> bool:
        result.events.append(event)
        _collect(event, result)
        if progress is not None:
            try:
                progress(event, time.monotonic() - start)
            except Exception:  # noqa: BLE001,S110 - a display problem must never abort the run
                pass
        # False: ansible-runner does not write the event again as artifacts/job_events/<n>.json (nothing reads those
        # files: the events are kept here and go into the bundle); about 1 ms of CPU per event (issue #28)
        return False

    private = Path(tempfile.mkdtemp(prefix="ops-driver-"))
    marker = secrets.token_hex(8)
    try:
        cmdline = "--diff --check" if check else "--diff"
        # The extra vars go in a file of the private folder (not on the command line, where `ps` shows them),
        # written by us with every string tagged !unsafe: request data is never templated (untrusted.py).
        (private / "env").mkdir(mode=0o700)
        fd = os.open(private / "env" / "extravars", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(untrusted.extravars_document(extravars))
        runner = ansible_runner.run(
            private_data_dir=str(private), playbook=str(playbook), inventory=str(inventory), cmdline=cmdline,
            envvars={**ansible_env(), RUN_MARKER: marker}, quiet=True,
            event_handler=handler, project_dir=str(project_root()), timeout=timeout_s,
        )
        result.status = str(runner.status)
        if result.status in ("timeout", "canceled"):
            stopped = stop_leftovers(marker)
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
        shutil.rmtree(private, ignore_errors=True)
    result.duration_s = time.monotonic() - start
    return result
