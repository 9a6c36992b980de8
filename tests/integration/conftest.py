"""Integration fixtures: one sandbox moto server per test session, reset to all-running before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ops_sandbox
from tests.support.aws_proxy import AwsProxy


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("sandbox")
    state = ops_sandbox.up(directory)
    assert state.running and state.endpoint
    yield {"dir": directory, "endpoint": state.endpoint}
    ops_sandbox.down(directory)
    assert not ops_sandbox.state(directory).running


@pytest.fixture()
def estate(sandbox_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The sandbox with every instance running; the inventory points at it. Returns an EC2 client."""
    monkeypatch.setenv("OPS_SANDBOX_DIR", str(sandbox_server["dir"]))
    ec2 = ops_sandbox.ec2_client(sandbox_server["endpoint"])
    stopped = [i["id"] for i in ops_sandbox.instances(sandbox_server["endpoint"]) if i["state"] == "stopped"]
    if stopped:
        ec2.start_instances(InstanceIds=stopped)
    return ec2


@pytest.fixture()
def proxied(sandbox_server: dict[str, Any], estate: Any, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsProxy]:
    """The inventory points at a counting, fault-injecting proxy in front of the sandbox."""
    proxy = AwsProxy(sandbox_server["endpoint"]).start()
    pdir = tmp_path / "proxied-sandbox"
    pdir.mkdir()
    (pdir / "endpoint.url").write_text(proxy.endpoint)
    (pdir / "restore").mkdir()
    monkeypatch.setenv("OPS_SANDBOX_DIR", str(pdir))
    yield proxy
    proxy.stop()


def states(ec2: Any) -> dict[str, str]:
    """Instance ID → state name for every instance (describe_instances)."""
    out = {}
    for page in ec2.get_paginator("describe_instances").paginate():
        for r in page["Reservations"]:
            for i in r["Instances"]:
                out[i["InstanceId"]] = i["State"]["Name"]
    return out


def ids_by_name(ec2: Any) -> dict[str, str]:
    out = {}
    for page in ec2.get_paginator("describe_instances").paginate():
        for r in page["Reservations"]:
            for i in r["Instances"]:
                tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                out[tags.get("Name", "")] = i["InstanceId"]
    return out


def write_request(path: Path, task: str, params: dict[str, Any], environment: str = "sandbox",
                  ticket: str = "REQ-TEST-001") -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"task": task, "environment": environment, "ticket": ticket,
                                    "requested_by": "pytest", "reason": "integration test", "params": params}))
    return path


os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
