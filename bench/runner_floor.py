"""The floor of the plan overhead (issue #28): a play run through ``ansible_runner.run()`` and nothing else.

No work request, no catalog, no evidence, no watcher: only what the driver gives ansible-runner (a private data dir
with the extra vars in ``env/extravars``, ``--diff --check``, no colour, ``pexpect_timeout`` 0.25 s, the events kept
in memory rather than written as ``job_events`` files) and ptyprocess's pause after closing the pty of a reaped
child skipped, as ``ops_driver.run.runner._close_without_idle_wait`` does (ptyprocess 0.7.0 ``PtyProcess.close``
sleeps 0.1 s unconditionally). What this costs beyond the bare ``ansible-playbook`` of the same play is what any
driver built on ansible-runner pays: an interpreter, ansible-runner's import, its ``awx_display`` callback in the play
and the pty. ``bench/run.py`` runs it beside the bare play and ``ops-driver plan``, so the driver's own share is the
difference between the two ratios.

Usage: ``python bench/runner_floor.py PLAYBOOK INVENTORY EXTRAVARS_JSON``; exit status 0 when the play succeeded.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

import ansible_runner
import ptyprocess

_close = ptyprocess.PtyProcess.close


def _close_reaped(self: Any, force: bool = True) -> None:
    if self.terminated:
        self.delayafterclose = 0
    _close(self, force)


def main(playbook: str, inventory: str, extravars: str) -> int:
    ptyprocess.PtyProcess.close = _close_reaped
    private = tempfile.mkdtemp(prefix="ops-bench-floor-")
    try:
        os.mkdir(os.path.join(private, "env"), 0o700)
        shutil.copy(extravars, os.path.join(private, "env", "extravars"))
        run = ansible_runner.run(private_data_dir=private, playbook=playbook, inventory=inventory,
                                 cmdline="--diff --check", quiet=True,
                                 envvars={"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
                                 event_handler=lambda event: False, settings={"pexpect_timeout": 0.25})
        return 0 if run.status == "successful" and run.rc == 0 else 1
    finally:
        shutil.rmtree(private, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
