"""The AWS calls moto 5 does not serve, answered from seeded data in front of moto (sandbox only, 127.0.0.1).

The AWS daily checks (INFO-007, INFO-008, INFO-010; role ``aws_daily_checks``) read GuardDuty, CloudTrail, AWS
Backup and AWS Config. moto 5.2 implements GuardDuty ``ListDetectors`` and Backup ``ListBackupPlans`` /
``GetBackupPlan`` (used as they are), but not GuardDuty ``ListFindings`` / ``GetFindings``, CloudTrail
``LookupEvents`` or Backup ``ListBackupJobs``; its Config ``GetResourceConfigHistory`` returns one item and ignores
the time window, knows no EC2 security group, and it has no ``DescribeComplianceByConfigRule``. This server answers
exactly the operations of :data:`SERVED` from a data document and forwards every other request to moto unchanged.

**Shapes.** The data holds each operation's output as botocore returns it to a client (member names, datetimes).
:func:`to_wire` turns it into the wire format by walking the operation's output shape in botocore's service model
(``botocore.session.get_session().get_service_model(service)``): the JSON key of each member is its serialization
name (``locationName``: GuardDuty's ``findingIds``), timestamps are epoch seconds (the JSON protocols' default), and
a member the model does not have is refused. :func:`wire_problems` checks a wire body against the same shape
(unknown keys, types, enums, required members); ``tests/unit/simulators/test_aws_seeded.py`` runs it on every
served answer
and parses the answer with botocore's own parser.

**Requests.** The operation is found from the request as botocore builds it: the service from the SigV4 credential
scope of ``Authorization``; for the JSON protocol (CloudTrail, Config) the ``X-Amz-Target`` header; for rest-json
(GuardDuty, Backup) the method and the path against each operation's ``requestUri``. The filters the checks send
are applied: GuardDuty ``FindingCriteria`` (``updatedAt`` and ``severity`` with ``GreaterThanOrEqual``/``Gte``),
CloudTrail ``LookupAttributes`` (one attribute, as the API allows) with ``StartTime``/``EndTime``, Backup
``createdAfter``/``createdBefore``/``state``, Config ``laterTime``/``earlierTime`` and ``ComplianceTypes``.
Pagination: each list is answered in one page (the checks follow ``NextToken`` anyway).

**The document** (``seeded.json`` in the sandbox folder; tests pass their own): ``{"guardduty": {"findings":
[Finding…]}, "cloudtrail": {"events": [Event…]}, "backup": {"jobs": [BackupJob…]}, "config": {"resources":
[ResourceIdentifier…], "history": [ConfigurationItem…], "compliance": [ComplianceByConfigRule…]}}``, with
timestamps as ISO 8601 strings where the model has a timestamp (GuardDuty's ``CreatedAt``/``UpdatedAt`` are strings
in its model). :func:`sandbox_data` makes the sandbox's: one GuardDuty finding, a failed backup job and a plan that
did not run, and a security group changed an hour ago.

Sources: botocore's service models (guardduty 2017-11-28, cloudtrail 2013-11-01, backup 2018-11-15, config
2014-11-12); GuardDuty severity levels: "Severity levels for GuardDuty findings" (GuardDuty User Guide).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: (service, operation) answered here; everything else goes to moto.
SERVED = frozenset({("guardduty", "ListFindings"), ("guardduty", "GetFindings"), ("cloudtrail", "LookupEvents"),
                    ("backup", "ListBackupJobs"), ("config", "ListDiscoveredResources"),
                    ("config", "GetResourceConfigHistory"), ("config", "DescribeComplianceByConfigRule")})
#: The server's files in the sandbox folder.
PID_FILE, LOG_FILE, URL_FILE, DATA_FILE = "seeded.pid", "seeded.log", "seeded.url", "seeded.json"
ACCOUNT = "123456789012"  # moto's default account
REGION = "ap-northeast-1"

_models: dict[str, Any] = {}


def service_model(service: str) -> Any:
    """botocore's service model of ``service`` (cached)."""
    if service not in _models:
        import botocore.session

        _models[service] = botocore.session.get_session().get_service_model(service)
    return _models[service]


def _timestamp(value: Any) -> float:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return float(value.timestamp())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"not a timestamp: {value!r}")


