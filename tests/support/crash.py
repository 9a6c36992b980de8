"""Helpers of the crash-safety tests (issue 23): the driver as a separate process, the processes of a run, and an
executable test hook that holds a run at a named point until the test lets it go.

:class:`HookHold` is what a module's ``OPS_TEST_HOOK_<...>`` variable names (``module_utils/nas_transfer.py``:
``OPS_TEST_HOOK_NAS_BEFORE_WRITE`` / ``…_BEFORE_RENAME``; ``module_utils/esa_cli.py``:
``OPS_TEST_HOOK_ESA_BEFORE_COMMIT`` / ``…_AFTER_COMMIT``; honoured only with ``OPS_TEST_HOOKS=1``). The hook
connects to a Unix socket of the test and waits for its answer, so the test knows the run is at that point (no
sleep, no polling of files) and the run goes on only when the test says so - or never, when the test kills it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ops_driver.evidence import ledger
from ops_driver.paths import evidence_dir
from ops_driver.run.runner import RUN_MARKER

OPS_DRIVER = str(Path(sys.executable).parent / "ops-driver")

_HOOK = """#!{python}
# A test hook of tests/support/crash.py: the first call whose argument is what the file "armed" names (any argument
# when it is empty) holds until the test answers on the socket; every other call goes on at once.
import os, socket, sys
d = {directory!r}
try:
    with open(os.path.join(d, "armed"), encoding="utf-8") as f:
        match = f.read()
except FileNotFoundError:
    sys.exit(0)
if match and sys.argv[1] != match:
    sys.exit(0)
try:
    os.rename(os.path.join(d, "armed"), os.path.join(d, "taken"))  # one hold only: the first matching call
except FileNotFoundError:
    sys.exit(0)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.path.join(d, "hold.sock"))
s.sendall(sys.argv[1].encode())
sys.exit(0 if s.recv(16) == b"go" else 1)
"""


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``ops-driver ARGS`` as a separate process with the test's environment plus ``env``."""
    return subprocess.run([OPS_DRIVER, *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, **env})


def start_apply(plan_id: str, **env: str) -> subprocess.Popen[str]:
    """``ops-driver apply --quiet --json PLAN_ID`` started as a separate process (the one a test signals)."""
    return subprocess.Popen([OPS_DRIVER, "apply", "--quiet", "--json", plan_id], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env})


def marked(marker: str) -> list[int]:
    """PIDs of live (not zombie) processes whose environment carries the run's marker."""
    needle = f"{RUN_MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat[stat.rindex(")") + 2] != "Z":
                    found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def apply_of(plan_id: str) -> str:
    """The run ID of the one apply whose ``start`` ledger line names ``plan_id``."""
    runs = [e.run_id for e in ledger.entries(evidence_dir()) if e.kind == "start" and e.ref == plan_id]
    assert len(runs) == 1, runs
    return runs[0]


class HookHold:
    """An executable for a module's test hook variable (:attr:`script`) that, once armed (:meth:`arm`), holds the
    first call whose argument is the one armed: :meth:`wait` returns that argument once the run is there,
    :meth:`release` lets it go on. Its folder is a short one of its own in the temporary folder (a Unix socket path
    is at most 107 bytes); :meth:`close` removes it."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hold-"))
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.dir / "hold.sock"))
        self.server.listen(1)
        self.script = self.dir / "hook"
        self.script.write_text(_HOOK.format(python=sys.executable, directory=str(self.dir)))
        self.script.chmod(0o700)
        self.conn: socket.socket | None = None

    def arm(self, match: str = "") -> None:
        """Hold the next call whose argument is ``match`` (any call when empty); one hold per arm."""
        (self.dir / "armed").write_text(match, encoding="utf-8")

    def wait(self, timeout_s: float = 600, process: subprocess.Popen[str] | None = None) -> str:
        """Block until the hook holds the run; its argument. ``TimeoutError`` after ``timeout_s`` seconds, or as soon
        as ``process`` (the driver) has ended without the run reaching the hook (looked at every second)."""
        deadline = time.monotonic() + timeout_s
        self.server.settimeout(1.0 if process is not None else timeout_s)
        while True:
            try:
                self.conn, _ = self.server.accept()
                break
            except TimeoutError:
                if time.monotonic() > deadline or (process is not None and process.poll() is not None):
                    raise TimeoutError("the run never reached the hook" + (
                        f" (the driver ended with {process.returncode})" if process is not None else "")) from None
        self.conn.settimeout(timeout_s)
        return self.conn.recv(4096).decode()

    def release(self) -> None:
        """Let the held call go on (nothing happens when its process was killed meanwhile)."""
        if self.conn is not None:
            try:
                self.conn.sendall(b"go")
            except OSError:
                pass
            self.conn.close()
            self.conn = None

    def close(self) -> None:
        self.release()
        self.server.close()
        shutil.rmtree(self.dir, ignore_errors=True)
