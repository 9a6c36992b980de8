# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""The AWS daily checks (INFO-007, INFO-008, INFO-010): read-only API reads turned into findings and a verdict.

Used by ``library/aws_daily_check.py``; every function takes the boto3 clients it reads, so the unit tests pass
stubs. Nothing here changes anything in AWS: only List/Get/Describe/Lookup calls are made.

**Findings.** One dict per thing an operator must look at::

    {check, source, level, time, resource, finding, detail, id}

``check`` the catalog ID; ``source`` the service (``guardduty``, ``cloudtrail``, ``backup``, ``config``);
``level`` one of :data:`LEVELS`; ``time`` ISO 8601 UTC; ``resource`` what it is about (an instance, a plan, a
resource ID); ``finding`` one line; ``detail`` the rest (a status message, a rule); ``id`` the AWS ID.

**The window.** Each check reads what happened since the previous successful check of the same task in the same
environment (the ``started_at`` of the newest bundle with status ``planned`` or ``applied`` in the evidence folder,
see :func:`previous_check`) or, without one, the last ``window_hours`` hours; never further back than
``max_window_hours``.

**Verdict** (:func:`verdict`): ``ok`` (no finding), ``findings`` (every finding under the fail level: the module
warns, exit 0) or ``failed`` (a finding at or above the fail level: the module fails, exit 3).

Sources (API behaviour): GuardDuty API Reference - ListFindings (FindingCriteria ``updatedAt`` in epoch
milliseconds, ``severity``), GetFindings (at most 50 IDs a call), "Severity levels for GuardDuty findings" (Low
1.0-3.9, Medium 4.0-6.9, High 7.0-8.9, Critical 9.0-10.0); CloudTrail API Reference - LookupEvents (one lookup
attribute a call, events of the last 90 days, 2 requests per second per account and region); AWS Backup API
Reference - ListBackupJobs (``ByCreatedAfter``; states CREATED, PENDING, RUNNING, ABORTING, ABORTED, COMPLETED,
FAILED, EXPIRED, PARTIAL), ListBackupPlans / GetBackupPlan (``LastExecutionDate``); AWS Config API Reference -
ListDiscoveredResources, GetResourceConfigHistory (``earlierTime``/``laterTime``), DescribeComplianceByConfigRule
(``ComplianceTypes`` NON_COMPLIANT).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os

#: Finding levels, lowest first.
LEVELS = ("low", "medium", "high", "critical")
#: The checks by catalog ID.
CHECKS = {"events": "INFO-007", "backup": "INFO-008", "config": "INFO-010"}
#: Columns of the CSV attachment, in order.
COLUMNS = ("check", "source", "level", "time", "resource", "finding", "detail", "id")
#: Backup job states that are not a finished, complete backup, and their default level.
BACKUP_STATE_LEVELS = {"FAILED": "high", "ABORTED": "high", "EXPIRED": "high", "PARTIAL": "medium",
                       "ABORTING": "medium", "RUNNING": "low", "PENDING": "low", "CREATED": "low"}


class CheckError(Exception):
    """An AWS call of a check failed: ``api`` names it (``GuardDuty ListFindings``), ``code`` the AWS error code."""

    def __init__(self, api, code, message):
        self.api, self.code = api, code
        super().__init__(message)


def level_at_least(level, threshold):
    """True when ``level`` is ``threshold`` or above in :data:`LEVELS`."""
    return LEVELS.index(level) >= LEVELS.index(threshold)


def guardduty_level(severity):
    """The level of a GuardDuty severity (1.0-10.0) by GuardDuty's own ranges."""
    s = float(severity)
    return "low" if s < 4 else "medium" if s < 7 else "high" if s < 9 else "critical"


def iso(t):
    """``t`` (aware datetime) as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value):
    """An aware UTC datetime from a datetime or an ISO 8601 string (``Z`` or an offset); ValueError otherwise."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    t = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def previous_check(evidence_dir, task, environment, limit=500):
    """``started_at`` (aware datetime) of the newest successful check of ``task`` in ``environment``: the newest
    bundle ``<evidence_dir>/<run_id>/manifest.json`` whose run ID names the task and whose ``status`` is
    ``planned`` or ``applied``; None when there is none (or no evidence folder). Reads at most ``limit`` bundles
    of the task, newest first (run IDs start with their UTC time)."""
    if not evidence_dir or not os.path.isdir(evidence_dir):
        return None
    names = sorted((n for n in os.listdir(evidence_dir) if "-%s-" % task in n), reverse=True)[:limit]
    for name in names:
        try:
            with open(os.path.join(evidence_dir, name, "manifest.json"), encoding="utf-8") as f:
                m = json.load(f)
            if (m.get("task") == task and m.get("environment") == environment
                    and m.get("status") in ("planned", "applied") and m.get("started_at")):
                return parse_time(m["started_at"])
        except (OSError, ValueError, AttributeError):
            continue
    return None


