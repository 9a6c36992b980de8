"""module_utils/ops_aws.py: batching, tags, status checks and the one translation of AWS errors."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.module_utils import ops_aws
from botocore.exceptions import ClientError, EndpointConnectionError

from tests.support.ec2_stub import Exited, FakeModule, StubEc2, instance


def _client_error(code: str, message: str = "no such thing") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeInstances")


def test_batches_of_100() -> None:
    assert [len(c) for c in ops_aws.chunks(list(range(250)))] == [100, 100, 50]
    assert [len(c) for c in ops_aws.chunks(list(range(250)), 200)] == [200, 50]
    assert list(ops_aws.chunks([])) == []


def test_tag_value_is_empty_without_the_tag() -> None:
    assert ops_aws.tag_value(instance("i-1", name="web01"), "Name") == "web01"
    assert ops_aws.tag_value(instance("i-1"), "Name") == "" == ops_aws.tag_value({"Tags": None}, "Name")


def test_status_ok_needs_both_checks() -> None:
    ec2 = StubEc2([instance("i-1"), instance("i-2")], failing_checks={"i-2"})
    assert ops_aws.status_ok(ec2, {"i-1", "i-2"}) == {"i-1"}


def test_error_code() -> None:
    assert ops_aws.error_code(_client_error("InvalidInstanceID.NotFound")) == "InvalidInstanceID.NotFound"
    assert ops_aws.error_code(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) == ""


def _fail_in(block_error: BaseException, **kw: Any) -> dict[str, Any]:
    with pytest.raises(Exited) as exited, ops_aws.aws_errors(FakeModule({}), "Could not read", **kw):
        raise block_error
    assert exited.value.failed
    return exited.value.result


def test_aws_errors_fails_with_the_message_and_the_result() -> None:
    result = _fail_in(_client_error("Throttling", "slow down"), result={"api_calls": {"X": 1}})
    assert result["msg"].startswith("Could not read: ") and "slow down" in result["msg"]
    assert result["api_calls"] == {"X": 1}
    later = {"n": 0}
    result = _fail_in(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
                      result=lambda: {"seen": later["n"]})
    assert result["seen"] == 0 and "Could not connect" in result["msg"]


def test_aws_errors_says_invalid_input_for_the_requests_fault() -> None:
    def invalid(code: str, message: str) -> str | None:
        return "instance_ids: " + message if code.startswith("InvalidInstanceID") else None

    result = _fail_in(_client_error("InvalidInstanceID.Malformed", "bad id i-x"), invalid=invalid)
    assert result["msg"] == "INVALID INPUT: instance_ids: bad id i-x"
    result = _fail_in(_client_error("UnauthorizedOperation", "denied"), invalid=invalid)
    assert result["msg"].startswith("Could not read: ") and "(UnauthorizedOperation)" in result["msg"]


def test_aws_errors_lets_anything_else_through() -> None:
    with pytest.raises(KeyError), ops_aws.aws_errors(FakeModule({}), "Could not read"):
        raise KeyError("x")
    with ops_aws.aws_errors(FakeModule({}), "Could not read"):
        pass
