"""INFO-020 ... INFO-023, COMM-022, COMM-024 on the sandbox's real web stack.

nginx (web, Sorry, desknet's NEO web) and haproxy run under the sandbox's own supervisord (dev/ops_sandbox/web.py);
every stop and start goes through supervisord (community.general.supervisorctl), and what users get is asked
over HTTP through haproxy.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ops_sandbox
from ops_driver.run import pipeline
from tests.integration.conftest import write_request
from tests.support.approvals import approved

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


@pytest.fixture()
def web(sandbox_server: dict[str, Any], estate: Any) -> Iterator[dict[str, Any]]:
    """The sandbox web stack with every program running before and after the test."""
    d = Path(sandbox_server["dir"])
    ep = ops_sandbox.web.endpoints(d)
    assert ep is not None

    def all_running() -> None:
        for name, state in ops_sandbox.web.program_states(d).items():
            if state != "RUNNING":
                subprocess.run([ep["supervisorctl"], "-c", ep["supervisord_config"], "start", name], check=True,
                               capture_output=True)

    all_running()
    yield {**ep, "dir": d}
    all_running()


def states(web: dict[str, Any]) -> dict[str, str]:
    return ops_sandbox.web.program_states(web["dir"])


def run(path: Path) -> tuple[pipeline.Outcome, pipeline.Outcome]:
    plan = pipeline.plan(path)
    assert plan.exit_code == 0, plan.message
    return plan, pipeline.apply(approved(plan.run_id))


def test_close_serves_the_sorry_page_and_open_brings_the_site_back(web: dict[str, Any], tmp_path: Path) -> None:
    assert web["normal_marker"] in get(web["public_url"])[1]
    before = states(web)
    plan = pipeline.plan(write_request(tmp_path / "c.yml", "COMM-022", {"site": "joho-portal", "action": "close"}))
    assert plan.exit_code == 0, plan.message
    assert states(web) == before and web["normal_marker"] in get(web["public_url"])[1]  # check mode changed nothing
    assert [(c["resource"], c["action"]) for c in plan.changes] == [("service:joho-web-sandbox01/joho-web", "stopped")]
    report = (plan.path / "report.md").read_text(encoding="utf-8")
    assert "## Steps that would run" in report and web["sorry_marker"] in report  # the reviewer sees the poll
    closed = pipeline.apply(approved(plan.run_id))
    assert closed.exit_code == 0, closed.message
    assert states(web)["joho-web"] == "STOPPED" and states(web)["joho-lb"] == "RUNNING"
    status, body = get(web["public_url"])
    assert status == 503 and web["sorry_marker"] in body  # through haproxy: the Sorry server answers
    ev = closed.manifest["evidence"]["closed_mode"]
    assert ev["before"]["normal"] is True and ev["after"]["sorry"] is True and ev["after"]["status"] == 503

    _plan, opened = run(write_request(tmp_path / "o.yml", "COMM-022", {"site": "joho-portal", "action": "open"},
                                      ticket="REQ-TEST-002"))
    assert opened.exit_code == 0, opened.message
    status, body = get(web["public_url"])
    assert status == 200 and web["normal_marker"] in body
    assert opened.manifest["evidence"]["closed_mode"]["after"]["normal"] is True
    health = opened.manifest["evidence"]["health"]["joho-web-sandbox01"]
    assert [(h["service"], h["healthy"]) for h in health] == [("joho-web", True)]


def test_stopping_a_stopped_service_reports_no_change(web: dict[str, Any], tmp_path: Path) -> None:
    req = {"application": "desknets-neo", "services": ["neo-ap"]}
    _plan, first = run(write_request(tmp_path / "s1.yml", "INFO-023", req))
    assert first.exit_code == 0, first.message
    assert [c["changed"] for c in first.changes] == [True] and states(web)["neo-ap"] == "STOPPED"
    plan, second = run(write_request(tmp_path / "s2.yml", "INFO-023", req, ticket="REQ-TEST-002"))
    assert second.exit_code == 0, second.message
    assert [c["changed"] for c in plan.changes] == [False] == [c["changed"] for c in second.changes]
    assert states(web)["neo-ap"] == "STOPPED"


def test_restart_runs_the_stop_order_then_the_reverse_with_health_checks(web: dict[str, Any], tmp_path: Path) -> None:
    _plan, out = run(write_request(tmp_path / "r.yml", "COMM-024", {"action": "restart"}))
    assert out.exit_code == 0, out.message
    steps = [(c["name"], c["action"]) for c in sorted(out.changes, key=lambda c: c["resource"])]
    assert sorted(steps) == sorted([(n, a) for n in ("neo-web", "neo-ap", "neo-db") for a in ("stopped", "started")])
    health = out.manifest["evidence"]["health"]["neo-sandbox01"]
    assert [h["service"] for h in health] == ["neo-db", "neo-ap", "neo-web"]  # start order: the reverse
    assert all(h["healthy"] for h in health)
    assert set(health[2]["check"]) == {"http", "process"}  # neo-web: its page and its nginx master process
    # each check that ran, with its answer: the page's status, the nginx master's PIDs
    http, process = health[2]["answers"]
    assert (http["kind"], http["status"], http["contains_found"]) == ("http", 200, True)
    assert process["kind"] == "process" and process["module"] == "community.general.pids" and process["pids"]
    assert [a["kind"] for a in health[0]["answers"]] == ["tcp"]  # neo-db: its port only
    assert {k: v for k, v in states(web).items() if k.startswith("neo-")} == dict.fromkeys(
        ("neo-web", "neo-ap", "neo-db"), "RUNNING")


def test_a_failed_health_check_fails_the_run_with_its_output_in_evidence(web: dict[str, Any], tmp_path: Path) -> None:
    pages = [p for p in Path(web["dir"], "web").rglob("index.html") if "neo-ap" in p.read_text(encoding="utf-8")]
    assert len(pages) == 1
    subprocess.run([web["supervisorctl"], "-c", web["supervisord_config"], "stop", "neo-ap"], check=True,
                   capture_output=True)
    broken = pages[0].with_name("index.html.moved")
    pages[0].rename(broken)  # the application answers, but not its page: the health check must catch it
    try:
        _plan, out = run(write_request(tmp_path / "h.yml", "INFO-022",
                                       {"application": "desknets-neo", "services": ["neo-ap"], "health_timeout": 5}))
    finally:
        broken.rename(pages[0])
    assert out.exit_code == 3 and "Health check of neo-ap" in out.message
    health = out.manifest["evidence"]["health"]["neo-sandbox01"]
    assert health[0]["healthy"] is False and health[0]["service"] == "neo-ap"
    assert health[0]["output"]["status"] == 200  # the check's own answer is kept for the reviewer
    [answer] = health[0]["answers"]
    assert answer["passed"] is False and answer["status"] == 200 and answer["contains_found"] is False


@pytest.mark.parametrize(
    "task, params, message",
    [
        ("INFO-023", {"application": "desknets-neo", "services": ["pg"]}, "services: pg not in application"),
        ("INFO-023", {"application": "erp"}, "application: \"erp\" is not an application"),
        ("INFO-023", {"application": "desknets-neo", "hosts": ["prod-neo01"]}, "not a host of the sandbox inventory"),
        ("COMM-022", {"site": "joho-internal", "action": "close"}, "has no Sorry server configured"),
        ("INFO-020", {"hosts": ["neo-sandbox01"]}, "confirm_protected: neo-sandbox01 protected"),
        # a host of the inventory that the play (service_hosts) does not reach: refused, never skipped silently
        ("INFO-021", {"hosts": ["stat-ap01"]},
         "hosts: stat-ap01 is in the sandbox inventory but not among this play's hosts"),
        ("INFO-020", {"hosts": ["joho-web-sandbox01", "nas-sandbox"]},
         "hosts: nas-sandbox is in the sandbox inventory but not among this play's hosts"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stopped(
    web: dict[str, Any], tmp_path: Path, task: str, params: dict[str, Any], message: str
) -> None:
    before = states(web)
    out = pipeline.plan(write_request(tmp_path / "bad.yml", task, params))
    assert out.exit_code == 2 and message in out.message, out.message
    assert states(web) == before


def test_reboot_of_the_control_node_is_refused_by_the_plan(web: dict[str, Any], tmp_path: Path) -> None:
    before = states(web)
    req = {"hosts": ["neo-sandbox01"], "confirm_protected": ["neo-sandbox01"]}
    started = time.monotonic()
    plan = pipeline.plan(write_request(tmp_path / "rb.yml", "INFO-021", req))
    assert plan.exit_code == 2, plan.message
    assert "INVALID INPUT: hosts: neo-sandbox01 is reached with ansible_connection local" in plan.message
    assert "control node" in plan.message and plan.changes == []
    assert time.monotonic() - started < 120 and states(web) == before


def test_close_while_the_sorry_server_is_down_fails_in_the_plan_before_any_stop(web: dict[str, Any],
                                                                                 tmp_path: Path) -> None:
    subprocess.run([web["supervisorctl"], "-c", web["supervisord_config"], "stop", "joho-sorry"], check=True,
                   capture_output=True)
    before = states(web)
    assert before["joho-sorry"] == "STOPPED" and before["joho-web"] == "RUNNING"
    plan = pipeline.plan(write_request(tmp_path / "c.yml", "COMM-022", {"site": "joho-portal", "action": "close"}))
    assert plan.exit_code == 3, plan.message  # the state of a server, not bad input
    assert f"the Sorry server {web['sorry_url']} does not serve the Sorry page" in plan.message, plan.message
    assert "nothing was stopped" in plan.message and plan.changes == []
    assert states(web) == before and web["normal_marker"] in get(web["public_url"])[1]
