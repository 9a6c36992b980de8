#!/usr/bin/python
# -*- coding: utf-8 -*-
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""The AWS daily checks INFO-007, INFO-008, INFO-010: read-only, findings and a verdict."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aws_daily_check
short_description: Read GuardDuty/CloudTrail, AWS Backup or AWS Config and report what an operator must look at
description:
  - Catalog tasks INFO-007 (AWS / イベント確認), INFO-008 (AWS / バックアップ確認), INFO-010 (AWS / 設定変更確認).
    Read-only - only List, Get, Describe and Lookup calls; check mode does exactly what a run does.
  - The window is from the previous successful check of the task in the environment (the newest bundle with
    status planned or applied in I(evidence_dir)) or the last I(window_hours) hours, to now; never more than
    I(max_window_hours) back.
  - C(events) (INFO-007) - GuardDuty ListDetectors, ListFindings (updatedAt and severity criteria), GetFindings:
    findings updated in the window with severity >= I(guardduty_min_severity), levelled by GuardDuty's ranges;
    and CloudTrail LookupEvents, one call per entry of I(notable_events) (the API takes one lookup attribute).
  - C(backup) (INFO-008) - Backup ListBackupJobs (ByCreatedAfter) - every job of the window not COMPLETED,
    levelled by I(backup_state_levels) - and every plan of I(backup_plans) (amazon.aws.backup_plan_info) with
    no job and no LastExecutionDate in the last I(window_hours) hours, whatever the window
    (I(backup_missing_level)).
  - C(config) (INFO-010) - Config ListDiscoveredResources and GetResourceConfigHistory (earlierTime, laterTime)
    for each type of I(config_resource_types), one finding per configuration item captured in the window; and
    DescribeComplianceByConfigRule (NON_COMPLIANT) - one finding per non-compliant rule.
  - Verdict - no finding ok; findings all under I(fail_level) - a warning (ops-driver exit 0); a finding at or
    above I(fail_level) - the module fails (ops-driver exit 3) with the findings in its result.
  - A throttled (after botocore's retries, I(max_attempts)) or denied call fails with a message naming the API,
    e.g. C(INFO-007: CloudTrail LookupEvents throttled ...).
  - Sources - GuardDuty, CloudTrail, AWS Backup and AWS Config API References; "Severity levels for GuardDuty
    findings" (GuardDuty User Guide). See module_utils/ops_daily_checks.py.
options:
  check: {description: Which check., type: str, required: true, choices: [events, backup, config]}
  environment: {description: The environment (ops_environment); selects the previous check., type: str, required: true}
  evidence_dir:
    description: The ops-driver evidence folder; empty - no previous check is looked for.
    type: str
    default: ""
  window_hours: {description: Hours back without a previous check., type: int, default: 24}
  max_window_hours: {description: Never further back than this., type: int, default: 168}
  fail_level:
    description: A finding at or above this level fails the check.
    type: str
    default: high
    choices: [low, medium, high, critical]
  max_attempts: {description: Attempts of each call (botocore standard retry mode)., type: int, default: 5}
  guardduty_min_severity: {description: GuardDuty findings under this severity are left out., type: float, default: 4.0}
  notable_events:
    description:
      - CloudTrail lookups, each C({attribute, value, level, failures_only}) - I(attribute) a LookupEvents
        attribute key (EventName, Username, EventSource, ResourceType, ResourceName, ReadOnly, AccessKeyId);
        I(failures_only) keeps only failed console sign-ins (responseElements.ConsoleLogin Failure).
    type: list
    elements: dict
    default: []
  backup_plans:
    description: The plans of amazon.aws.backup_plan_info (backup_plan_id, backup_plan_name, last_execution_date).
    type: list
    elements: dict
    default: []
  backup_state_levels: {description: Level of a job in each state (not COMPLETED)., type: dict, default: {}}
  backup_missing_level:
    description: Level of a plan without a run in the window.
    type: str
    default: high
    choices: [low, medium, high, critical]
  config_resource_types:
    description: Config resource types whose changes are listed.
    type: list
    elements: str
    default: []
  config_change_levels: {description: Level of a change by resource type., type: dict, default: {}}
  config_change_level:
    description: Level of a change of a type not in I(config_change_levels).
    type: str
    default: low
    choices: [low, medium, high, critical]
  config_noncompliant_level:
    description: Level of a non-compliant rule.
    type: str
    default: medium
    choices: [low, medium, high, critical]
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: INFO-008 AWS Backup check
  aws_daily_check:
    check: backup
    environment: prod
    evidence_dir: /srv/ops/evidence
    backup_plans: "{{ plans.backup_plans }}"
"""

RETURN = r"""
findings:
  description: One per finding - check, source, level, time, resource, finding, detail, id; highest level first.
  returned: always
  type: list
verdict: {description: ok, findings or failed., returned: always, type: str}
window: {description: since, until (ISO 8601 UTC) and source of the window., returned: always, type: dict}
csv: {description: The findings as CSV., returned: always, type: str}
api_calls: {description: Calls made by API name., returned: always, type: dict}
"""

import datetime as dt

from ansible.module_utils.ops_daily_checks import (
    BACKUP_STATE_LEVELS,
    CHECKS,
    LEVELS,
    CheckError,
    backup_findings,
    cloudtrail_events,
    config_findings,
    guardduty_findings,
    iso,
    previous_check,
    sort_findings,
    summary,
    to_csv,
    verdict,
    window,
)
from ansible.module_utils.ops_refusal import fail_invalid
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

ARGUMENT_SPEC = dict(
    check=dict(type="str", required=True, choices=sorted(CHECKS)),
    environment=dict(type="str", required=True),
    evidence_dir=dict(type="str", default=""),
    window_hours=dict(type="int", default=24),
    max_window_hours=dict(type="int", default=168),
    fail_level=dict(type="str", default="high", choices=list(LEVELS)),
    max_attempts=dict(type="int", default=5),
    guardduty_min_severity=dict(type="float", default=4.0),
    notable_events=dict(type="list", elements="dict", default=[]),
    backup_plans=dict(type="list", elements="dict", default=[]),
    backup_state_levels=dict(type="dict", default={}),
    backup_missing_level=dict(type="str", default="high", choices=list(LEVELS)),
    config_resource_types=dict(type="list", elements="str", default=[]),
    config_change_levels=dict(type="dict", default={}),
    config_change_level=dict(type="str", default="low", choices=list(LEVELS)),
    config_noncompliant_level=dict(type="str", default="medium", choices=list(LEVELS)),
)
_ATTRIBUTES = ("EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource",
               "AccessKeyId")


def invalid(p):
    """The INVALID INPUT reason of parameters a run cannot use, None when they are usable."""
    if not 1 <= p["window_hours"] <= p["max_window_hours"] <= 2160:
        return "window_hours must be 1 to max_window_hours, max_window_hours at most 2160 (90 days)"
    if not 1 <= p["max_attempts"] <= 20:
        return "max_attempts must be 1 to 20"
    if not 0 <= p["guardduty_min_severity"] <= 10:
        return "guardduty_min_severity must be 0 to 10"
    for n in p["notable_events"]:
        if n.get("attribute") not in _ATTRIBUTES or not isinstance(n.get("value"), str) or not n["value"]:
            return "notable_events: each needs attribute (one of %s) and a value; got %r" % (", ".join(_ATTRIBUTES), n)
        if n.get("level", "medium") not in LEVELS:
            return "notable_events: level must be one of %s; got %r" % (", ".join(LEVELS), n.get("level"))
    for name in ("backup_state_levels", "config_change_levels"):
        bad = {k: v for k, v in p[name].items() if v not in LEVELS}
        if bad:
            return "%s: levels must be one of %s; got %r" % (name, ", ".join(LEVELS), bad)
    return None


def run(module, now):
    """Run the check of ``module.params``; returns the result dict (exits through the module)."""
    p = module.params
    reason = invalid(p)
    if reason:
        fail_invalid(module, reason)
    task = CHECKS[p["check"]]
    win = window(now, previous_check(p["evidence_dir"], task, p["environment"]), p["window_hours"],
                 p["max_window_hours"])
    config = {"retries": {"total_max_attempts": p["max_attempts"], "mode": "standard"}}  # the first call included
    calls = {}
    try:
        if p["check"] == "events":
            findings = guardduty_findings(module.client("guardduty", config=config), win["since"],
                                          p["guardduty_min_severity"], calls)
            findings += cloudtrail_events(module.client("cloudtrail", config=config), win["since"], win["until"],
                                          p["notable_events"], calls)
        elif p["check"] == "backup":
            findings = backup_findings(module.client("backup", config=config), win["since"], p["backup_plans"],
                                       {**BACKUP_STATE_LEVELS, **p["backup_state_levels"]},
                                       p["backup_missing_level"], calls,
                                       runs_since=now - dt.timedelta(hours=p["window_hours"]))
        else:
            findings = config_findings(module.client("config", config=config), win["since"], win["until"],
                                       p["config_resource_types"], p["config_change_levels"],
                                       p["config_change_level"], p["config_noncompliant_level"], calls)
    except CheckError as e:
        module.fail_json(msg="%s: %s; nothing was judged, check again" % (task, e), api=e.api, error_code=e.code,
                         api_calls=calls, findings=[], verdict="error",
                         window={"since": iso(win["since"]), "until": iso(win["until"]), "source": win["source"]})
    findings = sort_findings(findings)
    result = {"changed": False, "findings": findings, "api_calls": calls, "csv": to_csv(findings),
              "window": {"since": iso(win["since"]), "until": iso(win["until"]), "source": win["source"]}}
    result["verdict"], _ = verdict(findings, p["fail_level"])
    result["summary"] = summary(task, findings, p["fail_level"], win)
    return result


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = run(module, dt.datetime.now(dt.timezone.utc))
    if result["verdict"] == "failed":
        module.fail_json(msg=result["summary"], **result)
    if result["verdict"] == "findings":
        module.warn(result["summary"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