def window(now, previous=None, window_hours=24, max_window_hours=168):
    """``{since, until, source}`` of a check run at ``now``: since the previous successful check when there is
    one, else ``window_hours`` back; never more than ``max_window_hours`` back. Times ISO 8601 UTC."""
    earliest = now - dt.timedelta(hours=max_window_hours)
    if previous is not None and previous < now:
        since, source = max(previous, earliest), "previous successful check"
        if previous < earliest:
            source += " (older than %d h: limited)" % max_window_hours
    else:
        since, source = now - dt.timedelta(hours=min(window_hours, max_window_hours)), "last %d h" % window_hours
    return {"since": since, "until": now, "source": source}


def _call(api, fn, **kwargs):
    import botocore.exceptions

    try:
        return fn(**kwargs)
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        code = err.get("Code", "")
        what = "throttled" if "Throttl" in code or code in ("TooManyRequestsException", "RequestLimitExceeded") \
            else "denied" if "AccessDenied" in code or code in ("UnauthorizedOperation", "AuthFailure",
                                                                "UnrecognizedClientException") else "failed"
        raise CheckError(api, code, "%s %s: %s (%s)" % (api, what, err.get("Message", ""), code)) from e
    except botocore.exceptions.BotoCoreError as e:
        raise CheckError(api, "", "%s failed: %s" % (api, e)) from e


def _row(check, source, level, time, resource, finding, detail, fid):
    return {"check": check, "source": source, "level": level, "time": time, "resource": resource,
            "finding": finding, "detail": detail, "id": fid}


# ---------------------------------------------------------------- INFO-007

def guardduty_findings(gd, since, min_severity, calls):
    """GuardDuty findings of every detector updated since ``since`` with severity >= ``min_severity``."""
    out = []
    detectors = []
    token = None
    while True:
        calls["GuardDuty ListDetectors"] = calls.get("GuardDuty ListDetectors", 0) + 1
        resp = _call("GuardDuty ListDetectors", gd.list_detectors, **({"NextToken": token} if token else {}))
        detectors += resp.get("DetectorIds", [])
        token = resp.get("NextToken")
        if not token:
            break
    criteria = {"Criterion": {"updatedAt": {"GreaterThanOrEqual": int(since.timestamp() * 1000)},
                              "severity": {"GreaterThanOrEqual": int(min_severity)}}}
    for det in detectors:
        ids, token = [], None
        while True:
            kw = {"DetectorId": det, "FindingCriteria": criteria, "MaxResults": 50}
            if token:
                kw["NextToken"] = token
            calls["GuardDuty ListFindings"] = calls.get("GuardDuty ListFindings", 0) + 1
            resp = _call("GuardDuty ListFindings", gd.list_findings, **kw)
            ids += resp.get("FindingIds", [])
            token = resp.get("NextToken")
            if not token:
                break
        for i in range(0, len(ids), 50):
            calls["GuardDuty GetFindings"] = calls.get("GuardDuty GetFindings", 0) + 1
            resp = _call("GuardDuty GetFindings", gd.get_findings, DetectorId=det, FindingIds=ids[i:i + 50])
            for f in resp.get("Findings", []):
                sev = float(f.get("Severity", 0))
                if sev < float(min_severity) or parse_time(f["UpdatedAt"]) < since:
                    continue  # the criteria are whole numbers; the threshold may not be
                res = f.get("Resource") or {}
                inst = (res.get("InstanceDetails") or {}).get("InstanceId")
                out.append(_row("INFO-007", "guardduty", guardduty_level(sev), iso(parse_time(f["UpdatedAt"])),
                                inst or res.get("ResourceType", ""), f.get("Title") or f.get("Type", ""),
                                "%s, severity %.1f" % (f.get("Type", ""), sev), f.get("Id", "")))
    return out


