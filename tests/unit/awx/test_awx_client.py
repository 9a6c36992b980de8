"""``evidence import-awx --url URL --job ID`` (issue #24, item 6): the job, its events (paged) and its workflow's
approvals read from the AWX API (a recording HTTP double on 127.0.0.1 in the API's shapes, tests/support/awx_api.py),
recorded as ``source: awx``; a job imported from files is ``source: file (unverified)`` and never does a due task."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ops_driver.awx import client, jobs
from ops_driver.cli import main
from ops_driver.evidence import bundles
from ops_driver.records import monthly
from ops_driver.run.runner import RunResult
from tests.support import awx_api

TOKEN = "awx-token-9f8e7d6c5b4a"
JOB_ID = 4242
REQUEST = {"task": "STAT-001", "environment": "prod", "ticket": "REQ-AWX-001", "requested_by": "sato",
           "reason": "start-of-business check", "params": {"project": "STATPRJ"}}


def _run() -> RunResult:
    """A finished STAT-001 run job as AWX's events show it: the request check, one task, the stats."""
    events: list[dict[str, Any]] = [
        {"uuid": "u1", "counter": 1, "event": "playbook_on_start", "event_data": {}, "stdout": "",
         "created": "2026-11-02T00:00:01Z"},
        {"uuid": "u2", "counter": 2, "event": "runner_on_ok", "stdout": "ok: [localhost]",
         "created": "2026-11-02T00:00:02Z", "parent_uuid": "u1",
         "event_data": {"host": "localhost", "task": "Check the work request of an AWX / Tower job",
                        "task_action": "work_request_check", "res": {"changed": False, "ops_request": REQUEST}}},
        {"uuid": "u3", "counter": 3, "event": "playbook_on_stats", "stdout": "", "created": "2026-11-02T00:00:09Z",
         "event_data": {"ok": {"localhost": 1}, "changed": {}, "failures": {}, "dark": {}}},
    ]
    return RunResult(status="successful", rc=0, events=events, stdout="", artifacts={}, duration_s=9.0)


def _job(workflow: bool = True) -> dict[str, Any]:
    job = awx_api.job_object(_run(), JOB_ID, "run", "tanaka", {}, "playbooks/stat-001-datastage-check.yml",
                             "STAT-001", "ops-prod", launched_by_workflow=workflow)
    return dict(job, started="2026-11-02T00:00:00.000000Z", finished="2026-11-02T00:00:09.000000Z")


@pytest.fixture()
def awx(monkeypatch: pytest.MonkeyPatch) -> Iterator[awx_api.AwxDouble]:
    monkeypatch.setenv("AWX_TOKEN", TOKEN)
    with awx_api.AwxDouble(TOKEN) as double:
        yield double


