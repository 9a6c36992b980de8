"""make bench: the monthly record, the due list and the record of manual work (issues #15, #26).

1. ``ops-driver report --month 2026-11`` over an evidence folder of 10,000 bundles of that month (real bundles made
   by ``bundles.write_bundle``, each in the ledger; every 50th plan approved, every 100th apply an emergency, a few
   altered afterwards) plus 2,000 of the months around it, and 5,000 records of manual work of that month
   (``records.manual.record``, one in ten ``ng``): median wall time of the whole command, per format, and the HTML
   page in Japanese (target < 5 s).
2. ``ops-driver due --date`` (the day's checklist, marked from that evidence) and ``--month``: median wall time of
   the whole command (target for ``--date``: 300 ms).
3. ``ops-driver record TASK --result done --note … --attach FILE`` (a 200 kB attachment): median wall time of the
   whole command (target < 1 s).

Rounds: ``BENCH_ROUNDS`` (default 5; ``due`` runs twice as many). Bundles: ``BENCH_RECORD_BUNDLES`` (default 10000);
records: ``BENCH_MANUAL_RECORDS`` (default 5000). ``BENCH_SMOKE=1``: 40 bundles, 20 records, one round. Prints a
table and writes ``records.json`` and ``records.md`` (bench/common.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import SMOKE, finish, rounds, row, size  # noqa: E402
from ops_driver.catalog import load_catalog  # noqa: E402
from ops_driver.evidence import (  # noqa: E402
    bundles,
    governance,
    ledger,
)
from ops_driver.records import manual  # noqa: E402
from tests.support import runs  # noqa: E402

BIN = Path(sys.executable).parent
ROUNDS = rounds(5)
BUNDLES = size(10000, 40, "BENCH_RECORD_BUNDLES")
RECORDS = size(5000, 20, "BENCH_MANUAL_RECORDS")
#: Recurring manual tasks (daily and weekly) the records are of.
MANUAL_TASKS = ("COMM-007", "COMM-008", "COMM-014", "CORE-007", "CORE-008", "COMM-003", "COMM-010", "CORE-018")
TASKS = ("INFO-004", "INFO-005", "INFO-006", "INFO-011", "STAT-001", "STAT-013", "CORE-012", "COMM-025", "STAT-011")
ENVS = ("prod", "dr", "maint", "sandbox")


def make_folder(base: Path, count: int) -> dict[str, int]:
    """``count`` bundles in 2026-11 (Tokyo) and ``count // 5`` in October and December, with ledger lines."""
    rng = random.Random(15)
    start = dt.datetime(2026, 10, 31, 15, tzinfo=dt.UTC)  # 2026-11-01 00:00 Tokyo
    made = {"month": 0, "around": 0, "approvals": 0, "altered": 0}
    plans: list[str] = []
    catalog = load_catalog()
    for i in range(count + count // 5):
        inside = i < count
        if inside:
            at = start + dt.timedelta(seconds=rng.uniform(0, 30 * 86400))
        else:  # October or December
            at = start + dt.timedelta(days=rng.choice((-20, 31)), seconds=rng.uniform(0, 19 * 86400))
        kind = "plan" if rng.random() < 0.45 else "apply"
        task = rng.choice(TASKS)
        code = rng.choice((0,) * 17 + (2, 3, 4))
        plan_id = plans[-1] if kind == "apply" and plans else None
        run_id = bundles.new_run_id(kind, task, at)
        emergency = kind == "apply" and i % 100 == 7
        m = runs.manifest(
            kind, run_id, task, at=at, environment=rng.choice(ENVS), ticket=f"REQ-2026-{i:05d}", operator="tanaka",
            change_class="emergency" if emergency else rng.choice(("standard", "minor")),
            status={0: "planned" if kind == "plan" else "applied", 2: "invalid", 3: "failed", 4: "drifted"}[code],
            exit_code=code, plan_id=plan_id, emergency_reason="bench" if emergency else None)
        changes = [{"host": "aws-prod", "task": task, "resource": f"ec2:instance/i-{i:08x}{n}", "name": f"web{n}",
                    "action": "stop", "before": {"state": "running"}, "after": {"state": "stopped"},
                    "changed": n < 2} for n in range(3)]
        # the record as pipeline.record_run builds it (the tests' factory, tests/support/runs.py)
        rec = runs.record(kind, run_id, task, request={"task": task}, manifest=m, changes=changes, catalog=catalog)
        b = bundles.write_bundle(rec, bundles.Scrubber([]), base)
        ledger.append(base, kind, run_id, governance.manifest_sha256(b), ref=plan_id, now=at)
        if kind == "plan" and code == 0:
            plans.append(run_id)
            if i % 50 == 0 and m["environment"] == "sandbox":  # signed with the sandbox's demo key of yamada
                governance.approve(run_id, "yamada", "bench", base, now=at + dt.timedelta(minutes=5))
                made["approvals"] += 1
        if i % 997 == 0:
            (b.path / "stdout.txt").write_text("altered\n", encoding="utf-8")
            made["altered"] += 1
        made["month" if inside else "around"] += 1
    return made


def make_records(base: Path, count: int) -> dict[str, int]:
    """``count`` records of manual work dated in 2026-11 (Tokyo), each made on its day, one in ten ``ng``."""
    rng = random.Random(26)
    made = {"records": 0, "ng": 0}
    os.environ["OPS_TODAY"] = "2026-12-03"  # the records' days are all before it
    for i in range(count):
        day = dt.date(2026, 11, 1) + dt.timedelta(days=rng.randrange(30))
        at = dt.datetime.combine(day, dt.time(1), dt.UTC) + dt.timedelta(seconds=rng.uniform(0, 30000))
        ng = i % 10 == 3
        manual.record(rng.choice(MANUAL_TASKS), "ng" if ng else "done", note="bench finding" if ng else None,
                      date_text=day.isoformat(), environment=rng.choice(ENVS), base=base, now=at)
        made["records"] += 1
        made["ng"] += ng
    return made


def timed(cmd: list[str], env: dict[str, str], rounds: int) -> dict[str, Any]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        times.append(time.perf_counter() - start)
        if r.returncode != 0:
            raise SystemExit(f"bench: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "rounds": rounds}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ops-bench-records-") as tmp:
        base = Path(tmp) / "evidence"
        t0 = time.perf_counter()
        made = make_folder(base, BUNDLES)
        made.update(make_records(base, RECORDS))
        build_s = time.perf_counter() - t0
        env = dict(os.environ, OPS_EVIDENCE_DIR=str(base), OPS_TODAY="2026-12-03")
        od = str(BIN / "ops-driver")
        results: dict[str, Any] = {"bundles": made, "build_s": build_s}
        for fmt in ("md", "csv", "html"):
            results[f"report_{fmt}"] = timed([od, "report", "--month", "2026-11", "--format", fmt, "--out",
                                              str(Path(tmp) / f"record.{fmt}")], env, ROUNDS)
        results["report_html_ja"] = timed([od, "report", "--month", "2026-11", "--lang", "ja", "--out",
                                           str(Path(tmp) / "record-ja.html")], env, ROUNDS)
        results["due_date"] = timed([od, "due", "--date", "2026-11-30"], env, ROUNDS if SMOKE else ROUNDS * 2)
        attachment = Path(tmp) / "console.png"
        attachment.write_bytes(random.Random(1).randbytes(200 * 1024))
        results["record"] = timed([od, "record", "COMM-014", "--result", "done", "--date", "2026-12-02", "--note",
                                   "bench", "--attach", str(attachment)], env, ROUNDS)
        results["due_month"] = timed([od, "due", "--month", "2026-11"], env, ROUNDS if SMOKE else ROUNDS * 2)
        summary = json.loads(subprocess.run([od, "report", "--month", "2026-11", "--json"], env=env, cwd=ROOT,
                                            capture_output=True, text=True, check=True).stdout)["summary"]
        results["summary"] = summary
    lines = [f"Evidence folder: {made['month']:,} bundles in 2026-11, {made['around']:,} around it, "
             f"{made['approvals']} approvals, {made['altered']} altered, {made['records']:,} records of manual work "
             f"({made['ng']} ng) (built in {build_s:.0f} s); the record: {summary['runs']:,} runs, "
             f"{summary['records']:,} records, {summary['unverified']} unverified. Whole command, {ROUNDS} rounds "
             f"(`due`: {ROUNDS if SMOKE else ROUNDS * 2}).", "",
             row("measure", "median", "min", "max", "target"), row("---", "---", "---", "---", "---")]
    for key, label, target in (("report_md", "`report --month` (md)", "< 5 s"),
                               ("report_csv", "`report --month` (csv)", "< 5 s"),
                               ("report_html", "`report --month` (html)", "< 5 s"),
                               ("report_html_ja", "`report --month --lang ja` (html)", "< 5 s"),
                               ("due_date", "`due --date` (checklist)", "< 300 ms"),
                               ("due_month", "`due --month`", "-"),
                               ("record", "`record` (200 kB attachment)", "< 1 s")):
        r = results[key]
        lines.append(row(label, *(f"{r[k] * 1000:.0f} ms" for k in ("median_s", "min_s", "max_s")), target))
    finish("records", f"Monthly record over {made['month']:,} bundles and {made['records']:,} records, the due "
           "list and `record`", results,
           "\n".join(lines))


if __name__ == "__main__":
    main()