def _console_failure(event):
    try:
        record = json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        return False
    return (record.get("responseElements") or {}).get("ConsoleLogin") == "Failure"


def cloudtrail_events(ct, since, until, notable, calls):
    """CloudTrail events since ``since`` matching each notable entry ``{attribute, value, level,
    failures_only}`` (one LookupEvents lookup attribute per entry, as the API allows one)."""
    out = []
    for n in notable:
        attr = {"AttributeKey": n["attribute"], "AttributeValue": n["value"]}
        token = None
        while True:
            kw = {"LookupAttributes": [attr], "StartTime": since, "EndTime": until, "MaxResults": 50}
            if token:
                kw["NextToken"] = token
            calls["CloudTrail LookupEvents"] = calls.get("CloudTrail LookupEvents", 0) + 1
            resp = _call("CloudTrail LookupEvents", ct.lookup_events, **kw)
            for e in resp.get("Events", []):
                if n.get("failures_only") and not _console_failure(e):
                    continue
                what = "%s=%s" % (n["attribute"], n["value"])
                if n.get("failures_only"):
                    what += " (failed)"
                out.append(_row("INFO-007", "cloudtrail", n.get("level", "medium"),
                                iso(parse_time(e["EventTime"])), e.get("Username", ""),
                                "%s by %s" % (e.get("EventName", ""), e.get("Username", "")),
                                "notable: " + what, e.get("EventId", "")))
            token = resp.get("NextToken")
            if not token:
                break
    return out


# ---------------------------------------------------------------- INFO-008

def backup_findings(bk, since, plans, state_levels, missing_level, calls, runs_since=None):
    """Backup jobs created since ``since`` that did not complete (level by state), and every plan of ``plans``
    (``[{backup_plan_id, backup_plan_name, last_execution_date?}]``, from amazon.aws.backup_plan_info) with neither
    a job nor a ``last_execution_date`` since ``runs_since`` (default ``since``; the module passes ``window_hours``
    back from now, so that a plan's daily run counts whenever the previous check was)."""
    runs_since = since if runs_since is None else runs_since
    out, jobs, token = [], [], None
    while True:
        kw = {"ByCreatedAfter": min(since, runs_since), "MaxResults": 100}
        if token:
            kw["NextToken"] = token
        calls["Backup ListBackupJobs"] = calls.get("Backup ListBackupJobs", 0) + 1
        resp = _call("Backup ListBackupJobs", bk.list_backup_jobs, **kw)
        jobs += resp.get("BackupJobs", [])
        token = resp.get("NextToken")
        if not token:
            break
    ran = set()
    for j in jobs:
        created = parse_time(j["CreationDate"])
        plan = (j.get("CreatedBy") or {}).get("BackupPlanId")
        if plan and created >= runs_since:
            ran.add(plan)
        state = j.get("State", "")
        if state == "COMPLETED" or created < since:
            continue
        out.append(_row("INFO-008", "backup", state_levels.get(state, "medium"), iso(created),
                        j.get("ResourceArn", ""), "backup job %s" % state,
                        j.get("StatusMessage", "") or "vault %s" % j.get("BackupVaultName"), j.get("BackupJobId", "")))
    for p in plans:
        pid = p.get("backup_plan_id") or p.get("BackupPlanId")
        last = p.get("last_execution_date") or p.get("LastExecutionDate")
        if pid in ran or (last and parse_time(last) >= runs_since):
            continue
        name = p.get("backup_plan_name") or p.get("BackupPlanName") or pid
        out.append(_row("INFO-008", "backup", missing_level, iso(runs_since), name,
                        "backup plan %s: no run since %s" % (name, iso(runs_since)),
                        "last run %s" % (iso(parse_time(last)) if last else "never"), pid))
    return out


# ---------------------------------------------------------------- INFO-010

