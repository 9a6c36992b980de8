"""make bench: operators at once, with random kills (issue 23), against a private sandbox on 127.0.0.1.

``BENCH_OPERATORS`` operators (default 10) each plan and apply a series of ``BENCH_SERIES`` requests (default 3:
INFO-005 stop or INFO-004 start of a random sandbox instance, so that operators collide on instances and on the
environment lock); ``BENCH_KILL`` (default 0.2) of the applies are killed with SIGKILL at a random moment after
their start is on the record. Every apply waits for the environment lock (``OPS_LOCK_WAIT`` 900 s). Afterwards
``ops-driver evidence recover`` closes what the kills left, and the bench checks: every apply started is recorded
exactly once (one ``start`` and one ``apply`` ledger line), the ledger chain is contiguous and ``evidence verify``
exits 0, no environment is locked, no process of a run is left. It reports the applies per minute and the worst
lock wait (``lock_wait_s`` of the apply manifests).

Only the ``sandbox`` inventory points at the sandbox (the prod, dr and maint inventories name the real estate and
are never used by a bench), so every operator works in the sandbox environment: one environment lock for all of
them, the worst case of the issue's "four environments".

``BENCH_SMOKE=1``: two operators, one request each, the first apply killed; a few minutes on a quiet machine.
Prints its table and writes ``load.json`` / ``load.md`` (bench/common.py).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))
from common import SMOKE, finish, row  # noqa: E402

import ops_sandbox  # noqa: E402
from ops_driver.evidence import (  # noqa: E402
    bundles,
    guards,
    ledger,
)
from ops_driver.run.runner import RUN_MARKER  # noqa: E402

BIN = Path(sys.executable).parent
OPERATORS = 2 if SMOKE else int(os.environ.get("BENCH_OPERATORS", "10"))
SERIES = 1 if SMOKE else int(os.environ.get("BENCH_SERIES", "3"))
KILL = float(os.environ.get("BENCH_KILL", "0.2"))
INSTANCES = ("joho-web01", "joho-ap01", "joho-db01")


def _request(path: Path, operator: int, n: int, rng: random.Random) -> Path:
    import yaml

    task = rng.choice(("INFO-005", "INFO-004"))
    ticket = f"REQ-BENCH-{operator:02d}{n:02d}"
    path.write_text(yaml.safe_dump({"task": task, "environment": "sandbox", "ticket": ticket,
                                    "requested_by": "bench", "reason": "load benchmark",
                                    "params": {"instances": [rng.choice(INSTANCES)]}}))
    return path


def _started(base: Path, plan_id: str) -> bool:
    try:
        text = ledger.path_of(base).read_text(encoding="utf-8")
    except OSError:
        return False
    return any('"kind":"start"' in line and f'"ref":"{plan_id}"' in line for line in text.splitlines())


def operator(n: int, env: dict[str, str], work: Path, base: Path, kill_first: bool, out: list[dict[str, Any]],
             rng: random.Random) -> None:
    """One operator: plan and apply a series of requests; some applies are killed once their start is recorded."""
    oenv = dict(env, OPS_OPERATOR=f"operator-{n:02d}", OPS_LOCK_WAIT="900", OPS_LEDGER_LOCK_WAIT="900")
    for i in range(SERIES):
        req = _request(work / f"req-{n}-{i}.yml", n, i, rng)
        plan = subprocess.run([str(BIN / "ops-driver"), "plan", "--quiet", "--json", str(req)], env=oenv, cwd=ROOT,
                              capture_output=True, text=True, timeout=1800)
        row: dict[str, Any] = {"operator": n, "request": req.name, "plan_exit": plan.returncode}
        if plan.returncode != 0:
            row["plan_error"] = plan.stderr[-300:]
            out.append(row)
            continue
        plan_id = json.loads(plan.stdout)["run_id"]
        kill = (kill_first and i == 0) if SMOKE else rng.random() < KILL
        start = time.monotonic()
        proc = subprocess.Popen([str(BIN / "ops-driver"), "apply", "--quiet", "--json", plan_id], env=oenv, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kill:
            deadline = time.monotonic() + 1800
            while proc.poll() is None and not _started(base, plan_id) and time.monotonic() < deadline:
                time.sleep(0.05)  # a poll of the ledger, not a synchronisation
            if proc.poll() is None:
                time.sleep(rng.uniform(0.0, 3.0))  # a random moment of the run: the point of a load test
                proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=1800)
        row.update(plan_id=plan_id, killed=kill and proc.returncode == -signal.SIGKILL, apply_exit=proc.returncode,
                   apply_s=round(time.monotonic() - start, 2))
        if proc.returncode not in (0, -signal.SIGKILL):
            row["apply_error"] = stderr[-300:]
        out.append(row)


def _marked_processes(base: Path) -> list[int]:
    """Live processes of a run of this bench: the run marker and this bench's evidence folder in their
    environment."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"OPS_EVIDENCE_DIR={base}".encode() in env and any(v.startswith(f"{RUN_MARKER}=".encode()) for v in env):
            found.append(int(entry.name))
    return found


