"""roles/service_control on Windows: the module calls the role makes per OS family (no Windows host here).

The role runs for real through ops-driver's runner (``ops_driver.run.runner.run_playbook``: ansible-runner, the exit
code and the evidence as ``ops-driver plan`` / ``apply`` derive them) against a host whose OS family is Windows,
reached over a test connection that runs modules on this machine (tests/support/connection_plugins); a test
double of ansible.windows (tests/support/collections, first on ANSIBLE_COLLECTIONS_PATH for these runs only)
records every module call and answers as the test scripts it ($OPS_CONTRACT_ANSWERS: per module, the answer of
each call in turn). What is checked is the contract with ansible.windows.win_service / win_uri / win_wait_for /
win_powershell / win_reboot / win_command - not a Windows server, not WinRM, not PowerShell.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.paths import project_root
from ops_driver.run import contract, runner

pytestmark = pytest.mark.integration
ROOT = project_root()
# the role sends the script file as the file lookup reads it (trailing newline stripped)
SCRIPT = (ROOT / "roles" / "service_control" / "files" / "process_check.ps1").read_text(encoding="utf-8").rstrip()

APPLICATIONS: dict[str, Any] = {
    "iis-app": {
        "services": [
            {"name": "W3SVC", "hosts": ["win-ap01"],
             "health": {"http": {"url": "http://win-ap01/", "status": [200], "contains": "業務ポータル"}}},
            {"name": "MSSQLSERVER", "hosts": ["win-ap01"], "health": {"tcp": {"host": "win-ap01", "port": 1433}}},
            {"name": "AppPoolAgent", "hosts": ["win-ap01"],
             "health": {"process": {"pattern": "agent\\.exe .*-pool iis-app"}}},
        ]
    },
    "batch": {"services": [{"name": "BatchSvc", "hosts": ["win-ap01"], "health": {"process": {"name": "batchsvc"}}}]},
}
PAGE = {"status_code": 200, "content": "<title>業務ポータル</title>"}


@dataclass
class Run:
    """One run of the role: ``exit`` as ops-driver would exit, the recorded ansible.windows calls in order, the
    playbook's output, the failure messages, ``ops_evidence`` (set_stats) and the tasks reported changed."""

    exit: int
    calls: list[dict[str, Any]]
    output: str
    messages: list[str]
    evidence: dict[str, Any]
    changed_tasks: list[str]

    def modules(self) -> list[str]:
        return [c["module"] for c in self.calls]


