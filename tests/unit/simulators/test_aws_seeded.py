"""The sandbox's seeded AWS answers (dev/ops_sandbox/aws_seeded.py) are exactly of botocore's service model.

Every operation the seeded server serves is answered from the sandbox's data and from each test case's data, and
each wire body is checked against the operation's output shape in botocore's own model (``wire_problems``: no
unknown key, required members there, types and enums right) and parsed with botocore's own response parser, which
must give back the data as a boto3 client would see it. A real boto3 client then calls the running server.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.parsers
import pytest

from ops_sandbox import aws_seeded as s

NOW = dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC)
PLANS = ["plan-a", "plan-b"]
DATA = s.sandbox_data(NOW, PLANS)

#: One request per served operation, as a boto3 client would send it (member names).
REQUESTS: dict[tuple[str, str], dict[str, Any]] = {
    ("guardduty", "ListFindings"): {"DetectorId": "d", "FindingCriteria": {"Criterion": {
        "updatedAt": {"GreaterThanOrEqual": int((NOW - dt.timedelta(days=1)).timestamp() * 1000)},
        "severity": {"GreaterThanOrEqual": 1}}}},
    ("guardduty", "GetFindings"): {"DetectorId": "d", "FindingIds": ["5ac7f1e0sandbox0001", "5ac7f1e0sandbox0002"]},
    ("cloudtrail", "LookupEvents"): {"LookupAttributes": [{"AttributeKey": "EventName",
                                                           "AttributeValue": "ConsoleLogin"}]},
    ("backup", "ListBackupJobs"): {},
    ("config", "ListDiscoveredResources"): {"resourceType": "AWS::EC2::SecurityGroup"},
    ("config", "GetResourceConfigHistory"): {"resourceType": "AWS::EC2::SecurityGroup",
                                             "resourceId": "sg-0a1b2c3d4e5f60718"},
    ("config", "DescribeComplianceByConfigRule"): {},
}


def _parse(service: str, operation: str, body: bytes) -> Any:
    model = s.service_model(service)
    parser = botocore.parsers.create_parser(model.protocol)
    out = parser.parse({"body": body, "headers": {}, "status_code": 200},
                       model.operation_model(operation).output_shape)
    out.pop("ResponseMetadata", None)
    return out


def test_every_served_operation_has_a_request_here() -> None:
    assert set(REQUESTS) == set(s.SERVED) == set(s.HANDLERS)


@pytest.mark.parametrize("key", sorted(s.SERVED))
def test_served_answer_is_of_the_model_and_parses_back(key: tuple[str, str]) -> None:
    service, operation = key
    body = s.answer(DATA, service, operation, REQUESTS[key])
    raw = json.loads(body)
    shape = s.service_model(service).operation_model(operation).output_shape
    assert s.wire_problems(shape, raw) == []
    parsed = _parse(service, operation, body)
    assert parsed, "the answer is not empty"
    # botocore gives back what the data held: the same members, timestamps as datetimes
    expected = s.HANDLERS[key](DATA, REQUESTS[key])
    assert set(parsed) == {k for k, v in expected.items()}
    first_list = next(v for v in expected.values() if isinstance(v, list))
    assert first_list, f"{operation}: the sandbox data gives an answer with something in it"


def test_wire_problems_finds_what_the_model_refuses() -> None:
    shape = s.service_model("guardduty").operation_model("GetFindings").output_shape
    good = json.loads(s.answer(DATA, "guardduty", "GetFindings", REQUESTS[("guardduty", "GetFindings")]))
    bad = json.loads(json.dumps(good))
    bad["findings"][0]["Severity"] = "high"  # member name instead of the locationName, and a string
    del bad["findings"][0]["arn"]
    problems = s.wire_problems(shape, bad)
    assert any("Severity: not in Finding" in p for p in problems)
    assert any("required member arn" in p for p in problems)
    jobs = s.service_model("backup").operation_model("ListBackupJobs").output_shape
    raw = json.loads(s.answer(DATA, "backup", "ListBackupJobs", {}))
    raw["BackupJobs"][0]["State"] = "BROKEN"
    raw["BackupJobs"][0]["CreationDate"] = "yesterday"
    assert {p.split(":")[0] for p in s.wire_problems(jobs, raw)} == {
        "$.BackupJobs[0].State", "$.BackupJobs[0].CreationDate"}


def test_to_wire_refuses_a_member_the_model_does_not_have() -> None:
    shape = s.service_model("cloudtrail").operation_model("LookupEvents").output_shape
    with pytest.raises(ValueError, match="Severity: not a member of Event"):
        s.to_wire(shape, {"Events": [{"EventId": "x", "Severity": 1}]})


def test_filters_of_the_requests() -> None:
    day = int((NOW - dt.timedelta(days=1)).timestamp() * 1000)
    medium_up = {"FindingCriteria": {"Criterion": {"updatedAt": {"GreaterThanOrEqual": day},
                                                   "severity": {"Gte": 4}}}}
    assert s.HANDLERS[("guardduty", "ListFindings")](DATA, medium_up) == {"FindingIds": ["5ac7f1e0sandbox0001"]}
    later = {"FindingCriteria": {"Criterion": {"updatedAt": {"GreaterThanOrEqual": int(NOW.timestamp() * 1000)}}}}
    assert s.HANDLERS[("guardduty", "ListFindings")](DATA, later) == {"FindingIds": []}
    jobs = s.HANDLERS[("backup", "ListBackupJobs")](DATA, {"ByCreatedAfter": s.iso(NOW - dt.timedelta(hours=24))})
    assert [j["State"] for j in jobs["BackupJobs"]] == ["FAILED"]
    hist = s.HANDLERS[("config", "GetResourceConfigHistory")](DATA, {
        "resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-0a1b2c3d4e5f60718",
        "earlierTime": (NOW - dt.timedelta(hours=24)).timestamp()})
    assert len(hist["configurationItems"]) == 1
    nc = s.HANDLERS[("config", "DescribeComplianceByConfigRule")](DATA, {"ComplianceTypes": ["NON_COMPLIANT"]})
    assert [c["ConfigRuleName"] for c in nc["ComplianceByConfigRules"]] == ["restricted-ssh"]


@pytest.fixture()
def server() -> Iterator[s.SeededAws]:
    # no moto behind it: only the served operations are called here
    srv = s.SeededAws("http://127.0.0.1:9", DATA).start()
    yield srv
    srv.stop()


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, region_name=s.REGION, endpoint_url=endpoint, aws_access_key_id="x",
                        aws_secret_access_key="y")


def test_a_real_client_reads_every_served_operation(server: s.SeededAws) -> None:
    """The operation is found from the request botocore builds (SigV4 scope, X-Amz-Target, rest-json path)."""
    gd = _client("guardduty", server.endpoint)
    since = NOW - dt.timedelta(days=2)
    ids = gd.list_findings(DetectorId="d", FindingCriteria={"Criterion": {
        "updatedAt": {"GreaterThanOrEqual": int(since.timestamp() * 1000)}}})["FindingIds"]
    assert ids == ["5ac7f1e0sandbox0001", "5ac7f1e0sandbox0002"]
    findings = gd.get_findings(DetectorId="d", FindingIds=ids)["Findings"]
    assert [f["Severity"] for f in findings] == [5.0, 2.0]
    ct = _client("cloudtrail", server.endpoint)
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}],
                              StartTime=since)["Events"]
    assert [e["Username"] for e in events] == ["ops-sato", "ops-suzuki"]
    assert isinstance(events[0]["EventTime"], dt.datetime)
    jobs = _client("backup", server.endpoint).list_backup_jobs(ByCreatedAfter=since)["BackupJobs"]
    assert [j["State"] for j in jobs] == ["FAILED", "COMPLETED"]
    cf = _client("config", server.endpoint)
    rid = cf.list_discovered_resources(resourceType="AWS::EC2::SecurityGroup")["resourceIdentifiers"][0]
    items = cf.get_resource_config_history(resourceType="AWS::EC2::SecurityGroup", resourceId=rid["resourceId"],
                                           earlierTime=since)["configurationItems"]
    assert [i["configurationItemStatus"] for i in items] == ["OK", "ResourceDiscovered"]
    rules = cf.describe_compliance_by_config_rule()["ComplianceByConfigRules"]
    assert {r["ConfigRuleName"] for r in rules} == {"restricted-ssh", "s3-bucket-public-read-prohibited"}
    assert server.served == {op: 1 for _, op in s.SERVED}
