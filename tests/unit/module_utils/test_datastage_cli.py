"""module_utils/datastage_cli.py against byte-exact replays of what dsjob prints (tests/fixtures/datastage, each
fixture's source in SOURCES.md there): the parsers, then the modules through a stand-in dsjob binary. Independent of
the simulator (tools/datastage_sim)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import datastage_cli as cli

from ops_driver.paths import project_root

ROOT = project_root()
FIX = ROOT / "tests" / "fixtures" / "datastage"


def fixture(name: str) -> str:
    return (FIX / name).read_bytes().decode("utf-8")


# ------------------------------------------------------------------ parsers


def test_ctime_dates_parse_to_the_engine_local_time() -> None:
    assert cli.parse_ctime("Tue Nov  3 02:10:15 2026") == datetime.datetime(2026, 11, 3, 2, 10, 15)
    assert cli.parse_ctime("Sat Oct 31 23:59:59 2026\n") == datetime.datetime(2026, 10, 31, 23, 59, 59)
    for bad in ("2026-11-03 02:10:15", "Tue Nov 3 02:10:15 2026", "Tue Nov  3 02:10 2026", ""):
        with pytest.raises(ValueError):
            cli.parse_ctime(bad)


def test_name_lists_and_none() -> None:
    assert cli.parse_name_list(fixture("lprojects.out")) == ["STATDEV", "STATPRJ"]
    assert cli.parse_name_list(fixture("ljobs.out")) == ["CheckDates", "LoadSales"]
    assert cli.parse_name_list(fixture("ljobs-none.out")) == []  # not a job named <none>


def test_jobinfo_run_failed() -> None:
    info = cli.parse_jobinfo(fixture("jobinfo-run-failed.out"))
    assert (info["status"], info["status_label"]) == (3, "RUN FAILED")
    assert info["start_time"] == datetime.datetime(2026, 11, 3, 2, 10, 15)
    assert info["fields"]["Job Wave Number"] == "4"


def test_jobinfo_crashed_as_dsjob_c_prints_it_is_crashed_by_its_number() -> None:
    info = cli.parse_jobinfo(fixture("jobinfo-crashed-dsjobc.out"))
    assert (info["status"], info["status_label"], info["printed_label"]) == (96, "CRASHED", "UNKNOWN")
    assert 96 in cli.ATTENTION


def test_jobinfo_not_compiled_without_a_start_time() -> None:
    info = cli.parse_jobinfo(fixture("jobinfo-not-compiled.out"))
    assert (info["status"], info["start_time"]) == (98, None)


@pytest.mark.parametrize(
    ("code", "printed", "label", "attention"),
    [(0, "RUNNING", "RUNNING", False), (1, "RUN OK", "RUN OK", False),
     (2, "RUN with WARNINGS", "RUN with WARNINGS", False),
     (3, "RUN FAILED", "RUN FAILED", True), (11, "VALIDATED OK", "VALIDATED OK", False),
     (12, "VALIDATE with WARNINGS", "VALIDATE with WARNINGS", False),
     (13, "VALIDATION FILED", "VALIDATION FAILED", False), (21, "RESET", "RESET", False),
     (96, "UNKNOWN", "CRASHED", True), (97, "STOPPED", "STOPPED", True), (98, "NOT COMPILED", "NOT COMPILED", True),
     (99, "NOT RUNNING", "NOT RUNNING", False), (42, "UNKNOWN", "UNKNOWN", False)],
)
def test_every_status_dsjob_c_prints(code: int, printed: str, label: str, attention: bool) -> None:
    """The labels exactly as dsjob.c jobJobInfo prints them (13 is misspelt there, 96 has no case)."""
    out = f"Job Status\t: {printed} ({code})\nJob Controller\t: not available\nJob Start Time\t: not available\n"
    info = cli.parse_jobinfo(out)
    assert (info["status"], info["status_label"], info["status"] in cli.ATTENTION) == (code, label, attention)


def test_jobinfo_without_a_status_line_is_refused() -> None:
    with pytest.raises(ValueError, match="Job Status"):
        cli.parse_jobinfo("Job Controller\t: not available\n")


def test_logsum_two_lines_per_event_with_ctime_dates() -> None:
    events = cli.parse_logsum(fixture("logsum.out"))
    assert [(e["id"], e["type"]) for e in events] == [(41, "STARTED"), (42, "WARNING"), (43, "STARTED"),
                                                       (44, "STARTED"), (45, "FATAL"), (46, "STARTED")]
    assert events[0]["message"] == "Starting Job LoadSales."
    assert events[1]["time"] == datetime.datetime(2026, 10, 31, 23, 59, 59)
    assert events[4]["message"] == "LoadSales..Sales_out: write failed\nORA-01653: unable to extend table"
    # the month comes from the parsed date: the October warning mentions 2026-11 and stays in October
    november = [e["id"] for e in events if (e["time"].year, e["time"].month) == (2026, 11)]
    assert november == [43, 44, 45, 46]


def test_logsum_refuses_what_dsjob_does_not_print() -> None:
    with pytest.raises(ValueError, match="not an event line"):
        cli.parse_logsum("1\tINFO\t2026-11-03 02:10:15\tone line with an ISO date\n")
    assert cli.parse_logsum("") == []


def test_status_code_of_stderr() -> None:
    assert cli.status_code(fixture("ljobs-badproject.err")) == -1002
    assert cli.status_code(fixture("logsum-badargs.err")) == -9999
    assert cli.status_code(fixture("jobinfo-badjob.err")) == -1004
    assert cli.status_code("") is None


def test_istool_exit_codes() -> None:
    assert [cli.istool_meaning(rc) for rc in (0, 1, 2, 11, 99)] == [
        "success", "warning", "partial failure", "invalid command syntax", "failure"]
    assert cli.ISTOOL_OK == (0, 1)


def test_environment_after_dsenv() -> None:
    assert cli.parse_environment('{"A": "1", "B": "x=y\\nz", "bad name": "2"}') == {"A": "1", "B": "x=y\nz"}
    with pytest.raises(ValueError):
        cli.parse_environment("[]")


# ------------------------------------------------------------------ modules through the stand-in dsjob

DSJOB_MAP = {
    "-lprojects": ["lprojects.out", None, 0],
    "-ljobs STATPRJ": ["ljobs.out", None, 0],
    "-ljobs STATDEV": ["ljobs-none.out", None, 0],
    "-ljobs NOPE": [None, "ljobs-badproject.err", 255],
    "-jobinfo STATPRJ CheckDates": ["jobinfo-run-failed.out", None, 0],
    "-jobinfo STATPRJ LoadSales": ["jobinfo-crashed-dsjobc.out", None, 0],
    "-logsum STATPRJ CheckDates": ["logsum.out", None, 0],
    "-logsum STATPRJ LoadSales": ["logsum.out", None, 0],
}


def _engine(tmp_path: Path) -> dict[str, Any]:
    """A DSHOME whose dsenv sets what the stand-in needs and counts how often it is sourced, and an authfile."""
    dshome = tmp_path / "DSEngine"
    dshome.mkdir()
    count = tmp_path / "dsenv-sourced"
    (dshome / "dsenv").write_text(f'STANDIN_DSENV=1; export STANDIN_DSENV\necho x >> "{count}"\n')
    auth = tmp_path / "authfile"
    auth.write_text("domain=h:9443\nserver=DSENGINE01\nuser=dsadm\npassword=pw\n")
    return dict(dshome=dshome, count=count, authfile=auth, log=tmp_path / "dsjob.log")


def run_module(name: str, args: dict[str, Any], engine: dict[str, Any], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    """library/<name>.py as Ansible runs it (arguments from a file), in a child process; (rc, result JSON)."""
    params = dict(dsjob=str(FIX / "standin_dsjob"), dshome=str(engine["dshome"]), domain="h:9443", server="DSENGINE01",
                  authfile=str(engine["authfile"]), **args)
    argfile = tmp_path / (f"{name}-args.json")
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    code = ("import sys, runpy; sys.path.insert(0, {!r}); from tests.support.modules import install; install(); "
            "sys.argv = [sys.argv[0], {!r}]; runpy.run_path({!r}, run_name='__main__')"
            .format(str(ROOT), str(argfile), str(ROOT / "library" / f"{name}.py")))
    env = dict(os.environ, STANDIN_DSJOB_MAP=json.dumps(DSJOB_MAP), STANDIN_DSJOB_LOG=str(engine["log"]))
    env.pop("STANDIN_DSENV", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         check=False)
    return out.returncode, json.loads(out.stdout)


def test_check_names_failed_and_crashed_jobs_and_sources_dsenv_once(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    rc, res = run_module("datastage_check", dict(project="STATPRJ"), engine, tmp_path)
    assert rc == 0, res
    assert [(j["name"], j["status"], j["status_code"]) for j in res["jobs"]] == [
        ("CheckDates", "RUN FAILED", 3), ("LoadSales", "CRASHED", 96)]
    assert [a["name"] for a in res["attention"]] == ["CheckDates", "LoadSales"]
    warnings = json.dumps(res["warnings"])  # ansible-core's shape of a warning varies by version: search its text
    assert "STAT-001: jobs of STATPRJ need attention: CheckDates (RUN FAILED, 3), LoadSales (CRASHED, 96)" in warnings
    assert engine["count"].read_text() == "x\n"  # . $DSHOME/dsenv once for four dsjob calls
    assert len(engine["log"].read_text().splitlines()) == 4


def test_check_fails_with_the_fail_policy(tmp_path: Path) -> None:
    rc, res = run_module("datastage_check", dict(project="STATPRJ", status_policy="fail"), _engine(tmp_path), tmp_path)
    assert rc == 1 and res["failed"]
    assert res["msg"] == ("STAT-001: jobs of STATPRJ need attention: CheckDates (RUN FAILED, 3), "
                          "LoadSales (CRASHED, 96)")


def test_check_of_a_project_without_jobs(tmp_path: Path) -> None:
    rc, res = run_module("datastage_check", dict(project="STATDEV"), _engine(tmp_path), tmp_path)
    assert rc == 1 and "lists no job (dsjob -ljobs: <none>)" in res["msg"] and res["jobs"] == []


def test_a_missing_dsenv_is_invalid_input_and_dsjob_is_not_run(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    (engine["dshome"] / "dsenv").unlink()
    rc, res = run_module("datastage_check", dict(project="STATPRJ"), engine, tmp_path)
    assert rc == 1 and res["msg"].startswith("INVALID INPUT: dshome:") and "no dsenv" in res["msg"]
    assert not engine["log"].exists()


def test_logs_choose_the_month_by_the_parsed_date(tmp_path: Path) -> None:
    dest = tmp_path / "logs"
    rc, res = run_module("datastage_logs", dict(project="STATPRJ", month="2026-10", dest_dir=str(dest)),
                         _engine(tmp_path), tmp_path)
    assert rc == 0, res
    assert (dest / "summary.csv").read_text().splitlines() == [
        "job,runs,last_status,warnings,fatals", "CheckDates,1,WARNING,1,0", "LoadSales,1,WARNING,1,0"]
    assert (dest / "LoadSales.log").read_text() == (
        "41\tSTARTED\t2026-10-31 23:59:58\tStarting Job LoadSales.\n"
        "42\tWARNING\t2026-10-31 23:59:59\tLoadSales..Sales_in: 2026-11 rows rejected\n")
    second = tmp_path / "second"
    second.mkdir()
    rc, res = run_module("datastage_logs", dict(project="STATPRJ", month="2026-11", dest_dir=str(tmp_path / "nov")),
                         _engine(second), second)
    assert rc == 0, res
    assert [r["last_status"] for r in res["summary"]] == ["FATAL", "FATAL"]
    assert [r["runs"] for r in res["summary"]] == [1, 1]


def test_a_dsjob_failure_names_the_real_status_code() -> None:
    msg = cli.DataStageCli.dsjob_failure("-ljobs", 255, "", fixture("ljobs-badproject.err"))
    assert msg == "dsjob -ljobs failed (exit 255, Status code = -1002): no message"
    msg = cli.DataStageCli.dsjob_failure("-jobinfo", 255, "", fixture("jobinfo-badjob.err"))
    assert msg == "dsjob -jobinfo failed (exit 255, Status code = -1004): ERROR: Failed to open job"
