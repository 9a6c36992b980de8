"""The one way the sandbox starts, waits for and stops its servers (moto, the web stack's supervisord, the ESA
simulator), and the free ports they listen on: 127.0.0.1 (:data:`HOST`) only.

* :func:`spawn` starts a server detached (its own session, so that it outlives this call and can be stopped
  with its process group), output appended to a log file, its pid written to a pid file, and keeps its
  ``Popen`` handle in the registry of the children this process started (so they are polled and reaped).
* :func:`wait_ready` waits until a readiness predicate holds; if the child exits first, the predicate gives up
  (:class:`GiveUp`) or the timeout passes, the child is stopped and :class:`StartFailed` names the program,
  why, and shows the tail of its log.
* :func:`stop` ends processes given by pid or ``Popen``: SIGTERM to each one's process group, wait, SIGKILL,
  wait. Quiet for processes already gone.

A zombie counts as gone everywhere (:func:`alive`): its parent just has not reaped it yet.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ops_driver.errors import RunFailed

#: The only address any sandbox server binds to or is reached at.
HOST = "127.0.0.1"

#: The children this process started (pid → handle), so that :func:`alive` polls them (which reaps an exited
#: one) and :func:`stop` waits for them. A server started by another process (``ops-driver sandbox up``, then
#: ``down`` in a new process) is known by its pid file only.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

Target = int | subprocess.Popen[bytes]


class StartFailed(RunFailed):
    """A server did not become ready (exit 3). The child has been stopped.

    ``name``: the program as the message names it; ``reason``: why (``exited with status N``, ``timed out after
    T s``, or what the readiness predicate gave up on); ``log``: the log file; ``tail``: its last lines ("" when
    it is empty or missing).
    """

    def __init__(self, name: str, reason: str, log: Path, tail: str) -> None:
        self.name, self.reason, self.log, self.tail = name, reason, log, tail
        ending = f"\nlast lines of {log.name}:\n{tail}" if tail else ""
        super().__init__(f"{name} did not start: {reason}; see {log}{ending}")


class GiveUp(Exception):
    """Raised by a readiness predicate of :func:`wait_ready` when the child will never become ready; the message
    is the reason (e.g. ``programs failed: {...}``)."""


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


def accepts(port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts a TCP connection on 127.0.0.1:``port`` within ``timeout_s`` seconds."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process. A child of the registry is polled (which also reaps it); another
    process is signalled with 0 and a zombie is not alive."""
    child = _CHILDREN.get(pid)
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


def read_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` (decimal, surrounding whitespace ignored); ``None`` if it is missing or not a
    number. Says nothing about whether the process is alive."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def log_tail(log: Path, lines: int = 20, max_bytes: int = 8192) -> str:
    """The last ``lines`` lines of ``log`` (at most its last ``max_bytes`` bytes, decoded as UTF-8 with
    replacement), without a trailing newline; "" when it is empty or cannot be read."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - max_bytes))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def spawn(argv: Sequence[str | Path], log: Path, pid_file: Path | None = None, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` detached: a new session (it leads its own process group), stdin from /dev/null, stdout and
    stderr appended to ``log``; ``env``: its whole environment (default: this process's); ``cwd``: its working
    directory. Its pid is written to ``pid_file`` (decimal, no newline) when given, and its handle kept in the
    registry. Raises ``OSError`` when the program cannot be started."""
    with log.open("ab") as out:
        proc = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env, cwd=cwd)
    _CHILDREN[proc.pid] = proc  # the server outlives this call; keep the handle so it can be reaped
    if pid_file is not None:
        pid_file.write_text(str(proc.pid))
    return proc


def wait_ready(proc: subprocess.Popen[bytes], ready: Callable[[], bool], name: str, log: Path, timeout_s: float,
               interval_s: float = 0.1, describe: Callable[[], str] | None = None) -> None:
    """Call ``ready()`` every ``interval_s`` seconds until it returns true; then return.

    If ``proc`` exits first, ``ready`` raises :class:`GiveUp`, or ``timeout_s`` seconds pass, ``proc`` is
    stopped (:func:`stop`) and :class:`StartFailed` is raised with ``name``, the reason and the tail of ``log``
    (the file to show: the child's own log, or the log it writes elsewhere). ``describe()``, when given, says
    what the predicate last saw; it is added to a timeout's reason in parentheses.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ready():
                return
        except GiveUp as e:
            reason = str(e)
            break
        if proc.poll() is not None:
            reason = f"exited with status {proc.returncode}"
            break
        if time.monotonic() > deadline:
            reason = f"timed out after {timeout_s:g} s" + (f" ({describe()})" if describe else "")
            break
        time.sleep(interval_s)
    stop(proc)
    raise StartFailed(name, reason, log, log_tail(log))


def _signal(pid: int, sig: signal.Signals) -> None:
    """``sig`` to the process group ``pid`` leads, else to ``pid`` alone; nothing if it is gone."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Wait up to ``timeout_s`` seconds until none of ``pids`` is alive; those still alive."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def stop(*targets: Target, timeout_s: float = 10.0, kill_timeout_s: float = 5.0) -> list[int]:
    """Stop every target (a pid, or the ``Popen`` of a child): SIGTERM to each one's process group (to the
    process alone when it leads none), wait up to ``timeout_s`` seconds, SIGKILL those left the same way, wait up
    to ``kill_timeout_s`` seconds. Children of the registry are reaped and forgotten.

    Returns the pids still alive after all that (normally ``[]``). Never raises for a process already gone.
    """
    pids = []
    for t in targets:
        if isinstance(t, subprocess.Popen):
            _CHILDREN.setdefault(t.pid, t)
            pids.append(t.pid)
        else:
            pids.append(t)
    left = [p for p in pids if alive(p)]
    for p in left:
        _signal(p, signal.SIGTERM)
    left = _wait_gone(left, timeout_s)
    for p in left:
        _signal(p, signal.SIGKILL)
    left = _wait_gone(left, kill_timeout_s)
    for p in pids:
        child = _CHILDREN.get(p)
        if child is not None and child.poll() is not None:
            del _CHILDREN[p]
    return left
