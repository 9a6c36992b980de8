"""A change reviewer's day in the sandbox (issue #29): ``review`` → ``evidence show`` → ``approve`` or ``reject``,
as a reviewer types it (``ops_driver.cli.main``, short run-ID prefixes, ``--json`` in either position).

Every refusal is checked to leave the estate as it was (DescribeInstances before and after).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.cli import main
from ops_driver.evidence import ledger
from ops_driver.paths import evidence_dir
from tests.integration.conftest import ids_by_name, states

pytestmark = pytest.mark.integration


def _request(path: Path, ticket: str, instance: str, change_class: str) -> Path:
    path.write_text(yaml.safe_dump({"task": "INFO-005", "environment": "sandbox", "ticket": ticket,
                                    "requested_by": "sato", "reason": "reviewer's day",
                                    "change_class": change_class, "params": {"instances": [instance]}}),
                    encoding="utf-8")
    return path


def _plan(capsys: pytest.CaptureFixture[str], request: Path) -> tuple[dict[str, Any], str]:
    capsys.readouterr()
    assert main(["--json", "plan", str(request), "--quiet", "--operator", "tanaka"]) == 0
    got = capsys.readouterr()
    return json.loads(got.out), got.err


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    capsys.readouterr()
    assert main(argv) == 0, argv
    return json.loads(capsys.readouterr().out)


def test_a_reviewers_day_review_show_approve_and_reject(estate: Any, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    ids = ids_by_name(estate)
    web01, ap01 = ids["joho-web01"], ids["joho-ap01"]
    minor, _ = _plan(capsys, _request(tmp_path / "a.yml", "REQ-DAY-1", "joho-web01", "minor"))
    major, _ = _plan(capsys, _request(tmp_path / "b.yml", "REQ-DAY-2", "joho-ap01", "major"))
    reused, warning = _plan(capsys, _request(tmp_path / "c.yml", "REQ-DAY-1", "joho-ap01", "minor"))
    # the ticket of the first plan, on another instance: a warning naming the earlier run
    assert "WARNING: ticket REQ-DAY-1 was used before for other work" in warning and minor["run_id"] in warning
    assert [r["run_id"] for r in reused["ticket_reuse"]] == [minor["run_id"]]
    assert minor["ticket_reuse"] == [] and major["ticket_reuse"] == []

    # what waits for yamada (not the operator tanaka, not the requester sato)
    queue = _json(capsys, ["review", "--mine", "--by", "yamada", "--json"])["waiting"]
    assert [(r["run_id"], r["change_class"], r["approvals"], r["needed"]) for r in queue] == [
        (minor["run_id"], "minor", 0, 1), (major["run_id"], "major", 0, 2), (reused["run_id"], "minor", 0, 1)]
    assert _json(capsys, ["--json", "review", "--mine", "--by", "sato"])["waiting"] == []  # the requester's
    assert [r["run_id"] for r in _json(capsys, ["review", "--ticket", "req-day-1", "--json"])["waiting"]] == [
        minor["run_id"], reused["run_id"]]
    assert main(["evidence", "show", "REQ-DAY-1"]) == 0  # two runs of the ticket: listed
    assert "2 runs of ticket REQ-DAY-1" in capsys.readouterr().out

    # the minor plan: read it by a short prefix, approve it, the status is live; another operator applies it
    short = minor["run_id"][:-3]
    assert main(["evidence", "show", short]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("STATUS NOW: waiting for approval: approved 0 of 1")
    assert "refuses it until 1 approval(s)" in shown  # report.md as written at plan time, below
    assert main(["approve", short, "--by", "yamada", "--comment", "window agreed"]) == 0
    status = _json(capsys, ["evidence", "show", short, "--json"])["status"]
    assert (status["state"], status["approved_by"]) == ("approved", ["yamada"])
    assert main(["evidence", "show", short]) == 0
    assert capsys.readouterr().out.startswith("STATUS NOW: approved 1 of 1 (by yamada)")
    assert main(["apply", short, "--quiet", "--operator", "suzuki"]) == 0
    assert states(estate)[web01] == "stopped"
    capsys.readouterr()
    assert main(["evidence", "show", short]) == 0
    assert capsys.readouterr().out.startswith("STATUS NOW: applied by ")

    # the major plan: rejected; it can be neither approved nor applied, and nothing runs
    before = states(estate)
    assert main(["reject", major["run_id"][:-2], "--by", "yamada", "--reason", "ap01 serves the exam; not today"]) == 0
    assert main(["approve", major["run_id"], "--by", "kato"]) == 4
    assert main(["apply", major["run_id"], "--quiet", "--operator", "suzuki"]) == 4
    err = capsys.readouterr().err
    assert f"plan {major['run_id']} was rejected by yamada" in err and "ap01 serves the exam" in err
    assert states(estate) == before and before[ap01] == "running"
    status = _json(capsys, ["evidence", "show", major["run_id"], "--json"])["status"]
    assert status["state"] == "rejected" and status["text"].startswith("rejected by yamada at ")

    # what is left, the ledger and its checks
    assert [r["run_id"] for r in _json(capsys, ["review", "--json"])["waiting"]] == [reused["run_id"]]
    assert [e.kind for e in ledger.entries(evidence_dir())][-4:] == ["approval", "start", "apply", "reject"]
    assert _json(capsys, ["evidence", "verify", "--failed", "--json"]) == {
        "verified": True, "checked": 4, "failed": 0, "bundles": {}}