def main() -> None:
    rng = random.Random(int(os.environ.get("BENCH_SEED", "23")))
    with tempfile.TemporaryDirectory(prefix="ops-bench-load-") as tmp:
        work = Path(tmp)
        sdir, base = work / "sandbox", work / "evidence"
        env = dict(os.environ, OPS_SANDBOX_DIR=str(sdir), OPS_EVIDENCE_DIR=str(base), HOME=str(work / "home"),
                   ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_HOME=str(work / "ansible-home"),
                   PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
        (work / "home").mkdir()
        subprocess.run([str(BIN / "ops-driver"), "evidence", "init"], env=env, check=True, capture_output=True)
        state = ops_sandbox.up(sdir)
        assert state.endpoint
        rows: list[dict[str, Any]] = []
        try:
            start = time.monotonic()
            threads = [threading.Thread(target=operator, args=(n, env, work, base, n == 0, rows,
                                                               random.Random(rng.random())))
                       for n in range(OPERATORS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - start
            recover = subprocess.run([str(BIN / "ops-driver"), "evidence", "recover", "--json"], env=env, cwd=ROOT,
                                     capture_output=True, text=True, timeout=1800)
            verify = subprocess.run([str(BIN / "ops-driver"), "evidence", "verify"], env=env, cwd=ROOT,
                                    capture_output=True, text=True, timeout=1800)
            found, problems = ledger.read(base)
            chain = problems + ledger.check_chain(found)
            starts = [e.run_id for e in found if e.kind == "start"]
            closes = [e.run_id for e in found if e.kind == "apply"]
            waits, statuses = [], {}
            for run_id in starts:
                m = bundles.bundle(run_id, base).manifest()
                waits.append(float(m.get("lock_wait_s") or 0.0))
                statuses[str(m.get("status"))] = statuses.get(str(m.get("status")), 0) + 1
            locked = []
            for environment in ("sandbox", "prod", "dr", "maint"):
                try:
                    with guards.environment_lock(base / ".locks", environment, "bench check", wait_s=0):
                        pass
                except Exception:  # noqa: BLE001 - reported below
                    locked.append(environment)
            leftovers = _marked_processes(base)
        finally:
            ops_sandbox.down(sdir)
    applied = [r for r in rows if "apply_exit" in r]
    result = {
        "smoke": SMOKE, "operators": OPERATORS, "series": SERIES, "kill_rate": KILL, "wall_s": round(wall, 1),
        "plans": len(rows), "applies_launched": len(applied), "killed": sum(1 for r in applied if r["killed"]),
        "apply_exits": dict(Counter(str(r["apply_exit"]) for r in applied)), "statuses": statuses,
        "starts": len(starts), "closed": len(closes),
        "recorded_exactly_once": sorted(starts) == sorted(closes) and len(set(starts)) == len(starts),
        "applies_per_minute": round(len(closes) / (wall / 60), 2) if wall else 0.0,
        "worst_lock_wait_s": round(max(waits, default=0.0), 1), "ledger_problems": chain,
        "recover_exit": recover.returncode, "verify_exit": verify.returncode, "verify_output": verify.stdout[-2000:],
        "locked_after": locked, "processes_left": leftovers, "rows": rows,
    }
    lines = [f"{OPERATORS} operators at once on the sandbox, {SERIES} request(s) each (INFO-004/005), about "
             f"{KILL:.0%} of the applies killed with SIGKILL; then `evidence recover` and `evidence verify`.", "",
             row("measure", "result", "target"), row("---", "---", "---"),
             row("applies closed", f"{len(closes)} in {wall:.0f} s = {result['applies_per_minute']} applies/min "
                 f"({result['killed']} of {len(applied)} killed; statuses {statuses})", "—"),
             row("worst lock wait", f"{result['worst_lock_wait_s']} s", "—"),
             row("every apply recorded exactly once", "yes" if result["recorded_exactly_once"] else "**no**", "yes"),
             row("ledger problems / `evidence verify` exit", f"{len(chain)} / {verify.returncode}", "0 / 0"),
             row("environments locked / run processes left afterwards", f"{locked or 'none'} / {len(leftovers)}",
                 "none / 0")]
    finish("load", "Operators at once, with killed applies (crash safety)", result, "\n".join(lines))
    ok = (result["recorded_exactly_once"] and not chain and verify.returncode == 0 and not locked and not leftovers
          and all(r["plan_exit"] in (0, 4) for r in rows))
    if not ok:
        raise SystemExit("load: the record does not hold; see bench/results/load.json")


if __name__ == "__main__":
    main()
