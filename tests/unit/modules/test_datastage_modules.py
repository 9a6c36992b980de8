"""library/datastage_check.py and library/datastage_logs.py: the logic of STAT-001 and STAT-013 on a stub of the
DataStage CLI (module_utils/datastage_cli.py), without dsjob; the runs through ops-driver are
tests/integration/test_datastage.py, the CLI's parsing tests/unit/module_utils/test_datastage_cli.py."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest

from library import datastage_check, datastage_logs
from tests.support.ec2_stub import Exited, FakeModule

T = dt.datetime(2026, 11, 4, 9, 0)


class StubCli:
    """The calls of the modules: ``lprojects``, ``ljobs``, ``jobinfo`` (None: unreadable), ``logsum``."""

    def __init__(self, jobs: dict[str, int | None], events: list[dict[str, Any]] | None = None,
                 answers: bool = True) -> None:
        self.jobs, self.events, self.answers = jobs, events or [], answers

    def lprojects(self) -> list[str]:
        if not self.answers:
            raise datastage_check.DataStageError("dsjob -lprojects: connection refused")
        return ["TOUKEI", "dstage1"]

    def ljobs(self, project: str) -> list[str]:
        return list(self.jobs)

    def jobinfo(self, project: str, job: str) -> dict[str, Any] | None:
        status = self.jobs[job]
        return None if status is None else {"status": status, "status_label": f"S{status}", "start_time": T}

    def logsum(self, project: str, job: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["job"] == job]


def _check(jobs: dict[str, int | None], policy: str = "warn", project: str = "toukei",
           answers: bool = True) -> tuple[FakeModule, dict[str, Any]]:
    module = FakeModule({"server": "ds01", "project": project, "status_policy": policy})
    result: dict[str, Any] = {"jobs": [], "attention": [], "ops_changes": []}
    datastage_check.check(module, StubCli(jobs, answers=answers), result)
    return module, result


def test_a_check_of_good_jobs_records_them_and_changes_nothing() -> None:
    module, result = _check({"J1": 1, "J2": 2})
    assert [j["name"] for j in result["jobs"]] == ["J1", "J2"] and result["attention"] == []
    (change,) = result["ops_changes"]
    assert change["resource"] == "datastage:ds01/TOUKEI" and change["changed"] is False  # project named as listed
    assert module.warnings == []


def test_jobs_needing_attention_warn_or_fail_by_the_status_policy() -> None:
    status = sorted(datastage_check.ATTENTION)[0]
    module, result = _check({"J1": 1, "J2": status})
    assert [a["name"] for a in result["attention"]] == ["J2"] and "need attention: J2" in module.warnings[0]
    with pytest.raises(Exited) as e:
        _check({"J1": 1, "J2": status}, policy="fail")
    assert e.value.result["msg"].startswith("STAT-001: jobs of TOUKEI need attention: J2")


def test_an_unknown_project_is_invalid_input_and_a_silent_engine_a_failure() -> None:
    with pytest.raises(Exited) as e:
        _check({"J1": 1}, project="nope")
    assert e.value.result["msg"] == "INVALID INPUT: project: nope is not a project of ds01"
    with pytest.raises(Exited) as e:
        _check({"J1": 1}, answers=False)
    assert e.value.result["msg"].startswith("The DataStage engine ds01 does not answer")
    with pytest.raises(Exited) as e:
        _check({"J1": None})
    assert e.value.result["msg"] == "dsjob -jobinfo cannot read J1"
    with pytest.raises(Exited) as e:
        _check({})
    assert e.value.result["msg"].startswith("Project TOUKEI lists no job")


def test_the_summary_of_a_job_s_events() -> None:
    def ev(kind: str, msg: str = "") -> dict[str, Any]:
        return {"type": kind, "message": msg}

    assert datastage_logs.summarise("J", []) == {"job": "J", "runs": 0, "last_status": "NO RUN", "warnings": 0,
                                                 "fatals": 0}
    got = datastage_logs.summarise("J", [ev("STARTED", "Starting Job J."), ev("WARNING"), ev("FATAL"),
                                         ev("WARNING"), ev("STARTED", "Starting Job J.")])
    assert got == {"job": "J", "runs": 2, "last_status": "OK", "warnings": 2, "fatals": 1}
    assert datastage_logs.summarise("J", [ev("FATAL"), ev("WARNING")])["last_status"] == "FATAL"


def test_the_month_is_yyyy_mm_and_defaults_to_the_previous_one() -> None:
    result: dict[str, Any] = {}
    assert datastage_logs.the_month(FakeModule({"month": "2026-11"}), result) == "2026-11"
    last = dt.datetime.now(dt.UTC).date().replace(day=1) - dt.timedelta(days=1)
    assert datastage_logs.the_month(FakeModule({"month": ""}), result) == f"{last:%Y-%m}"
    with pytest.raises(Exited) as e:
        datastage_logs.the_month(FakeModule({"month": "2026-13"}), result)
    assert e.value.result["msg"] == "INVALID INPUT: month: '2026-13' is not YYYY-MM"


def test_the_files_to_write_are_those_whose_content_changes(tmp_path: Path) -> None:
    dest = tmp_path / "logs"
    dest.mkdir()
    (dest / "same.log").write_text("x\n")
    (dest / "old.log").write_text("old\n")
    result: dict[str, Any] = {"files": [], "ops_changes": []}
    todo = datastage_logs.plan_files(FakeModule({"dest_dir": str(dest)}),
                                     {"same.log": "x\n", "old.log": "new\n", "new.log": "n\n"}, result)
    assert [Path(p).name for p, _ in todo] == ["new.log", "old.log"]
    assert {c["name"]: c["action"] for c in result["ops_changes"]} == {"new.log": "create", "old.log": "overwrite",
                                                                       "same.log": "none"}
    old = next(c for c in result["ops_changes"] if c["name"] == "old.log")
    assert old["before"] == {"sha256": hashlib.sha256(b"old\n").hexdigest()} and old["after"]["bytes"] == 4
    datastage_logs.write_files(str(dest), todo)
    assert (dest / "old.log").read_text() == "new\n" and not list(dest.glob("*.tmp"))


def test_a_destination_that_cannot_receive_the_logs_is_refused_before_writing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result: dict[str, Any] = {"files": [], "ops_changes": []}
    with pytest.raises(Exited) as e:
        datastage_logs.plan_files(FakeModule({"dest_dir": str(tmp_path / "file" / "logs")}), {"a.log": "x"}, result)
    assert e.value.result["msg"].startswith(f"INVALID INPUT: dest_dir: {tmp_path / 'file' / 'logs'} cannot receive")
