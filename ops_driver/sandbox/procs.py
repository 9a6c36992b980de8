"""Processes and ports of the sandbox's servers (moto, the web stack, the ESA simulator): loopback only.

Shared by ``sandbox``, ``websandbox`` and ``esasandbox``: free ports on 127.0.0.1, whether a process is alive (a
zombie is not), and stopping a server started in its own session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

HOST = "127.0.0.1"


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now (all held open at once, so no port is returned twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((HOST, 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def alive(pid: int, child: subprocess.Popen[bytes] | None = None) -> bool:
    """Whether ``pid`` is a live process. ``child``: its Popen handle when this process started it (polled, which
    also reaps it). A zombie is not alive: its parent just has not reaped it yet."""
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def terminate(pid: int, child: subprocess.Popen[bytes] | None = None, timeout_s: float = 10.0) -> None:
    """Stop a server started with ``start_new_session=True``: SIGTERM to its process group, wait up to
    ``timeout_s`` seconds, then SIGKILL the group. Reaps ``child`` when given. Never raises for a process that is
    already gone."""
    if alive(pid, child):
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout_s
        while alive(pid, child) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid, child):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    if child is not None:
        child.wait(timeout_s)