def to_wire(shape: Any, value: Any, where: str = "") -> Any:
    """``value`` (as botocore gives it to a client) in the JSON wire format of ``shape``; raises ValueError naming
    the path of a member the shape does not have or a value of the wrong type."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise ValueError(f"{where or shape.name}: expected a structure")
        out = {}
        for key, v in value.items():
            member = shape.members.get(key)
            if member is None:
                raise ValueError(f"{where}.{key}: not a member of {shape.name}")
            if member.serialization.get("location") in ("header", "headers", "statusCode"):
                continue
            out[member.serialization.get("name", key)] = to_wire(member, v, f"{where}.{key}")
        return out
    if t == "list":
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list")
        return [to_wire(shape.member, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if t == "map":
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a map")
        return {str(k): to_wire(shape.value, v, f"{where}[{k}]") for k, v in value.items()}
    if t == "timestamp":
        return _timestamp(value)
    return value


_SCALARS: dict[str, tuple[type, ...]] = {"string": (str,), "boolean": (bool,), "integer": (int,), "long": (int,),
                                         "double": (int, float), "float": (int, float), "blob": (str,)}


def wire_problems(shape: Any, raw: Any, where: str = "$") -> list[str]:
    """Every way the wire JSON ``raw`` departs from ``shape`` of botocore's model: a key that is no member's
    serialization name, a required member missing, a value of the wrong type, a string outside the shape's enum.
    Empty when ``raw`` is exactly of the shape."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(raw, dict):
            return [f"{where}: expected an object for {shape.name}"]
        names = {m.serialization.get("name", k): (k, m) for k, m in shape.members.items()}
        problems = [f"{where}.{key}: not in {shape.name}" for key in raw if key not in names]
        for key, (member_name, member) in names.items():
            if key in raw:
                problems += wire_problems(member, raw[key], f"{where}.{key}")
            elif member_name in shape.required_members:
                problems.append(f"{where}: required member {key} of {shape.name} missing")
        return problems
    if t == "list":
        if not isinstance(raw, list):
            return [f"{where}: expected a list"]
        return [p for i, v in enumerate(raw) for p in wire_problems(shape.member, v, f"{where}[{i}]")]
    if t == "map":
        if not isinstance(raw, dict):
            return [f"{where}: expected a map"]
        return [p for k, v in raw.items() for p in wire_problems(shape.value, v, f"{where}[{k}]")]
    if t == "timestamp":
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        return [] if ok else [f"{where}: expected epoch seconds"]
    types = _SCALARS.get(t)
    if types is None:
        return [f"{where}: shape type {t} not handled"]
    if not isinstance(raw, types) or (t != "boolean" and isinstance(raw, bool)):
        return [f"{where}: expected {t}, got {type(raw).__name__}"]
    if t == "string" and shape.enum and raw not in shape.enum:
        return [f"{where}: {raw!r} not in the enum of {shape.name}"]
    return []


# ---------------------------------------------------------------- requests

