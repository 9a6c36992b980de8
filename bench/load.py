"""make bench: operators at once on the sandbox's four environments, with random kills (issue 23), against a
private sandbox on 127.0.0.1.

``BENCH_OPERATORS`` operators (default 10) each plan and apply a series of ``BENCH_SERIES`` requests (default 3:
INFO-005 stop or INFO-004 start of a random instance of the request's environment, so that operators collide on
instances and on the environment locks). The environments take turns: request ``i`` of operator ``n`` is for
``sandbox``, ``prod``, ``dr`` or ``maint`` (``ENVIRONMENTS[(n + i) % 4]``), so every environment has applies
running at once with the others'. ``BENCH_KILL`` (default 0.2) of the applies are killed with SIGKILL at a random
moment after their start is on the record. Every apply waits for its environment's lock (``OPS_LOCK_WAIT`` 900 s).
Afterwards ``ops-driver evidence recover`` closes what the kills left, and the bench asserts (exit status 1 with
``load: the record does not hold``, never a time limit): every apply started is recorded exactly once (one
``start`` and one ``apply`` ledger line), the ledger chain is contiguous and ``evidence verify`` exits 0, no
environment is locked, no process of a run is left, every plan exited 0 or 4 and every apply 0, 4 (refused:
drift, a collision) or -9 (killed). It reports the applies per minute and the worst lock wait (``lock_wait_s`` of
the apply manifests), overall and per environment. An environment whose ``class_floor`` in ``policy/change.yml``
needs approvals (prod: minor) has its applies refused for want of one (exit 4), as they must be: the bench has no
approver's key in ``policy/allowed_signers``; it checks that each was refused for that reason, and that every other
environment closed applies.

How prod, dr and maint reach the sandbox: the sandbox's estate has every environment's instances
(``dev/ops_sandbox/aws.py``: ``prod-joho-web01`` … tagged ``Environment: prod``). Their inventories give no
endpoint or credentials (in production they come from the control node's environment or instance profile), so
the bench gives them through the standard AWS variables of its own processes - ``AWS_ENDPOINT_URL`` (boto3 and
botocore >= 1.31, "Service-specific endpoints" of the AWS SDKs and Tools Reference Guide), ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` (the sandbox's, which moto accepts), ``AWS_EC2_METADATA_DISABLED`` - and, as a guard that
nothing leaves the machine, ``HTTP_PROXY`` / ``HTTPS_PROXY`` pointing at a closed port of 127.0.0.1 with
``NO_PROXY=127.0.0.1,localhost``: a call meant for any other address fails instead of going out. Nothing in the
project is changed. A declared operator is refused outside the sandbox environment, so the applies of prod, dr
and maint are the OS account's (the ten operators are ten processes at once, one person); the sandbox's are
declared ``operator-NN``.

``BENCH_SMOKE=1``: two operators, one request each (sandbox and prod), the first apply killed; a few minutes on
a quiet machine. Prints its table and writes ``load.json`` / ``load.md`` (bench/common.py).
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
from ops_driver.evidence import bundles, governance, guards, ledger  # noqa: E402
from ops_driver.paths import ENVIRONMENTS  # noqa: E402
from ops_driver.run.runner import RUN_MARKER  # noqa: E402
from ops_sandbox.aws import CREDENTIALS, REGION, ROLES, instance_name  # noqa: E402

BIN = Path(sys.executable).parent
OPERATORS = 2 if SMOKE else int(os.environ.get("BENCH_OPERATORS", "10"))
SERIES = 1 if SMOKE else int(os.environ.get("BENCH_SERIES", "3"))
KILL = float(os.environ.get("BENCH_KILL", "0.2"))
#: The sandbox's first: the smoke run's two operators work in sandbox and prod.
ORDER = ("sandbox", *(e for e in ENVIRONMENTS if e != "sandbox"))
#: A closed port of 127.0.0.1 (discard): what HTTP(S)_PROXY names, so that a call for any other address fails.
NOWHERE = "http://127.0.0.1:9"


def environment_of(operator: int, n: int) -> str:
    """The environment of request ``n`` of ``operator``: they take turns (see the module docstring)."""
    return ORDER[(operator + n) % len(ORDER)]


def _request(path: Path, operator: int, n: int, environment: str, rng: random.Random) -> Path:
    import yaml

    task = rng.choice(("INFO-005", "INFO-004"))
    ticket = f"REQ-BENCH-{operator:02d}{n:02d}"
    path.write_text(yaml.safe_dump({"task": task, "environment": environment, "ticket": ticket,
                                    "requested_by": "bench", "reason": "load benchmark",
                                    "params": {"instances": [instance_name(environment, rng.choice(ROLES))]}}))
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
    for i in range(SERIES):
        environment = environment_of(n, i)
        oenv = dict(env, OPS_LOCK_WAIT="900", OPS_LEDGER_LOCK_WAIT="900")
        if environment == "sandbox":  # a declared operator is refused anywhere else
            oenv["OPS_OPERATOR"] = f"operator-{n:02d}"
        req = _request(work / f"req-{n}-{i}.yml", n, i, environment, rng)
        plan = subprocess.run([str(BIN / "ops-driver"), "plan", "--quiet", "--json", str(req)], env=oenv, cwd=ROOT,
                              capture_output=True, text=True, timeout=1800)
        row: dict[str, Any] = {"operator": n, "environment": environment, "request": req.name,
                               "plan_exit": plan.returncode}
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
            if proc.poll() is None:  # a random moment of the run: the point of a load test; in smoke mode at once
                time.sleep(0.0 if SMOKE else rng.uniform(0.0, 3.0))  # (the kill path runs either way)
                proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=1800)
        row.update(plan_id=plan_id, killed=kill and proc.returncode == -signal.SIGKILL, apply_exit=proc.returncode,
                   apply_s=round(time.monotonic() - start, 2))
        if proc.returncode not in (0, -signal.SIGKILL):
            row["apply_error"] = stderr[-300:]
        out.append(row)


def _unapproved(r: dict[str, Any]) -> bool:
    """An apply refused (exit 4) because its plan has not the approvals its class needs (governance's refusal)."""
    return r.get("apply_exit") == 4 and "approval(s) by different people" in str(r.get("apply_error", ""))


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
        (work / "home").mkdir()
        state = ops_sandbox.up(sdir, without=("web", "esa"))  # EC2 only
        assert state.endpoint and state.endpoint.startswith("http://127.0.0.1:"), state.endpoint
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.lower() not in (
            "http_proxy", "https_proxy", "all_proxy", "no_proxy")}
        env.update(OPS_SANDBOX_DIR=str(sdir), OPS_EVIDENCE_DIR=str(base), HOME=str(work / "home"),
                   ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_HOME=str(work / "ansible-home"),
                   PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""),
                   # prod, dr, maint: their AWS calls go to the sandbox's moto server, and nowhere else
                   AWS_ENDPOINT_URL=state.endpoint, AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
                   AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"], AWS_DEFAULT_REGION=REGION,
                   AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull,
                   AWS_SHARED_CREDENTIALS_FILE=os.devnull, HTTP_PROXY=NOWHERE, HTTPS_PROXY=NOWHERE,
                   http_proxy=NOWHERE, https_proxy=NOWHERE, NO_PROXY="127.0.0.1,localhost",
                   no_proxy="127.0.0.1,localhost")
        subprocess.run([str(BIN / "ops-driver"), "evidence", "init"], env=env, check=True, capture_output=True)
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
            waits: dict[str, list[float]] = {e: [] for e in ORDER}
            statuses: dict[str, dict[str, int]] = {e: {} for e in ORDER}
            for run_id in starts:
                m = bundles.bundle(run_id, base).manifest()
                e, status = str(m.get("environment")), str(m.get("status"))
                waits.setdefault(e, []).append(float(m.get("lock_wait_s") or 0.0))
                statuses.setdefault(e, {})[status] = statuses[e].get(status, 0) + 1
            locked = []
            for environment in ORDER:
                try:
                    with guards.environment_lock(base / ".locks", environment, "bench check", wait_s=0):
                        pass
                except Exception:  # noqa: BLE001 - reported below
                    locked.append(environment)
            leftovers = _marked_processes(base)
        finally:
            ops_sandbox.down(sdir)
    applied = [r for r in rows if "apply_exit" in r]
    policy = governance.load_policy()
    gated = {e for e in ORDER if (floor := policy.floor(e)) and policy.get(floor).approvals}
    unapproved = [r for r in applied if r["environment"] in gated]
    every = [w for ws in waits.values() for w in ws]
    per_env = {e: {"applies": sum(statuses.get(e, {}).values()), "statuses": statuses.get(e, {}),
                   "worst_lock_wait_s": round(max(waits.get(e, []), default=0.0), 1)} for e in ORDER}
    result = {
        "smoke": SMOKE, "operators": OPERATORS, "series": SERIES, "kill_rate": KILL, "wall_s": round(wall, 1),
        "plans": len(rows), "applies_launched": len(applied), "killed": sum(1 for r in applied if r["killed"]),
        "apply_exits": dict(Counter(str(r["apply_exit"]) for r in applied)), "environments": per_env,
        "starts": len(starts), "closed": len(closes),
        "recorded_exactly_once": sorted(starts) == sorted(closes) and len(set(starts)) == len(starts),
        "applies_per_minute": round(len(closes) / (wall / 60), 2) if wall else 0.0,
        "worst_lock_wait_s": round(max(every, default=0.0), 1), "ledger_problems": chain,
        "recover_exit": recover.returncode, "verify_exit": verify.returncode, "verify_output": verify.stdout[-2000:],
        "locked_after": locked, "processes_left": leftovers, "rows": rows,
    }
    lines = [f"{OPERATORS} operators at once on the sandbox's four environments ({', '.join(ORDER)}; prod, dr and "
             f"maint through `AWS_ENDPOINT_URL`), {SERIES} request(s) each (INFO-004/005), about {KILL:.0%} of the "
             "applies killed with SIGKILL; then `evidence recover` and `evidence verify`.", "",
             row("measure", "result", "target"), row("---", "---", "---"),
             row("applies closed", f"{len(closes)} in {wall:.0f} s = {result['applies_per_minute']} applies/min "
                 f"({result['killed']} of {len(applied)} killed; apply exits {result['apply_exits']})", "—"),
             row("applies refused for want of an approval (class_floor of policy/change.yml: "
                 + ", ".join(f"{e} {policy.floor(e)}" for e in sorted(gated)) + ")",
                 f"{sum(1 for r in unapproved if _unapproved(r))} of {len(unapproved)}", "all of them"),
             row("worst lock wait", f"{result['worst_lock_wait_s']} s (" + ", ".join(
                 f"{e} {v['worst_lock_wait_s']} s" for e, v in per_env.items()) + ")", "—"),
             row("applies per environment", ", ".join(f"{e} {v['applies']} {v['statuses']}"
                                                     for e, v in per_env.items()), "—"),
             row("every apply recorded exactly once", "yes" if result["recorded_exactly_once"] else "**no**", "yes"),
             row("ledger problems / `evidence verify` exit", f"{len(chain)} / {verify.returncode}", "0 / 0"),
             row("environments locked / run processes left afterwards", f"{locked or 'none'} / {len(leftovers)}",
                 "none / 0")]
    finish("load", "Operators at once, with killed applies (crash safety)", result, "\n".join(lines))
    ok = (result["recorded_exactly_once"] and not chain and verify.returncode == 0 and not locked and not leftovers
          and all(r["plan_exit"] in (0, 4) for r in rows)
          and all(r["apply_exit"] in (0, 4, -signal.SIGKILL) for r in applied)
          and all(_unapproved(r) for r in unapproved)
          and all(v["applies"] for e, v in per_env.items() if not SMOKE and e not in gated))
    if not ok:
        raise SystemExit("load: the record does not hold; see bench/results/load.json")


if __name__ == "__main__":
    main()
