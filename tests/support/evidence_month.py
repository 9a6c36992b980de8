"""A month of evidence for the record tests: real bundles (``bundles.write_bundle``), ledger lines and approvals
(``governance.approve``), as ``ops-driver plan``/``apply``/``approve`` leave them.

:func:`november` writes 2026-11 (Asia/Tokyo) into an evidence folder and returns the run IDs by name. Times are
UTC; the comment gives the Tokyo date a run belongs to.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from ops_driver.evidence import bundles, governance, ledger
from tests.support import runs
from tests.support.signers import Signers

UTC = dt.UTC


def run(base: Path, kind: str, task: str, at: dt.datetime, *, environment: str = "sandbox", status: str | None = None,
        exit_code: int = 0, changes: list[dict[str, Any]] | None = None, plan_id: str | None = None,
        record: bool = True, minutes: int = 2, **manifest: Any) -> str:
    """Write one bundle (and its ledger line unless ``record`` is False); returns its run ID."""
    run_id = bundles.new_run_id(kind, task, at)
    status = status or ("planned" if kind == "plan" else "applied")
    keys: dict[str, Any] = {"environment": environment, "ticket": f"REQ-{task}-{at:%m%d}", "operator": "tanaka",
                            "status": status, "exit_code": exit_code, "plan_id": plan_id,
                            "message": "" if exit_code == 0 else f"{task} {status}", **manifest}
    m = runs.manifest(kind, run_id, task, at=at, minutes=minutes, **keys)
    rec = runs.record(kind, run_id, task, request={"task": task, "environment": environment}, manifest=m,
                      changes=changes or [], report="# r\n")
    b = runs.write(base, rec)
    if record:
        ledger.append(base, kind, run_id, governance.manifest_sha256(b), ref=plan_id, now=at)
    return run_id


def change(resource: str, changed: bool = True, host: str = "aws-sandbox") -> dict[str, Any]:
    return {"host": host, "task": "", "resource": resource, "name": resource.split("/")[-1], "action": "stop",
            "before": {"state": "running"}, "after": {"state": "stopped"}, "changed": changed}


def november(base: Path, signers: Signers) -> dict[str, str]:
    """2026-11 in Asia/Tokyo (``signers``: the ``signers`` fixture; suzuki's prod approval is signed with a key it
    lists). Holidays: 11-03 (文化の日), 11-23 (勤労感謝の日); 19 business days.

    - ``stop_plan``/``stop_apply``: INFO-005 sandbox, two instances stopped (11-02); the plan approved by yamada
      (change class minor);
    - ``stat013``: STAT-013 prod apply on 11-02 (its 1st business day: done);
    - ``stat001_*``: STAT-001 prod applies on 11-02 and 11-04 (done), none on 11-05 (missed);
    - ``core012_late`` … none: CORE-012 prod is monthly (done when any apply of the month);
    - ``failed``: INFO-004 sandbox apply that failed (exit 3) on 11-10; ``refused``: INFO-005 apply drifted (exit 4)
      on 11-11; ``invalid``: INFO-005 plan refused by the role (exit 2) on 11-12;
    - ``emergency``: INFO-006 prod emergency apply on 11-13, no approval after the fact (pending);
      ``emergency_ok``: one approved after the fact by suzuki;
    - ``altered``: INFO-004 plan whose report.md was edited afterwards (unverified); ``unrecorded``: a plan that is
      not in the ledger (unverified);
    - ``last_day``: INFO-004 plan at 23:30 Tokyo on 11-30 (14:30Z: November); ``october``: 23:30 Tokyo on 10-31
      (October, not in the record); ``december``: 00:30 Tokyo on 12-01 (15:30Z on 11-30 UTC: December).
    """
    ids: dict[str, str] = {}
    t = lambda d, h, mi=0: dt.datetime(2026, 11, d, h, mi, tzinfo=UTC)  # noqa: E731 - a short local helper
    ids["october"] = run(base, "plan", "INFO-004", dt.datetime(2026, 10, 31, 14, 30, tzinfo=UTC))
    ids["stop_plan"] = run(base, "plan", "INFO-005", t(2, 0, 10), change_class="minor",
                           changes=[change("ec2:instance/i-0a"), change("ec2:instance/i-0b")])
    governance.approve(ids["stop_plan"], "yamada", "ok for the patch window", base, now=t(2, 0, 20))
    ids["stop_apply"] = run(base, "apply", "INFO-005", t(2, 0, 30), change_class="minor", plan_id=ids["stop_plan"],
                            changes=[change("ec2:instance/i-0a"), change("ec2:instance/i-0b"),
                                     change("ec2:instance/i-0c", changed=False)])
    ids["stat013"] = run(base, "apply", "STAT-013", t(2, 1), environment="prod")
    ids["stat001_02"] = run(base, "apply", "STAT-001", t(1, 23), environment="prod")  # 08:00 Tokyo on 11-02
    ids["stat001_04"] = run(base, "apply", "STAT-001", t(4, 0), environment="prod")
    ids["stat001_plan_05"] = run(base, "plan", "STAT-001", t(5, 0), environment="prod")  # a plan does not count
    ids["failed"] = run(base, "apply", "INFO-004", t(10, 2), status="failed", exit_code=3,
                        changes=[change("ec2:instance/i-0a")])
    ids["refused"] = run(base, "apply", "INFO-005", t(11, 2), status="drifted", exit_code=4)
    ids["invalid"] = run(base, "plan", "INFO-005", t(12, 2), status="invalid", exit_code=2)
    ids["emergency"] = run(base, "apply", "INFO-006", t(13, 3), environment="prod", change_class="emergency",
                           emergency_reason="DB hung at 02:00", operator="kato",
                           changes=[change("ec2:instance/i-0d", host="aws-prod")])
    ids["emergency_ok"] = run(base, "apply", "INFO-006", t(16, 3), environment="prod", change_class="emergency",
                              emergency_reason="web tier hung", operator="kato")
    governance.approve(ids["emergency_ok"], None, "after the fact", base, now=t(16, 5), key=signers.key("suzuki"))
    ids["altered"] = run(base, "plan", "INFO-004", t(17, 4))
    (base / ids["altered"] / "report.md").write_text("# edited afterwards\n", encoding="utf-8")
    ids["unrecorded"] = run(base, "plan", "INFO-004", t(18, 4), record=False)
    ids["last_day"] = run(base, "plan", "INFO-004", t(30, 14, 30))
    ids["december"] = run(base, "plan", "INFO-004", t(30, 15, 30))
    return ids


def manifest(base: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((base / run_id / bundles.MANIFEST).read_text(encoding="utf-8"))
    return data