def _service_of(headers: Any) -> str:
    m = re.search(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request", headers.get("Authorization") or "")
    return m.group(1) if m else ""


def _uri_pattern(uri: str) -> re.Pattern[str]:
    path = uri.split("?")[0]
    parts = re.split(r"(\{[^}]+\})", path)
    rx = "".join(f"(?P<{p[1:-1].rstrip('+')}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile("^" + rx.rstrip("/") + "/?$")


def operation_of(method: str, path: str, headers: Any) -> tuple[str, str, dict[str, str]]:
    """``(service, operation, uri parameters)`` of a request botocore made ("" when unknown)."""
    service = _service_of(headers)
    if not service:
        return "", "", {}
    try:
        model = service_model(service)
    except Exception:  # noqa: BLE001 - a service botocore does not know: not ours to answer
        return service, "", {}
    target = headers.get("X-Amz-Target") or ""
    if target:
        return service, target.rsplit(".", 1)[-1], {}
    for name in model.operation_names:
        op = model.operation_model(name)
        if op.http.get("method") != method:
            continue
        m = _uri_pattern(op.http.get("requestUri", "/")).match(path)
        if m:
            return service, name, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
    return service, "", {}


def request_params(service: str, operation: str, uri: dict[str, str], query: str, body: bytes) -> dict[str, Any]:
    """The request's parameters by member name (botocore's input names): JSON body keys through the members'
    serialization names, query-string and URI members likewise."""
    shape = service_model(service).operation_model(operation).input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    doc = json.loads(body or b"{}") if body.strip() else {}
    qs = urllib.parse.parse_qs(query)
    for name, member in shape.members.items():
        wire = member.serialization.get("name", name)
        loc = member.serialization.get("location")
        if loc == "uri" and wire in uri:
            params[name] = uri[wire]
        elif loc == "querystring" and wire in qs:
            params[name] = qs[wire][0]
        elif loc is None and isinstance(doc, dict) and wire in doc:
            params[name] = _from_wire(member, doc[wire])
    return params


def _from_wire(shape: Any, raw: Any) -> Any:
    t = shape.type_name
    if t == "structure" and isinstance(raw, dict):
        names = {m.serialization.get("name", k): (k, m) for k, m in shape.members.items()}
        return {names[k][0]: _from_wire(names[k][1], v) for k, v in raw.items() if k in names}
    if t == "list" and isinstance(raw, list):
        return [_from_wire(shape.member, v) for v in raw]
    if t == "map" and isinstance(raw, dict):
        return {k: _from_wire(shape.value, v) for k, v in raw.items()}
    return raw


def _time(value: Any) -> dt.datetime:
    """A timestamp of the data or of a request (ISO 8601 string, epoch seconds) as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(_timestamp(value), dt.UTC)


# ---------------------------------------------------------------- the operations

def _gte(criterion: dict[str, Any], field: str) -> float | None:
    cond = (criterion or {}).get(field) or {}
    for key in ("GreaterThanOrEqual", "Gte"):
        if key in cond:
            return float(cond[key])
    return None


def _list_findings(data: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    crit = (p.get("FindingCriteria") or {}).get("Criterion") or {}
    updated, severity = _gte(crit, "updatedAt"), _gte(crit, "severity")
    ids = []
    for f in data.get("guardduty", {}).get("findings", []):
        if updated is not None and _time(f["UpdatedAt"]).timestamp() * 1000 < updated:
            continue
        if severity is not None and float(f["Severity"]) < severity:
            continue
        ids.append(f["Id"])
    return {"FindingIds": ids}


def _get_findings(data: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    wanted = list(p.get("FindingIds") or [])
    by_id = {f["Id"]: f for f in data.get("guardduty", {}).get("findings", [])}
    return {"Findings": [by_id[i] for i in wanted if i in by_id]}


def _lookup_events(data: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    attrs = p.get("LookupAttributes") or []
    start = _time(p["StartTime"]) if "StartTime" in p else None
    end = _time(p["EndTime"]) if "EndTime" in p else None
    out = []
    for e in data.get("cloudtrail", {}).get("events", []):
        t = _time(e["EventTime"])
        if (start and t < start) or (end and t > end):
            continue
        if any(e.get(a.get("AttributeKey", "")) != a.get("AttributeValue") for a in attrs):
            continue
        out.append(e)
    return {"Events": sorted(out, key=lambda e: _time(e["EventTime"]), reverse=True)}


def _list_backup_jobs(data: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    after = _time(p["ByCreatedAfter"]) if "ByCreatedAfter" in p else None
    before = _time(p["ByCreatedBefore"]) if "ByCreatedBefore" in p else None
    jobs = []
    for j in data.get("backup", {}).get("jobs", []):
        t = _time(j["CreationDate"])
        if (after and t < after) or (before and t > before) or p.get("ByState", j["State"]) != j["State"]:
            continue
        jobs.append(j)
    return {"BackupJobs": jobs}


def _list_discovered(data: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    return {"resourceIdentifiers": [r for r in data.get("config", {}).get("resources", [])
                                    if r.get("resourceType") == p.get("resourceType")]}


def _config_history(data: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    later = _time(p["laterTime"]) if "laterTime" in p else None
    earlier = _time(p["earlierTime"]) if "earlierTime" in p else None
    items = []
    for c in data.get("config", {}).get("history", []):
        if c.get("resourceType") != p.get("resourceType") or c.get("resourceId") != p.get("resourceId"):
            continue
        t = _time(c["configurationItemCaptureTime"])
        if (later and t > later) or (earlier and t < earlier):
            continue
        items.append(c)
    items.sort(key=lambda c: _time(c["configurationItemCaptureTime"]), reverse=not p.get("chronologicalOrder")
               == "Forward")
    return {"configurationItems": items}


def _compliance(data: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    types, names = p.get("ComplianceTypes"), p.get("ConfigRuleNames")
    return {"ComplianceByConfigRules": [
        c for c in data.get("config", {}).get("compliance", [])
        if (not types or c.get("Compliance", {}).get("ComplianceType") in types)
        and (not names or c.get("ConfigRuleName") in names)]}


HANDLERS: dict[tuple[str, str], Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]] = {
    ("guardduty", "ListFindings"): _list_findings, ("guardduty", "GetFindings"): _get_findings,
    ("cloudtrail", "LookupEvents"): _lookup_events, ("backup", "ListBackupJobs"): _list_backup_jobs,
    ("config", "ListDiscoveredResources"): _list_discovered, ("config", "GetResourceConfigHistory"): _config_history,
    ("config", "DescribeComplianceByConfigRule"): _compliance,
}


def answer(data: dict[str, Any], service: str, operation: str, params: dict[str, Any]) -> bytes:
    """The wire body of ``operation``'s answer from ``data`` (see :func:`to_wire`)."""
    out = HANDLERS[(service, operation)](data, params)
    shape = service_model(service).operation_model(operation).output_shape
    return json.dumps(to_wire(shape, out), ensure_ascii=False).encode()


# ---------------------------------------------------------------- the server

class SeededAws:
    """A loopback HTTP server: :data:`SERVED` from ``data``, every other request forwarded to ``upstream`` (moto).

    ``SeededAws(upstream, data).start()`` serves in a thread (tests); ``endpoint`` is its URL; ``data`` may be
    replaced between calls; ``served`` counts the operations answered here."""

    def __init__(self, upstream: str, data: dict[str, Any], port: int = 0):
        self.upstream = upstream.rstrip("/")
        self.data = data
        self.served: dict[str, int] = {}
        seeded = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urllib.parse.urlsplit(self.path)
                service, operation, uri = operation_of(self.command, split.path, self.headers)
                if (service, operation) in SERVED:
                    seeded.served[operation] = seeded.served.get(operation, 0) + 1
                    try:
                        params = request_params(service, operation, uri, split.query, body)
                        out = answer(seeded.data, service, operation, params)
                        ctype = "application/x-amz-json-1.1" if service_model(service).protocol == "json" \
                            else "application/json"
                        self._reply(200, out, {"Content-Type": ctype})
                    except (ValueError, KeyError, TypeError) as e:
                        err = json.dumps({"__type": "InvalidParameterValueException", "message": str(e)}).encode()
                        self._reply(400, err, {"Content-Type": "application/json",
                                               "x-amzn-ErrorType": "InvalidParameterValueException"})
                    return
                self._forward(body)

            def _forward(self, body: bytes) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                req = urllib.request.Request(seeded.upstream + self.path, data=body or None,  # noqa: S310
                                             headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback moto only
                        status, data, rh = r.status, r.read(), dict(r.headers)
                except urllib.error.HTTPError as e:
                    status, data, rh = e.code, e.read(), dict(e.headers)
                self._reply(status, data, {k: v for k, v in rh.items()
                                           if k.lower() not in ("content-length", "transfer-encoding", "connection")})

            def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> SeededAws:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- the sandbox's data

def iso(t: dt.datetime) -> str:
    """``t`` as ISO 8601 UTC with milliseconds and ``Z`` (GuardDuty's string timestamps)."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def guardduty_finding(fid: str, severity: float, updated: dt.datetime,
                      ftype: str = "Recon:EC2/PortProbeUnprotectedPort",
                      title: str = "Unprotected port on EC2 instance is being probed",
                      instance_id: str = "i-0123456789abcdef0") -> dict[str, Any]:
    """A GuardDuty ``Finding`` (GetFindings) of the given severity (1.0-10.0), updated at ``updated``."""
    return {"AccountId": ACCOUNT, "Arn": f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/sandbox/finding/{fid}",
            "CreatedAt": iso(updated - dt.timedelta(hours=1)), "Id": fid, "Partition": "aws", "Region": REGION,
            "Resource": {"ResourceType": "Instance", "InstanceDetails": {"InstanceId": instance_id}},
            "SchemaVersion": "2.0", "Severity": severity, "Title": title, "Type": ftype, "UpdatedAt": iso(updated),
            "Description": title + " (sandbox seed)."}


def cloudtrail_event(eid: str, name: str, when: dt.datetime, username: str = "ops-sandbox",
                     failure: bool = False) -> dict[str, Any]:
    """A CloudTrail ``Event`` (LookupEvents); ``CloudTrailEvent`` is the record's JSON text as CloudTrail gives it
    (a failed ``ConsoleLogin`` has ``responseElements.ConsoleLogin: Failure``)."""
    record: dict[str, Any] = {"eventVersion": "1.08", "eventTime": iso(when).replace(".000Z", "Z"),
                              "eventName": name, "awsRegion": REGION, "eventID": eid,
                              "userIdentity": {"type": "Root" if username == "root" else "IAMUser",
                                               "userName": username}}
    if name == "ConsoleLogin":
        record["eventSource"] = "signin.amazonaws.com"
        record["responseElements"] = {"ConsoleLogin": "Failure" if failure else "Success"}
        if failure:
            record["errorMessage"] = "Failed authentication"
    return {"EventId": eid, "EventName": name, "ReadOnly": "false", "EventTime": iso(when),
            "EventSource": record.get("eventSource", "ec2.amazonaws.com"), "Username": username,
            "Resources": [], "CloudTrailEvent": json.dumps(record, separators=(",", ":"))}


def backup_job(jid: str, state: str, created: dt.datetime, plan_id: str, resource: str = "i-0123456789abcdef0",
               message: str = "") -> dict[str, Any]:
    """An AWS Backup ``BackupJob`` (ListBackupJobs) created by the backup plan ``plan_id``."""
    job: dict[str, Any] = {
        "AccountId": ACCOUNT, "BackupJobId": jid, "BackupVaultName": "joho-vault",
        "BackupVaultArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:joho-vault",
        "ResourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{resource}", "ResourceType": "EC2",
        "CreationDate": iso(created), "State": state,
        "CreatedBy": {"BackupPlanId": plan_id, "BackupPlanArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-plan:"
                      f"{plan_id}", "BackupPlanVersion": "1", "BackupRuleId": "daily"}}
    if state == "COMPLETED":
        job["CompletionDate"] = iso(created + dt.timedelta(minutes=20))
    if message:
        job["StatusMessage"] = message
    return job


def security_group_change(group_id: str, when: dt.datetime, status: str = "OK",
                          configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """An AWS Config ``ConfigurationItem`` of an EC2 security group captured at ``when``."""
    return {"version": "1.3", "accountId": ACCOUNT, "configurationItemCaptureTime": iso(when),
            "configurationItemStatus": status, "configurationStateId": str(int(when.timestamp() * 1000)),
            "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group_id}", "resourceType":
            "AWS::EC2::SecurityGroup", "resourceId": group_id, "resourceName": "joho-web-sg", "awsRegion": REGION,
            "configuration": json.dumps(configuration or {"groupId": group_id}, separators=(",", ":")),
            "relatedEvents": [], "relationships": [], "tags": {}}


def sandbox_data(now: dt.datetime, plan_ids: list[str]) -> dict[str, Any]:
    """The sandbox's seeded data, relative to ``now``: a medium GuardDuty finding (severity 5.0) and a low one under
    the reporting threshold, a failed console sign-in, a failed backup job of the first plan and no job of the
    second (its run is missing), a security group changed an hour ago and a non-compliant Config rule."""
    h = dt.timedelta(hours=1)
    sg = "sg-0a1b2c3d4e5f60718"
    return {
        "guardduty": {"findings": [
            guardduty_finding("5ac7f1e0sandbox0001", 5.0, now - 2 * h),
            guardduty_finding("5ac7f1e0sandbox0002", 2.0, now - 3 * h, "Recon:EC2/Portscan",
                              "Outbound portscan from EC2 instance")]},
        "cloudtrail": {"events": [
            cloudtrail_event("3f0b6c1e-0000-4000-8000-000000000001", "ConsoleLogin", now - 4 * h, "ops-sato",
                             failure=True),
            cloudtrail_event("3f0b6c1e-0000-4000-8000-000000000002", "ConsoleLogin", now - 5 * h, "ops-suzuki")]},
        "backup": {"jobs": [
            backup_job("a1b2c3d4-0000-4000-8000-000000000001", "FAILED", now - 6 * h, plan_ids[0],
                       message="Insufficient privileges to perform this action."),
            backup_job("a1b2c3d4-0000-4000-8000-000000000002", "COMPLETED", now - 30 * h, plan_ids[0])]},
        "config": {
            "resources": [{"resourceType": "AWS::EC2::SecurityGroup", "resourceId": sg,
                           "resourceName": "joho-web-sg"}],
            "history": [security_group_change(sg, now - 48 * h, "ResourceDiscovered"),
                        security_group_change(sg, now - h, configuration={
                            "groupId": sg, "ipPermissions": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                                                              "ipRanges": ["0.0.0.0/0"]}]})],
            "compliance": [
                {"ConfigRuleName": "restricted-ssh", "Compliance": {
                    "ComplianceType": "NON_COMPLIANT",
                    "ComplianceContributorCount": {"CappedCount": 1, "CapExceeded": False}}},
                {"ConfigRuleName": "s3-bucket-public-read-prohibited", "Compliance": {"ComplianceType": "COMPLIANT"}}],
        },
    }


def seed_moto(endpoint: str) -> dict[str, Any]:
    """What moto does serve, seeded on ``endpoint``: a GuardDuty detector and two daily backup plans (a vault
    too). Returns ``{"detector_id": …, "plan_ids": [first, second]}``."""
    import boto3

    from .aws import CREDENTIALS

    gd = boto3.client("guardduty", region_name=REGION, endpoint_url=endpoint, **CREDENTIALS)
    detector = gd.create_detector(Enable=True)["DetectorId"]
    bk = boto3.client("backup", region_name=REGION, endpoint_url=endpoint, **CREDENTIALS)
    bk.create_backup_vault(BackupVaultName="joho-vault")
    plan_ids = []
    for name in ("joho-daily-ec2", "joho-daily-db"):
        plan = bk.create_backup_plan(BackupPlan={"BackupPlanName": name, "Rules": [{
            "RuleName": "daily", "TargetBackupVaultName": "joho-vault",
            "ScheduleExpression": "cron(0 17 * * ? *)"}]})
        plan_ids.append(plan["BackupPlanId"])
    return {"detector_id": detector, "plan_ids": plan_ids}


def start(d: Path, upstream: str, timeout_s: float = 30.0) -> str:
    """Seed moto at ``upstream``, write ``seeded.json`` and start this server as a process in front of it for the
    sandbox folder ``d``; its endpoint (also in ``seeded.url``)."""
    from . import procs

    ids = seed_moto(upstream)
    data = sandbox_data(dt.datetime.now(dt.UTC), ids["plan_ids"])
    (d / DATA_FILE).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    port = procs.free_ports(1)[0]
    endpoint = f"http://{procs.HOST}:{port}"
    proc = procs.spawn([sys.executable, "-m", "ops_sandbox.aws_seeded", "--upstream", upstream,
                        "--data", str(d / DATA_FILE), "--port", str(port)],
                       log=d / LOG_FILE, pid_file=d / PID_FILE)
    procs.wait_ready(proc, lambda: _answers(endpoint), name=f"sandbox: seeded AWS on {endpoint}",
                     log=d / LOG_FILE, timeout_s=timeout_s)
    (d / URL_FILE).write_text(endpoint)
    return endpoint


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/moto-api/", timeout=0.5) as r:  # noqa: S310 - loopback only
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop(d: Path, timeout_s: float = 10.0) -> None:
    """Stop the server of the sandbox folder ``d`` (idempotent) and remove its files but the log."""
    from . import procs

    pid = procs.read_pid(d / PID_FILE)
    if pid is not None:
        procs.stop(pid, timeout_s=timeout_s)
    for name in (PID_FILE, URL_FILE, DATA_FILE):
        (d / name).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """``python -m ops_sandbox.aws_seeded --upstream URL --data FILE --port N``: serve until stopped."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--port", required=True, type=int)
    a = ap.parse_args(argv)
    server = SeededAws(a.upstream, json.loads(a.data.read_text()), a.port)
    server.server.serve_forever()


if __name__ == "__main__":
    main()
