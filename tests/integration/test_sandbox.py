"""ops-driver sandbox up / down / status: idempotent, loopback only, the estate of the contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ops_sandbox
from ops_driver.cli import main

pytestmark = pytest.mark.integration


def test_up_without_the_web_stack_and_the_esa_simulator_starts_aws_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``sandbox up --without web,esa`` (the AWS molecule scenarios, the AWS benchmarks): moto, the seeded server and
    the folders, nothing else; a later plain ``up`` adds the parts left out to the running server; an unknown part
    is refused (exit 2) before anything starts."""
    monkeypatch.setenv("OPS_SANDBOX_DIR", str(tmp_path / "sb"))
    assert main(["sandbox", "up", "--without", "web,ftp"]) == 2
    assert "unknown part(s) ftp" in capsys.readouterr().err
    assert not ops_sandbox.state(tmp_path / "sb").running
    try:
        assert main(["sandbox", "up", "--without", "web,esa", "--json"]) == 0
        aws_only = json.loads(capsys.readouterr().out)
        assert aws_only["running"] and aws_only["instances"]
        assert (aws_only["web"], aws_only["esa"]) == (None, {})
        assert (tmp_path / "sb" / "seeded.url").is_file() and (tmp_path / "sb" / "restore").is_dir()
        assert not (tmp_path / "sb" / "web").exists() and not (tmp_path / "sb" / "esa").exists()
        assert main(["sandbox", "up", "--without", "esa", "--json"]) == 0
        with_web = json.loads(capsys.readouterr().out)
        assert (with_web["pid"], with_web["endpoint"]) == (aws_only["pid"], aws_only["endpoint"])  # same server
        assert with_web["web"]["public_url"].startswith("http://127.0.0.1:") and with_web["esa"] == {}
    finally:
        assert main(["sandbox", "down", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["running"] is False
    assert not (tmp_path / "sb" / "web").exists()


def test_up_down_are_idempotent_and_status_lists_the_estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPS_SANDBOX_DIR", str(tmp_path / "sb"))
    try:
        assert main(["sandbox", "up", "--json"]) == 0
        first = json.loads(capsys.readouterr().out)
        assert first["running"] and first["endpoint"].startswith("http://127.0.0.1:")
        assert main(["sandbox", "up", "--json"]) == 0
        second = json.loads(capsys.readouterr().out)
        assert (second["pid"], second["endpoint"]) == (first["pid"], first["endpoint"])  # same server
        assert first["web"]["public_url"].startswith("http://127.0.0.1:")
        assert second["web"] == first["web"]  # the same web stack too
        assert sorted(first["esa"]) == ["esa-comm-sandbox01", "esa-comm-sandbox02", "esa-core-sandbox01"]
        assert all(url.startswith("ssh://opsadmin@127.0.0.1:") for url in first["esa"].values())
        assert second["esa"] == first["esa"]  # the same ESA simulator
        assert len(second["instances"]) == len(first["instances"])  # not seeded twice

        by_env: dict[str, set[str]] = {}
        for i in first["instances"]:
            assert set(i) >= {"name", "id", "environment", "state"}
            by_env.setdefault(i["environment"], set()).add(i["role"])
        for env in ("prod", "dr", "maint", "sandbox"):
            assert by_env[env] == {"web", "ap", "db"}
        ec2 = ops_sandbox.ec2_client(first["endpoint"])
        volumes = ec2.describe_volumes()["Volumes"]
        assert len(volumes) == 2 * len(first["instances"])  # root + data volume each
        assert {v["Attachments"][0]["Device"] for v in volumes} == {"/dev/xvda", "/dev/sdf"}
    finally:
        assert main(["sandbox", "down", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["running"] is False
    assert not (tmp_path / "sb" / "web").exists()
    assert not (tmp_path / "sb" / "esa").exists()
    assert main(["sandbox", "down"]) == 0
    assert "sandbox: stopped" in capsys.readouterr().out
    assert main(["sandbox", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "running": False, "pid": None, "endpoint": None, "directory": str(tmp_path / "sb"), "instances": [],
        "web": None, "esa": {}}
