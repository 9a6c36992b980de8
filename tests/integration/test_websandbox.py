"""The sandbox's web stack: haproxy sends users to the Sorry server exactly while joho-web is stopped.

Real HTTP requests through haproxy; joho-web is stopped and started with supervisorctl (the service manager), never
killed. Every test leaves joho-web RUNNING: the sandbox is shared by the tests of this xdist worker.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ops_sandbox

pytestmark = pytest.mark.integration

PROGRAMS = ["joho-web", "joho-sorry", "joho-lb", "neo-web", "neo-ap", "neo-db"]


@pytest.fixture()
def web(sandbox_server: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The endpoints of the sandbox's web stack; joho-web is RUNNING before and after the test."""
    data = ops_sandbox.web.endpoints(sandbox_server["dir"])
    assert data is not None, "ops_sandbox.up started no web stack"
    supervisorctl(data, "start", "joho-web")  # whatever an earlier test left
    yield data
    supervisorctl(data, "start", "joho-web")


def supervisorctl(web: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([web["supervisorctl"], "-c", web["supervisord_config"], *args], capture_output=True,
                          text=True, timeout=30, check=False)


def get(url: str) -> tuple[int, str]:
    return ops_sandbox.web.fetch(url, timeout_s=3.0)


def wait_for(url: str, marker: str, timeout_s: float = 5.0) -> tuple[int, str]:
    """Poll ``url`` until its body contains ``marker``; the last answer (status, body)."""
    deadline = time.monotonic() + timeout_s
    answer: tuple[int, str] = (0, "")
    while time.monotonic() < deadline:
        try:
            answer = get(url)
        except OSError as e:
            answer = (0, str(e))
        if marker in answer[1]:
            return answer
        time.sleep(0.1)
    pytest.fail(f"{url} did not serve {marker!r} within {timeout_s} s; last answer {answer}")


def test_endpoints_are_per_sandbox_loopback_urls(sandbox_server: dict[str, Any], web: dict[str, Any]) -> None:
    d: Path = sandbox_server["dir"]
    assert json.loads((d / "web" / "endpoints.json").read_text(encoding="utf-8")) == web
    assert web["programs"] == PROGRAMS
    assert Path(web["supervisord_config"]) == (d / "web" / "supervisord.conf").absolute()
    urls = [web[k] for k in ("public_url", "web_url", "sorry_url", "neo_web_url", "neo_ap_url")]
    assert all(u.startswith("http://127.0.0.1:") and u.endswith("/") for u in urls)
    ports = [int(u.rsplit(":", 1)[1].rstrip("/")) for u in urls] + [web["neo_db_port"]]
    assert len(set(ports)) == 6 and web["neo_ap_port"] in ports
    assert ops_sandbox.web.up(d) == web  # idempotent: the running stack, not a new one
    assert ops_sandbox.web.program_states(d) == dict.fromkeys(PROGRAMS, "RUNNING")


def test_pages_of_every_server(web: dict[str, Any]) -> None:
    status, body = get(web["public_url"])
    assert status == 200 and web["normal_marker"] in body and '<meta charset="utf-8">' in body
    assert get(web["web_url"]) == (status, body)
    for path in ("", "any/path?x=1"):  # the Sorry server answers 503 with the Sorry page for any path
        status, body = get(web["sorry_url"] + path)
        assert status == 503 and web["sorry_marker"] in body
    status, body = get(web["neo_web_url"])
    assert status == 200 and "desknet's NEO" in body
    status, body = get(web["neo_ap_url"])
    assert status == 200 and "neo-ap" in body
    with socket.create_connection(("127.0.0.1", web["neo_db_port"]), timeout=3) as s:  # accepts, then closes
        s.settimeout(3)
        assert s.recv(16) == b""


def test_public_url_serves_sorry_exactly_while_joho_web_is_stopped(sandbox_server: dict[str, Any],
                                                                   web: dict[str, Any]) -> None:
    d = sandbox_server["dir"]
    assert web["normal_marker"] in get(web["public_url"])[1]
    try:
        result = supervisorctl(web, "stop", "joho-web")
        assert result.returncode == 0, result.stdout + result.stderr
        states = ops_sandbox.web.program_states(d)
        assert states["joho-web"] == "STOPPED"
        assert {n: s for n, s in states.items() if n != "joho-web"} == dict.fromkeys(PROGRAMS[1:], "RUNNING")
        status, body = wait_for(web["public_url"], web["sorry_marker"])
        assert status == 503 and web["normal_marker"] not in body
        with pytest.raises(OSError):
            get(web["web_url"])  # really down, not just taken out of the load balancer

        result = supervisorctl(web, "start", "joho-web")
        assert result.returncode == 0, result.stdout + result.stderr
        assert ops_sandbox.web.program_states(d)["joho-web"] == "RUNNING"
        status, body = wait_for(web["public_url"], web["normal_marker"])
        assert status == 200 and web["sorry_marker"] not in body
    finally:
        supervisorctl(web, "start", "joho-web")
    assert ops_sandbox.web.program_states(d) == dict.fromkeys(PROGRAMS, "RUNNING")


def test_up_and_down_of_a_second_stack(tmp_path: Path) -> None:
    """A stack of its own folder (a long path: the socket goes to /tmp), independent of the session's one."""
    d = tmp_path / ("x" * 60) / "sandbox"
    try:
        web = ops_sandbox.web.up(d)
        sock = Path(web["supervisor_socket"])
        assert sock.parent.name.startswith("ops-sv-") and sock.exists()
        assert ops_sandbox.web.program_states(d) == dict.fromkeys(PROGRAMS, "RUNNING")
        assert web["normal_marker"] in get(web["public_url"])[1]
    finally:
        ops_sandbox.web.down(d)
    assert ops_sandbox.web.endpoints(d) is None and ops_sandbox.web.program_states(d) == {}
    assert not (d / "web").exists() and not sock.parent.exists()
    with pytest.raises(OSError):
        get(web["public_url"])
    ops_sandbox.web.down(d)  # idempotent
