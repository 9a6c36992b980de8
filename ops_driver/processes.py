"""Which process owns a run: its PID with its start time and the boot ID (a reused PID is not taken for the run),
and stopping the processes that carry a run's marker (``RUN_MARKER`` in their environment). Linux ``/proc`` (proc(5)).

Used by the runner (the write-ahead record names the driver), the evidence guards (a started apply whose driver is
gone) and recovery (closing it)."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ops_driver.run.manifest import Process

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


def process_start(pid: int, proc: Path = Path("/proc")) -> int | None:
    """The start time of process ``pid`` in clock ticks after boot (field 22 of ``/proc/PID/stat``, proc(5)); None
    when there is no such process. With the PID it names one process: a PID reused later has another start time."""
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    try:
        return int(stat[stat.rindex(")") + 2:].split()[19])  # after "pid (comm) ": field 3 is index 0
    except (ValueError, IndexError):
        return None


def boot_id(proc: Path = Path("/proc")) -> str:
    """This boot's ID (``/proc/sys/kernel/random/boot_id``; empty when unreadable): start times count from it."""
    try:
        return (proc / "sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def this_process() -> Process:
    """``{host, pid, start_ticks, boot_id}`` of the calling process, as recorded ahead of a run."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "start_ticks": process_start(os.getpid()),
            "boot_id": boot_id()}


def is_alive(owner: Mapping[str, Any], proc: Path = Path("/proc")) -> bool | None:
    """Is the process recorded as ``owner`` (:func:`this_process`) still running? None when it ran on another host
    (it cannot be judged from here); False when the PID is gone, belongs to a process started at another time, or
    the machine has booted since."""
    if owner.get("host") != socket.gethostname():
        return None
    if owner.get("boot_id") and owner.get("boot_id") != boot_id(proc):
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    start = process_start(pid, proc)
    return start is not None and start == owner.get("start_ticks")