def run_role(tmp_path: Path, role_vars: dict[str, Any], check: bool = False,
             connection: str = "contract_local", host_vars: dict[str, Any] | None = None,
             answers: dict[str, Any] | None = None, applications: dict[str, Any] | None = None) -> Run:
    """Run ``service_control`` with ``role_vars`` on win-ap01 (group service_hosts, the play's) of an inventory
    that also has win-db01 outside the play (group other_hosts); ``answers`` scripts the double's answers."""
    host = {"ansible_connection": connection, "ansible_python_interpreter": sys.executable,
            "service_control_os_family": "Windows"}
    inventory = {
        "all": {
            "children": {
                "service_hosts": {"hosts": {"win-ap01": {**host, **(host_vars or {})}}},
                "other_hosts": {"hosts": {"win-db01": host}},
            },
            "vars": {"ops_environment": "contract",
                     "service_control_applications": APPLICATIONS if applications is None else applications},
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory, allow_unicode=True), encoding="utf-8")
    play = [{"name": "contract", "hosts": "service_hosts", "gather_facts": False,
             "tasks": [{"name": "role", "ansible.builtin.include_role": {"name": "service_control"},
                        "vars": role_vars}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    log = tmp_path / "calls.jsonl"
    log.unlink(missing_ok=True)
    scripted = tmp_path / "answers.json"
    scripted.write_text(json.dumps(answers or {}, ensure_ascii=False), encoding="utf-8")
    env = {"ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "tests" / "support" / "collections"),
           "ANSIBLE_CONNECTION_PLUGINS": str(ROOT / "tests" / "support" / "connection_plugins"),
           "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "OPS_CONTRACT_LOG": str(log),
           "OPS_CONTRACT_ANSWERS": str(scripted)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():  # ansible-runner hands the test's environment on to ansible-playbook
            mp.setenv(k, v)
        result = runner.run_playbook(tmp_path / "play.yml", tmp_path / "hosts.yml", {}, check=check, timeout_s=300)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    changed = [str(e["event_data"].get("task")) for e in result.events
               if e.get("event") == "runner_on_ok" and (e["event_data"].get("res") or {}).get("changed")]
    return Run(exit=contract.outcome("plan" if check else "apply", result.failure_kind())[1], calls=calls,
               output=result.stdout, messages=[str(f["msg"]) for f in result.failures],
               evidence=dict(result.artifacts.get("ops_evidence") or {}), changed_tasks=changed)


START = {"service_control_action": "started", "service_control_application": "iis-app"}
PATTERN = APPLICATIONS["iis-app"]["services"][2]["health"]["process"]["pattern"]


def health_of(run: Run) -> list[dict[str, Any]]:
    """The evidence's health records of win-ap01."""
    return list(run.evidence.get("health", {}).get("win-ap01", []))


def test_start_sends_win_service_in_reverse_stop_order_each_followed_by_its_health_check(tmp_path: Path) -> None:
    run = run_role(tmp_path, START, answers={"win_uri": PAGE})
    assert run.exit == 0, run.output
    assert [(c["module"], c["params"]) for c in run.calls] == [
        ("win_service", {"name": "AppPoolAgent", "state": "started"}),
        ("win_powershell", {"script": SCRIPT, "parameters": {"Pattern": PATTERN}}),
        ("win_service", {"name": "MSSQLSERVER", "state": "started"}),
        ("win_wait_for", {"host": "win-ap01", "port": 1433, "timeout": 60}),
        ("win_service", {"name": "W3SVC", "state": "started"}),
        ("win_uri", {"url": "http://win-ap01/", "status_code": [200], "return_content": True, "url_timeout": 5}),
    ]
    health = health_of(run)
    assert [(h["service"], h["healthy"], [a["kind"] for a in h["answers"]]) for h in health] == [
        ("AppPoolAgent", True, ["process"]), ("MSSQLSERVER", True, ["tcp"]), ("W3SVC", True, ["http"])]
    process, tcp, http = (h["answers"][0] for h in health)
    assert process["module"] == "ansible.windows.win_powershell" and process["pids"] == [4242]
    assert process["pattern"] == PATTERN and process["names"] == ["w3wp.exe"] and process["passed"] is True
    assert tcp["module"] == "ansible.windows.win_wait_for" and (tcp["host"], tcp["port"]) == ("win-ap01", 1433)
    assert http["module"] == "ansible.windows.win_uri" and http["status"] == 200 and http["contains_found"] is True
    # the health checks are read-only: only the service starts are reported changed
    assert run.changed_tasks and all(t.startswith("Through the Windows service manager") for t in run.changed_tasks)


def test_the_process_check_by_name_and_its_script_only_reads(tmp_path: Path) -> None:
    run = run_role(tmp_path, {"service_control_action": "started", "service_control_application": "batch"})
    assert run.exit == 0, run.output
    assert [(c["module"], c["params"].get("parameters")) for c in run.calls] == [
        ("win_service", None), ("win_powershell", {"Name": "batchsvc"})]
    assert health_of(run)[0]["answers"][0]["name"] == "batchsvc"
    # the name or pattern is a parameter, never in the script's text; the script calls no cmdlet that changes
    code = "\n".join(line for line in SCRIPT.splitlines() if not line.lstrip().startswith("#"))
    assert set(re.findall(r"\b[A-Z][A-Za-z]+-[A-Z][A-Za-z]+\b", code)) == {
        "Get-CimInstance", "Where-Object", "ForEach-Object", "Sort-Object"}
    assert "$Ansible.Changed = $false" in code and "batchsvc" not in code


def test_a_check_retries_until_it_passes_as_on_linux(tmp_path: Path) -> None:
    none: dict[str, Any] = {"result": {"pids": [], "names": []}}
    run = run_role(tmp_path, {**START, "service_control_services": ["AppPoolAgent"],
                              "service_control_health_timeout": 5},
                   answers={"win_powershell": [none, none, {"result": {"pids": [7, 8], "names": ["agent.exe"]}}]})
    assert run.exit == 0, run.output
    assert run.modules() == ["win_service", "win_powershell", "win_powershell", "win_powershell"]
    [health] = health_of(run)
    assert health["healthy"] is True
    assert health["answers"][0]["attempts"] == 3 and health["answers"][0]["pids"] == [7, 8]


@pytest.mark.parametrize(
    "service, answers, module, summary",
    [
        ("AppPoolAgent", {"win_powershell": {"result": {"pids": [], "names": []}}}, "win_powershell",
         f"process {json.dumps({'pattern': PATTERN})}: no process found"),
        ("W3SVC", {"win_uri": {"status_code": 200, "content": "<h1>Service Unavailable</h1>"}}, "win_uri",
         'http http://win-ap01/: status 200, "業務ポータル" not in the page'),
        ("W3SVC", {"win_uri": {"failed": True, "status_code": 503, "content": "maintenance",
                               "msg": "Status code of request '503' is not in list of valid status codes [200]"}},
         "win_uri", "http http://win-ap01/: status 503, \"業務ポータル\" not in the page (Status code of request '503' "
                    "is not in list of valid status codes [200])"),
        ("MSSQLSERVER", {"win_wait_for": {"failed": True, "elapsed": 2,
                                          "msg": "timeout while waiting for win-ap01:1433 to start listening"}},
         "win_wait_for", "tcp win-ap01:1433: not open (timeout while waiting for win-ap01:1433 to start listening)"),
    ],
    ids=["process not running", "wrong body", "wrong status", "port closed"],
)
def test_a_failed_check_fails_the_run_with_its_answer_in_the_evidence(
    tmp_path: Path, service: str, answers: dict[str, Any], module: str, summary: str
) -> None:
    run = run_role(tmp_path, {**START, "service_control_services": [service], "service_control_health_timeout": 2},
                   answers=answers)
    assert run.exit == 3, run.output
    assert any(m.startswith(f"Health check of {service} on win-ap01 failed within 2 s: ") for m in run.messages)
    # the same retries as on Linux: timeout // interval retries after the first attempt (wait_for: its timeout)
    assert run.modules() == ["win_service"] + [module] * (1 if module == "win_wait_for" else 3)
    [health] = health_of(run)
    assert health["service"] == service and health["healthy"] is False
    [answer] = health["answers"]
    assert answer["passed"] is False and answer["module"] == f"ansible.windows.{module}"
    assert answer["summary"] == summary, answer
    assert summary in next(m for m in run.messages if m.startswith("Health check"))
    if module == "win_uri":
        assert health["output"]["status"] == answers["win_uri"]["status_code"]
        assert health["output"]["content"] == answers["win_uri"]["content"]


def test_only_the_checks_that_ran_are_recorded(tmp_path: Path) -> None:
    both = {"web": {"services": [{"name": "W3SVC", "hosts": ["win-ap01"], "health": {
        "http": {"url": "http://win-ap01/", "contains": "業務ポータル"}, "process": {"name": "w3wp"}}}]}}
    run = run_role(tmp_path, {"service_control_action": "started", "service_control_application": "web",
                              "service_control_health_timeout": 1},
                   answers={"win_uri": {"status_code": 200, "content": "error"}}, applications=both)
    assert run.exit == 3, run.output
    assert run.modules() == ["win_service", "win_uri", "win_uri"]  # the process check after it never ran
    [health] = health_of(run)
    assert [a["kind"] for a in health["answers"]] == ["http"] and health["healthy"] is False


def test_check_mode_calls_nothing_that_changes_and_records_no_check(tmp_path: Path) -> None:
    run = run_role(tmp_path, START, check=True)
    assert run.exit == 0, run.output
    assert [(c["module"], c["check_mode"]) for c in run.calls] == [("win_service", True)] * 3
    assert health_of(run) == []
    assert run.output.count("would check") == 3


@pytest.mark.parametrize(
    "health, problem",
    [
        ({"wmi": {"query": "x"}},
         'health check "wmi" cannot be checked on Windows (checks that can: http, process, tcp)'),
        ({"process": {"name": "a", "pattern": "b"}}, "health.process: exactly one of name (a process name) or pattern"),
        ({"process": {"cmdline": "b"}}, "health.process: cmdline not a field of the process check on Windows"),
        ({"http": {"contains": "x"}}, "health.http.url: the URL to ask is required"),
        ({"http": {"url": "http://x/", "status": 200}}, "health.http.status: a list of HTTP status codes"),
        ({"tcp": {"port": "http"}}, "health.tcp.port: a TCP port 1 ... 65535 is required"),
        ("up", 'health must be a mapping of http / process / tcp, not "up"'),
    ],
)
def test_a_check_that_cannot_run_refuses_the_inventory_before_anything_is_touched(
    tmp_path: Path, health: Any, problem: str
) -> None:
    apps = {"app": {"services": [{"name": "Svc", "hosts": ["win-ap01"], "health": health}]}}
    run = run_role(tmp_path, {"service_control_action": "started", "service_control_application": "app"},
                   check=True, applications=apps)  # the plan refuses it (the apply checks the same, first)
    assert run.exit == 2 and run.calls == [], run.output
    [message] = run.messages
    assert message.startswith("INVALID INPUT: service_control_applications: app: host win-ap01 (Windows), "
                              "service Svc: "), message
    assert problem in message, message


def test_an_unknown_check_is_refused_by_the_apply_too_but_not_for_a_stop(tmp_path: Path) -> None:
    apps = {"app": {"services": [{"name": "Svc", "hosts": ["win-ap01"], "health": {"wmi": {}}}]}}
    run = run_role(tmp_path, {"service_control_action": "restarted", "service_control_application": "app"},
                   applications=apps)
    assert run.exit == 2 and run.calls == [], run.output
    assert 'service Svc: health check "wmi" cannot be checked on Windows' in run.messages[0]
    # a stop runs no health check: it is not refused for one
    run = run_role(tmp_path, {"service_control_action": "stopped", "service_control_application": "app"},
                   applications=apps)
    assert run.exit == 0 and run.modules() == ["win_service"], run.output


@pytest.mark.parametrize("action", ["rebooted", "shutdown"])
def test_a_requested_host_outside_the_play_is_refused_not_skipped(tmp_path: Path, action: str) -> None:
    for check in (True, False):
        run = run_role(tmp_path, {"service_control_action": action, "service_control_hosts": ["win-ap01", "win-db01"]},
                       check=check)
        assert run.exit == 2 and run.calls == [], run.output
        [message] = run.messages
        assert message.startswith("INVALID INPUT: hosts: win-db01 is in the contract inventory but not among this "
                                  "play's hosts (win-ap01)"), message


def test_services_on_a_host_outside_the_play_are_refused_not_skipped(tmp_path: Path) -> None:
    apps = {"app": {"services": [{"name": "Svc", "hosts": ["win-ap01", "win-db01"], "health": {}}]}}
    run = run_role(tmp_path, {"service_control_action": "stopped", "service_control_application": "app"},
                   applications=apps)
    assert run.exit == 2 and run.calls == [], run.output
    assert "INVALID INPUT: service_control_applications: app runs services on win-db01, not among this play's " \
           "hosts" in run.messages[0]
    run = run_role(tmp_path, {"service_control_action": "stopped", "service_control_application": "app",
                              "service_control_hosts": ["win-db01"]}, applications=apps)
    assert run.exit == 2 and run.calls == [], run.output
    assert run.messages[0].startswith("INVALID INPUT: hosts: win-db01 is in the contract inventory but not among")
    # naming only the play's host acts on it alone
    run = run_role(tmp_path, {"service_control_action": "stopped", "service_control_application": "app",
                              "service_control_hosts": ["win-ap01"]}, applications=apps)
    assert run.exit == 0 and run.modules() == ["win_service"], run.output


def test_stop_sends_win_service_in_stop_order_and_no_health_check(tmp_path: Path) -> None:
    run = run_role(tmp_path, {"service_control_action": "stopped", "service_control_application": "iis-app",
                              "service_control_services": ["W3SVC", "MSSQLSERVER"]})
    assert run.exit == 0, run.output
    assert [(c["module"], c["params"]) for c in run.calls] == [("win_service", {"name": "W3SVC", "state": "stopped"}),
                                                               ("win_service", {"name": "MSSQLSERVER",
                                                                                "state": "stopped"})]


def test_reboot_and_shutdown_in_check_mode_use_win_reboot_and_shutdown_exe(tmp_path: Path) -> None:
    reboot = {"service_control_action": "rebooted", "service_control_hosts": ["win-ap01"],
              "service_control_reboot_timeout": 900}
    run = run_role(tmp_path, reboot, check=True)
    assert run.exit == 0, run.output
    # win_reboot in check mode never contacts the host: the plan first pings it for real (check_mode false)
    assert [(c["module"], c["check_mode"]) for c in run.calls] == [("win_ping", False), ("win_reboot", True)]
    assert run.calls[1]["params"]["reboot_timeout"] == 900
    shutdown = {"service_control_action": "shutdown", "service_control_hosts": ["win-ap01"]}
    run = run_role(tmp_path, shutdown, check=True)
    assert run.exit == 0, run.output
    assert [(c["module"], c["params"].get("argv", [])[:4]) for c in run.calls] == [
        ("win_ping", []), ("win_command", ["shutdown.exe", "/s", "/t", "5"])
    ]


def test_reboot_pings_the_host_before_win_reboot(tmp_path: Path) -> None:
    reboot = {"service_control_action": "rebooted", "service_control_hosts": ["win-ap01"]}
    run = run_role(tmp_path, reboot)
    assert run.exit == 0, run.output
    assert [(c["module"], c["check_mode"]) for c in run.calls] == [("win_ping", False), ("win_reboot", False)]


def test_plan_of_a_reboot_of_an_unreachable_linux_host_fails(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port of 127.0.0.1 that nothing listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        reboot = {"service_control_action": "rebooted", "service_control_hosts": ["win-ap01"]}
        run = run_role(tmp_path, reboot, check=True, connection="ssh",
                       host_vars={"service_control_os_family": "Linux", "ansible_host": "127.0.0.1",
                                  "ansible_port": port, "ansible_user": "ops-probe-test"})
    assert run.exit == 3 and "UNREACHABLE" in run.output, run.output
    assert "Reboot (Linux)" not in run.output  # the check-mode reboot (changed, host never asked) is not reached
    assert run.calls == []


@pytest.mark.parametrize("check", [True, False], ids=["check mode", "real run"])
def test_reboot_of_the_local_host_is_refused_in_check_mode_and_outside(tmp_path: Path, check: bool) -> None:
    reboot = {"service_control_action": "rebooted", "service_control_hosts": ["win-ap01"]}
    run = run_role(tmp_path, reboot, check=check, connection="local")
    assert run.exit == 2 and run.calls == []
    assert "INVALID INPUT: hosts: win-ap01 is reached with ansible_connection local" in run.output