def config_findings(cf, since, until, resource_types, change_levels, default_change_level, noncompliant_level,
                    calls):
    """Resources of ``resource_types`` with a configuration item captured since ``since`` (one row per change),
    and every non-compliant Config rule."""
    out = []
    for rtype in resource_types:
        ids, token = [], None
        while True:
            kw = {"resourceType": rtype, "limit": 100}
            if token:
                kw["nextToken"] = token
            calls["Config ListDiscoveredResources"] = calls.get("Config ListDiscoveredResources", 0) + 1
            resp = _call("Config ListDiscoveredResources", cf.list_discovered_resources, **kw)
            ids += resp.get("resourceIdentifiers", [])
            token = resp.get("nextToken")
            if not token:
                break
        for r in ids:
            token = None
            while True:
                kw = {"resourceType": rtype, "resourceId": r["resourceId"], "earlierTime": since,
                      "laterTime": until, "limit": 100}
                if token:
                    kw["nextToken"] = token
                calls["Config GetResourceConfigHistory"] = calls.get("Config GetResourceConfigHistory", 0) + 1
                resp = _call("Config GetResourceConfigHistory", cf.get_resource_config_history, **kw)
                for item in resp.get("configurationItems", []):
                    out.append(_row("INFO-010", "config", change_levels.get(rtype, default_change_level),
                                    iso(parse_time(item["configurationItemCaptureTime"])),
                                    "%s %s" % (rtype, r["resourceId"]),
                                    "%s %s" % (item.get("resourceName") or r.get("resourceName") or r["resourceId"],
                                               item.get("configurationItemStatus", "changed")),
                                    "configuration item captured", item.get("configurationStateId", "")))
                token = resp.get("nextToken")
                if not token:
                    break
    token = None
    while True:
        kw = {"ComplianceTypes": ["NON_COMPLIANT"]}
        if token:
            kw["NextToken"] = token
        calls["Config DescribeComplianceByConfigRule"] = calls.get("Config DescribeComplianceByConfigRule", 0) + 1
        resp = _call("Config DescribeComplianceByConfigRule", cf.describe_compliance_by_config_rule, **kw)
        for c in resp.get("ComplianceByConfigRules", []):
            comp = c.get("Compliance") or {}
            if comp.get("ComplianceType") != "NON_COMPLIANT":
                continue
            count = (comp.get("ComplianceContributorCount") or {}).get("CappedCount")
            out.append(_row("INFO-010", "config", noncompliant_level, iso(until), c.get("ConfigRuleName", ""),
                            "rule %s NON_COMPLIANT" % c.get("ConfigRuleName", ""),
                            "%s non-compliant resource(s)" % count if count is not None else "",
                            c.get("ConfigRuleName", "")))
        token = resp.get("NextToken")
        if not token:
            break
    return out


# ---------------------------------------------------------------- verdict and CSV

def verdict(findings, fail_level):
    """``(verdict, at_or_over)``: ``ok`` (no finding), ``findings`` or ``failed`` (some finding at or above
    ``fail_level``; ``at_or_over`` lists them)."""
    over = [f for f in findings if level_at_least(f["level"], fail_level)]
    return ("failed" if over else "findings" if findings else "ok"), over


def sort_findings(findings):
    """Highest level first, then newest first, then by resource."""
    return sorted(findings, key=lambda f: (-LEVELS.index(f["level"]), _neg_time(f["time"]), f["resource"]))


def _neg_time(t):
    return -parse_time(t).timestamp()


def _cell(value):
    text = "" if value is None else str(value)
    # a spreadsheet runs a cell that starts with = + - @ as a formula (OWASP "CSV Injection"): quote it as text
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(findings):
    """The findings as CSV text (header :data:`COLUMNS`; cells that a spreadsheet would run as formulas start
    with ``'``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for f in findings:
        w.writerow([_cell(f.get(c)) for c in COLUMNS])
    return buf.getvalue()


def summary(task, findings, fail_level, win):
    """One line: ``INFO-008: 2 finding(s) since … (previous successful check): 1 high, 1 medium``."""
    counts = {lv: sum(1 for f in findings if f["level"] == lv) for lv in LEVELS}
    parts = ", ".join("%d %s" % (counts[lv], lv) for lv in reversed(LEVELS) if counts[lv])
    head = "%s: %d finding(s) since %s (%s)" % (task, len(findings), iso(win["since"]), win["source"])
    if not findings:
        return head.replace("0 finding(s)", "no finding")
    tail = "; at or above %s: %s" % (fail_level, "; ".join(
        "%s %s" % (f["resource"], f["finding"]) for f in findings if level_at_least(f["level"], fail_level)))
    return head + ": " + parts + (tail if any(level_at_least(f["level"], fail_level) for f in findings) else "")