def test_a_workflow_job_is_read_with_its_approvals(awx: awx_api.AwxDouble, capsys: pytest.CaptureFixture[str],
                                                   _scratch_dirs: Path) -> None:
    approvals = [awx_api.workflow_approval(501, "successful", "yamada", "2026-11-01T23:58:00Z"),
                 awx_api.workflow_approval(502, "failed", "suzuki", "2026-11-01T23:57:00Z"),
                 awx_api.workflow_approval(503, "successful", "tanaka", "2026-11-01T23:59:00Z")]
    awx.serve_job(_job(), awx_api.job_event_pages(_run().events, JOB_ID, page_size=1), approvals)
    assert main(["evidence", "import-awx", "--url", awx.url, "--job", str(JOB_ID)]) == 0
    out, err = capsys.readouterr()
    assert "source: awx" in out and "'Approve the change': denied by suzuki" in out
    assert "tanaka at 2026-11-01T23:59:00Z (the launcher approved it)" in out
    (b,) = bundles.all_bundles()
    m = b.manifest()
    assert (m["source"], m["kind"], m["operator"], m["awx_url"], m["awx_workflow_job"]) == (
        "awx", "apply", "tanaka", awx.url, awx_api.WORKFLOW_JOB_ID)
    assert [(a["by"], a["decision"], a["at"], a["source"], a["self_approved"]) for a in m["awx_approvals"]] == [
        ("yamada", "approved", "2026-11-01T23:58:00Z", "awx", False),
        ("suzuki", "denied", "2026-11-01T23:57:00Z", "awx", False),
        ("tanaka", "approved", "2026-11-01T23:59:00Z", "awx", True)]
    paths = [p for p, _ in awx.requests]
    assert paths == [f"/api/v2/jobs/{JOB_ID}/", f"/api/v2/jobs/{JOB_ID}/job_events/?page_size=200",
                     f"/api/v2/jobs/{JOB_ID}/job_events/?page=2", f"/api/v2/jobs/{JOB_ID}/job_events/?page=3",
                     "/api/v2/workflow_jobs/77/workflow_nodes/", "/api/v2/workflow_approvals/501/",
                     "/api/v2/workflow_approvals/502/", "/api/v2/workflow_approvals/503/"]
    assert {h for _, h in awx.requests} == {f"Bearer {TOKEN}"}
    # the token is never written or printed
    assert TOKEN not in out + err
    assert not [p for p in _scratch_dirs.rglob("*") if p.is_file() and TOKEN in p.read_text(errors="replace")]
    # the record: the AWX approvers, and STAT-001 of 11-02 done by the API import
    rec = monthly.collect(2026, 11, environment="prod", today=dt.date(2026, 12, 3))
    (row,) = rec.runs
    assert row.approvers == ["yamada (AWX)", "tanaka (AWX, the launcher)"] and row.verified
    assert [d.state for d in rec.due if d.task == "STAT-001" and d.days[0] == "2026-11-02"] == ["done"]


def test_a_job_imported_from_files_is_unverified_and_does_no_task(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text(json.dumps(_job(workflow=False)), encoding="utf-8")
    (tmp_path / "events.json").write_text(json.dumps(awx_api.job_event_pages(_run().events, JOB_ID)),
                                          encoding="utf-8")
    out = jobs.import_awx(tmp_path / "job.json", tmp_path / "events.json")
    assert out.manifest["source"] == "file (unverified)" and out.exit_code == 0
    rec = monthly.collect(2026, 11, environment="prod", today=dt.date(2026, 12, 3))
    (row,) = rec.runs
    assert not row.verified and "does not count as doing the task" in row.problems[0]
    assert [d.state for d in rec.due if d.task == "STAT-001" and d.days[0] == "2026-11-02"] == ["missed"]


def test_bad_urls_tokens_and_answers_are_invalid_input(awx: awx_api.AwxDouble, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--url", "https://user:pw@awx.example/", "--job", "1"], ["--url", awx.url, "--job", "x"],
                 ["--url", awx.url, "--job", "1", "--events", "e.json"], ["--job", "job.json"]):
        assert main(["evidence", "import-awx", *argv]) == 2
    assert main(["evidence", "import-awx", "--url", awx.url, "--job", "9"]) == 2
    assert f"AWX {awx.url}/api/v2/jobs/9/: HTTP 404: no such object" in capsys.readouterr().err
    monkeypatch.setenv("AWX_TOKEN", "wrong")
    assert main(["evidence", "import-awx", "--url", awx.url, "--job", "9"]) == 2
    err = capsys.readouterr().err
    assert "HTTP 401: the token is not accepted" in err and "wrong" not in err
    monkeypatch.delenv("AWX_TOKEN")
    monkeypatch.delenv("CONTROLLER_OAUTH_TOKEN", raising=False)
    with pytest.raises(client.InvalidInput, match="no AWX token"):
        client.fetch(awx.url, "9")


def test_a_next_link_to_another_server_is_not_followed(awx: awx_api.AwxDouble) -> None:
    awx.routes["/api/v2/jobs/5/job_events/"] = {"count": 2, "next": "http://evil.example/steal?page=2",
                                                 "previous": None, "results": []}
    with pytest.raises(client.InvalidInput, match="link to another server"):
        client.Client(awx.url, TOKEN).pages("/api/v2/jobs/5/job_events/")
