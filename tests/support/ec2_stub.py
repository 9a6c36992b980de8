"""A stand-in for an Ansible AWS module and its EC2 client, for unit tests of the EC2 modules and module_utils.

``StubEc2`` keeps instances and Dedicated Hosts in memory, answers the calls ec2_power and ec2_host_reboot make
(with the ``aws_retry`` keyword of the retrying client) and records every call in ``calls`` as
(operation name, keyword arguments). Start, stop and reboot take effect at once; status checks pass unless an
instance is in ``failing_checks``. ``FakeModule`` raises ``Exited`` from fail_json / exit_json, so a test sees
the result the module would return.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError


def instance(
    iid: str,
    state: str = "running",
    *,
    host: str | None = None,
    name: str = "",
    role: str = "",
    lifecycle: str | None = None,
    spot_request: str | None = None,
    root: str = "ebs",
) -> dict[str, Any]:
    """A DescribeInstances entry."""
    tags = [{"Key": k, "Value": v} for k, v in (("Name", name), ("Role", role)) if v]
    out: dict[str, Any] = {"InstanceId": iid, "State": {"Name": state}, "Tags": tags, "RootDeviceType": root,
                           "Placement": {"HostId": host} if host else {}}
    if lifecycle:
        out["InstanceLifecycle"] = lifecycle
    if spot_request:
        out["SpotInstanceRequestId"] = spot_request
    return out


def host(host_id: str, environment: str = "sandbox", state: str = "available", **tags: str) -> dict[str, Any]:
    """A DescribeHosts entry tagged Environment=``environment`` (and ``tags``)."""
    all_tags = {"Environment": environment, "Name": "sandbox-dh", **tags}
    return {"HostId": host_id, "State": state, "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}


class _Pages:
    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result

    def paginate(self, **_kwargs: Any) -> _Pages:
        return self

    def build_full_result(self) -> dict[str, Any]:
        return self.result


class StubEc2:
    """EC2 in memory. ``protected``: instance IDs with stop protection on; ``spot_types``: Spot request -> type
    (an ID not in it is unknown: DescribeSpotInstanceRequests fails for it as EC2 does)."""

    def __init__(
        self,
        instances: Iterable[dict[str, Any]] = (),
        hosts: Iterable[dict[str, Any]] = (),
        protected: set[str] | None = None,
        spot_types: dict[str, str] | None = None,
        failing_checks: set[str] | None = None,
    ) -> None:
        self.instances = {i["InstanceId"]: i for i in instances}
        self.hosts = list(hosts)
        self.protected = protected or set()
        self.spot_types = spot_types or {}
        self.failing_checks = failing_checks or set()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _record(self, operation: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((operation, {k: v for k, v in kwargs.items() if k != "aws_retry"}))

    def count(self, operation: str) -> int:
        return sum(op == operation for op, _kw in self.calls)

    def get_paginator(self, operation: str) -> _Pages:
        self._record(operation, {})
        if operation == "describe_hosts":
            return _Pages({"Hosts": self.hosts})
        return _Pages({"Reservations": [{"Instances": list(self.instances.values())}]})

    def describe_instances(self, **kw: Any) -> dict[str, Any]:
        self._record("describe_instances", kw)
        return {"Reservations": [{"Instances": [self.instances[i] for i in kw["InstanceIds"] if i in self.instances]}]}

    def describe_hosts(self, **kw: Any) -> dict[str, Any]:
        self._record("describe_hosts", kw)
        return {"Hosts": [h for h in self.hosts if h["HostId"] in kw["HostIds"]]}

    def describe_instance_attribute(self, **kw: Any) -> dict[str, Any]:
        self._record("describe_instance_attribute", kw)
        assert kw["Attribute"] == "disableApiStop"
        return {"InstanceId": kw["InstanceId"], "DisableApiStop": {"Value": kw["InstanceId"] in self.protected}}

    def describe_spot_instance_requests(self, **kw: Any) -> dict[str, Any]:
        self._record("describe_spot_instance_requests", kw)
        unknown = [r for r in kw["SpotInstanceRequestIds"] if r not in self.spot_types]
        if unknown:
            raise ClientError({"Error": {"Code": "InvalidSpotInstanceRequestID.NotFound",
                                         "Message": f"The spot instance request ID '{unknown[0]}' does not exist"}},
                              "DescribeSpotInstanceRequests")
        return {"SpotInstanceRequests": [{"SpotInstanceRequestId": r, "Type": self.spot_types[r]}
                                         for r in kw["SpotInstanceRequestIds"]]}

    def describe_instance_status(self, **kw: Any) -> dict[str, Any]:
        self._record("describe_instance_status", kw)
        return {"InstanceStatuses": [
            {"InstanceId": i, "SystemStatus": {"Status": "ok"},
             "InstanceStatus": {"Status": "impaired" if i in self.failing_checks else "ok"}}
            for i in kw["InstanceIds"]]}

    def _set(self, operation: str, kw: dict[str, Any], state: str) -> dict[str, Any]:
        self._record(operation, kw)
        for i in kw["InstanceIds"]:
            self.instances[i]["State"] = {"Name": state}
        return {}

    def start_instances(self, **kw: Any) -> dict[str, Any]:
        return self._set("start_instances", kw, "running")

    def stop_instances(self, **kw: Any) -> dict[str, Any]:
        return self._set("stop_instances", kw, "stopped")

    def reboot_instances(self, **kw: Any) -> dict[str, Any]:
        return self._set("reboot_instances", kw, "running")

    def create_tags(self, **kw: Any) -> dict[str, Any]:
        self._record("create_tags", kw)
        return {}


class Exited(Exception):
    """fail_json (``failed`` True) or exit_json of a FakeModule, with the result in ``result``."""

    def __init__(self, failed: bool, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg", ""))
        self.failed, self.result = failed, result


class FakeModule:
    """The part of AnsibleAWSModule the modules use: params, check mode, diff, warn, fail_json(_aws), exit_json."""

    def __init__(self, params: dict[str, Any], check_mode: bool = True, diff: bool = False) -> None:
        self.params, self.check_mode, self._diff = params, check_mode, diff
        self.warnings: list[str] = []

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)

    def fail_json(self, **result: Any) -> None:
        raise Exited(True, result)

    def fail_json_aws(self, exception: BaseException, msg: str | None = None, **result: Any) -> None:
        raise Exited(True, dict(result, msg=f"{msg}: {exception}"))

    def exit_json(self, **result: Any) -> None:
        raise Exited(False, result)
