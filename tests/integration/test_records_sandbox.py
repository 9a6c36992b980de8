"""The monthly record over real plan/apply bundles made in the sandbox: its rows and totals."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ops_driver.cli import main
from ops_driver.evidence.guards import JST
from ops_driver.run import pipeline
from tests.integration.conftest import write_request
from tests.support.approvals import approved

pytestmark = pytest.mark.integration


def test_report_of_the_month_holds_the_sandbox_runs(estate: Any, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    stop = write_request(tmp_path / "stop.yml", "INFO-005", {"instances": ["joho-web01"]}, ticket="REQ-REC-001")
    plan = pipeline.plan(stop)
    applied = pipeline.apply(approved(plan.run_id))
    assert plan.exit_code == 0 and applied.exit_code == 0, applied.message
    refused = pipeline.plan(write_request(tmp_path / "prod.yml", "INFO-005", {"instances": ["prod-joho-web01"]},
                                            ticket="REQ-REC-002"))
    assert refused.exit_code == 2
    month = dt.datetime.fromisoformat(plan.manifest["started_at"].replace("Z", "+00:00")).astimezone(JST)

    out = tmp_path / "record.csv"
    assert main(["report", "--month", f"{month:%Y-%m}", "--environment", "sandbox", "--out", str(out),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["kind"], r["task"], r["status"], r["exit_code"], r["changed"], r["verified"])
            for r in data["runs"]] == [(plan.run_id, "plan", "INFO-005", "planned", 0, 0, True),
                                       (applied.run_id, "apply", "INFO-005", "applied", 0, 1, True),
                                       (refused.run_id, "plan", "INFO-005", "invalid", 2, 0, True)]
    first = data["runs"][0]
    assert (first["disposition"], first["would_change"], first["outcome"]) == ("applied", 1, "planned")  # #29
    assert (first["environment"], first["ticket"], first["requested_by"], first["change_class"]) == (
        "sandbox", "REQ-REC-001", "pytest", "standard")
    assert first["date"] == month.date().isoformat() and first["task_name_ja"] == "システム起動/停止 / インスタンス停止"
    ids = {c["resource"] for c in applied.changes if c["changed"]}
    assert [r.split()[1] for r in data["runs"][1]["resources"]] == sorted(ids)
    assert data["by_task"] == [{"task": "INFO-005", "name_ja": "システム起動/停止 / インスタンス停止", "runs": 3,
                                "plans": 2, "applies": 1, "ok": 1, "invalid": 1, "failed": 0, "refused": 0,
                                "unverified": 0, "changed": 1}]
    assert [(e["environment"], e["runs"]) for e in data["by_environment"]] == [("sandbox", 3)]
    assert data["summary"]["changed"] == 1 and data["summary"]["invalid"] == 1
    assert "belongs to environment prod" in data["runs"][2]["message"]
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert [r["run_id"] for r in rows] == [plan.run_id, applied.run_id, refused.run_id]
