"""roles/service_control on Windows: the module arguments the role sends per OS family (no Windows host here).

The role runs for real through ansible-playbook against a host whose OS family is Windows, reached over a
test connection that runs modules on this machine (tests/support/connection_plugins); a test double of
ansible.windows (tests/support/collections, first on ANSIBLE_COLLECTIONS_PATH for these runs only) records
every module call. What is checked is the contract with ansible.windows.win_service / win_uri /
win_wait_for / win_reboot / win_command, not a Windows server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.paths import project_root

pytestmark = pytest.mark.integration
ROOT = project_root()

APPLICATIONS = {
    "iis-app": {
        "services": [
            {"name": "W3SVC", "hosts": ["win-ap01"], "health": {"http": {"url": "http://win-ap01/", "status": [200]}}},
            {"name": "MSSQLSERVER", "hosts": ["win-ap01"], "health": {"tcp": {"host": "win-ap01", "port": 1433}}},
        ]
    }
}


def run_role(tmp_path: Path, role_vars: dict[str, Any], check: bool = False,
             connection: str = "contract_local",
             host_vars: dict[str, Any] | None = None) -> tuple[int, list[dict[str, Any]], str]:
    inventory = {
        "all": {
            "children": {
                "service_hosts": {
                    "hosts": {
                        "win-ap01": {
                            "ansible_connection": connection,
                            "ansible_python_interpreter": sys.executable,
                            "service_control_os_family": "Windows",
                            **(host_vars or {}),
                        }
                    }
                }
            },
            "vars": {"ops_environment": "contract", "service_control_applications": APPLICATIONS},
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    play = [{"name": "contract", "hosts": "service_hosts", "gather_facts": False,
             "tasks": [{"name": "role", "ansible.builtin.include_role": {"name": "service_control"},
                        "vars": role_vars}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    log = tmp_path / "calls.jsonl"
    log.unlink(missing_ok=True)
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "tests" / "support" / "collections"),
           "ANSIBLE_CONNECTION_PLUGINS": str(ROOT / "tests" / "support" / "connection_plugins"),
           "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "OPS_CONTRACT_LOG": str(log), "ANSIBLE_NOCOLOR": "1"}
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
           str(tmp_path / "play.yml")] + (["--check"] if check else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return out.returncode, calls, out.stdout + out.stderr


def test_start_sends_win_service_in_reverse_stop_order_then_health_checks(tmp_path: Path) -> None:
    rc, calls, output = run_role(tmp_path, {"service_control_action": "started",
                                            "service_control_application": "iis-app"})
    assert rc == 0, output
    assert [(c["module"], c["params"]) for c in calls] == [
        ("win_service", {"name": "MSSQLSERVER", "state": "started"}),
        ("win_wait_for", {"host": "win-ap01", "port": 1433, "timeout": 60}),
        ("win_service", {"name": "W3SVC", "state": "started"}),
        ("win_uri", {"url": "http://win-ap01/", "status_code": [200], "return_content": True}),
    ]


def test_stop_sends_win_service_in_stop_order_and_no_health_check(tmp_path: Path) -> None:
    rc, calls, output = run_role(tmp_path, {"service_control_action": "stopped",
                                            "service_control_application": "iis-app",
                                            "service_control_services": ["W3SVC"]})
    assert rc == 0, output
    assert [(c["module"], c["params"]) for c in calls] == [("win_service", {"name": "W3SVC", "state": "stopped"})]


def test_reboot_and_shutdown_in_check_mode_use_win_reboot_and_shutdown_exe(tmp_path: Path) -> None:
    reboot = {"service_control_action": "rebooted", "service_control_hosts": ["win-ap01"],
              "service_control_reboot_timeout": 900}
    rc, calls, output = run_role(tmp_path, reboot, check=True)
    assert rc == 0, output
    # win_reboot in check mode never contacts the host: the plan first pings it for real (check_mode false)
    assert [(c["module"], c["check_mode"]) for c in calls] == [("win_ping", False), ("win_reboot", True)]
    assert calls[1]["params"]["reboot_timeout"] == 900
    shutdown = {"service_control_action": "shutdown", "service_control_hosts": ["win-ap01"]}
    rc, calls, output = run_role(tmp_path, shutdown, check=True)
    assert rc == 0, output
    assert [(c["module"], c["params"].get("argv", [])[:4]) for c in calls] == [
        ("win_ping", []), ("win_command", ["shutdown.exe", "/s", "/t", "5"])
    ]


def test_reboot_pings_the_host_before_win_reboot(tmp_path: Path) -> None:
    reboot = {"service_control_action": "rebooted", "service_control_hosts": ["win-ap01"]}
    rc, calls, output = run_role(tmp_path, reboot)
    assert rc == 0, output
    assert [(c["module"], c["check_mode"]) for c in calls] == [("win_ping", False), ("win_reboot", False)]


def test_plan_of_a_reboot_of_an_unreachable_linux_host_fails(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port of 127.0.0.1 that nothing listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        reboot = {"service_control_action": "rebooted", "service_control_hosts": ["win-ap01"]}
        rc, calls, output = run_role(tmp_path, reboot, check=True, connection="ssh",
                                     host_vars={"service_control_os_family": "Linux", "ansible_host": "127.0.0.1",
                                                "ansible_port": port, "ansible_user": "ops-probe-test"})
    assert rc != 0 and "UNREACHABLE" in output, output
    assert "Reboot (Linux)" not in output  # the check-mode reboot (changed, host never asked) is not reached
    assert calls == []


@pytest.mark.parametrize("check", [True, False], ids=["check mode", "real run"])
def test_reboot_of_the_local_host_is_refused_in_check_mode_and_outside(tmp_path: Path, check: bool) -> None:
    reboot = {"service_control_action": "rebooted", "service_control_hosts": ["win-ap01"]}
    rc, calls, output = run_role(tmp_path, reboot, check=check, connection="local")
    assert rc != 0 and calls == []
    assert "INVALID INPUT: hosts: win-ap01 is reached with ansible_connection local" in output
