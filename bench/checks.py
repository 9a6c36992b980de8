"""The AWS daily checks (INFO-007, INFO-008, INFO-010): each check's ``ops-driver plan`` in the sandbox (issue #26:
under 10 s each).

A private sandbox on 127.0.0.1 (moto and the seeded server of ``dev/ops_sandbox/aws_seeded.py``, with the
sandbox's seeded findings: INFO-008 fails on its failed backup job, as it must; the time is the same). Each round
plans the three checks in turn with ``ops-driver plan --quiet --json``; the figure is the median wall time per
check, with its CPU time (user + system of the command and its children), and the API calls the plan made.

Rounds: ``BENCH_ROUNDS`` (default 5); ``BENCH_SMOKE=1``: one round, no warm-up. Prints a table and writes
``checks.json`` and ``checks.md`` (bench/common.py).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ops_sandbox as sandbox  # noqa: E402
from bench.common import SMOKE, finish, rounds, row  # noqa: E402

BIN = Path(sys.executable).parent
ROUNDS = rounds(5)
CHECKS = {"INFO-007": "examples/requests/info-007-aws-events-check.yml",
          "INFO-008": "examples/requests/info-008-aws-backup-check.yml",
          "INFO-010": "examples/requests/info-010-aws-config-check.yml"}
TARGET_S = 10.0


def plan(req: str, env: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    """``(wall s, CPU s, summary)`` of one ``ops-driver plan --quiet --json`` (exit 0 or 3: a check may fail)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([str(BIN / "ops-driver"), "plan", "--quiet", "--json", req], cwd=ROOT, env=env,
                       capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 3):
        raise SystemExit(f"plan {req} ended {p.returncode}: {p.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(p.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ops-bench-checks-") as tmp:
        work = Path(tmp)
        sdir = work / "sandbox"
        env = dict(os.environ, OPS_SANDBOX_DIR=str(sdir), OPS_EVIDENCE_DIR=str(work / "evidence"),
                   ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_HOME=str(work / "ansible-home"),
                   OPS_SYSLOG="off", PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
        # a new evidence store is started explicitly, as an installation's is (ops-driver evidence init)
        subprocess.run([str(BIN / "ops-driver"), "evidence", "init"], env=env, check=True, capture_output=True)
        sandbox.up(sdir, without=("web", "esa"))  # moto and the seeded server only
        try:
            if not SMOKE:
                plan(CHECKS["INFO-007"], env)  # warm once
            walls: dict[str, list[float]] = {t: [] for t in CHECKS}
            cpus: dict[str, list[float]] = {t: [] for t in CHECKS}
            last: dict[str, dict[str, Any]] = {}
            for _ in range(ROUNDS):
                for task, req in CHECKS.items():
                    wall, cpu, summary = plan(req, env)
                    walls[task].append(wall)
                    cpus[task].append(cpu)
                    last[task] = summary
            manifests = {t: json.loads((Path(last[t]["evidence"]) / "manifest.json").read_text()) for t in CHECKS}
        finally:
            sandbox.down(sdir)
    results = {t: {"rounds": ROUNDS, "median_s": statistics.median(walls[t]), "max_s": max(walls[t]),
                   "cpu_median_s": statistics.median(cpus[t]), "exit_code": last[t]["exit_code"],
                   "verdict": manifests[t]["evidence"]["check"]["verdict"],
                   "api_calls": manifests[t]["api_calls"], "target_s": TARGET_S} for t in CHECKS}
    finish("checks", "AWS daily checks: plan time per check (sandbox)", results, section(results))


def section(results: dict[str, Any]) -> str:
    """The Markdown table of the figures."""
    lines = [row("measure", "result", "target"), row("---", "---", "---")]
    for task, r in results.items():
        calls = ", ".join(f"{k} {v}" for k, v in sorted(r["api_calls"].items()))
        lines.append(row(f"`ops-driver plan` {task} (median of {r['rounds']}; verdict {r['verdict']}, exit "
                         f"{r['exit_code']}; calls: {calls})",
                         f"**{r['median_s']:.1f} s** (max {r['max_s']:.1f} s; {r['cpu_median_s']:.1f} CPU-s)",
                         f"< {r['target_s']:.0f} s"))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
