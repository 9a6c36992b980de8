"""module_utils/ops_daily_checks.py: the AWS daily checks' window, findings, levels, verdict and CSV (stub clients)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import ops_daily_checks as c
from botocore.exceptions import ClientError

from ops_sandbox import aws_seeded as seeded

NOW = dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def _manifest(d: Path, run_id: str, **m: Any) -> None:
    (d / run_id).mkdir(parents=True)
    (d / run_id / "manifest.json").write_text(json.dumps(m))


def test_previous_check_is_the_newest_successful_bundle_of_the_task_and_environment(tmp_path: Path) -> None:
    assert c.previous_check(str(tmp_path / "none"), "INFO-008", "prod") is None
    base = {"task": "INFO-008", "environment": "prod"}
    _manifest(tmp_path, "20261205T000000Z-INFO-008-plan-aaaaaa", status="planned", started_at="2026-12-05T00:00:00Z",
              **base)
    _manifest(tmp_path, "20261206T000000Z-INFO-008-plan-bbbbbb", status="failed", started_at="2026-12-06T00:00:00Z",
              **base)
    _manifest(tmp_path, "20261206T010000Z-INFO-008-plan-cccccc", status="planned",
              started_at="2026-12-06T01:00:00Z", task="INFO-008", environment="dr")
    _manifest(tmp_path, "20261206T020000Z-INFO-007-plan-dddddd", status="planned",
              started_at="2026-12-06T02:00:00Z", task="INFO-007", environment="prod")
    (tmp_path / "20261206T030000Z-INFO-008-plan-eeeeee").mkdir()  # no manifest (a run still going)
    assert c.previous_check(str(tmp_path), "INFO-008", "prod") == dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    assert c.previous_check(str(tmp_path), "INFO-008", "dr") == dt.datetime(2026, 12, 6, 1, tzinfo=dt.UTC)


def test_window_since_the_previous_check_or_24_h_never_past_the_limit() -> None:
    w = c.window(NOW, None)
    assert (w["since"], w["source"]) == (NOW - 24 * H, "last 24 h")
    w = c.window(NOW, NOW - 3 * H)
    assert (w["since"], w["source"]) == (NOW - 3 * H, "previous successful check")
    w = c.window(NOW, NOW - 30 * 24 * H, max_window_hours=168)
    assert w["since"] == NOW - 168 * H and "limited" in w["source"]


@pytest.mark.parametrize(("severity", "level"), [(1.0, "low"), (3.9, "low"), (4.0, "medium"), (6.9, "medium"),
                                                 (7.0, "high"), (8.9, "high"), (9.0, "critical")])
def test_guardduty_levels_are_guardduty_ranges(severity: float, level: str) -> None:
    assert c.guardduty_level(severity) == level


class Stub:
    """A boto3 client stub: ``answers[method]`` is a list of pages (or an exception to raise); calls recorded."""

    def __init__(self, **answers: Any):
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(**kw: Any) -> Any:
            self.calls.append((name, kw))
            pages = self.answers[name]
            if isinstance(pages, Exception):
                raise pages
            return pages.pop(0) if len(pages) > 1 else pages[0]
        return call


def test_guardduty_findings_in_the_window_over_the_threshold_paged() -> None:
    f_hi = seeded.guardduty_finding("f-hi", 7.5, NOW - H)
    f_mid = seeded.guardduty_finding("f-mid", 4.5, NOW - 2 * H)
    f_old = seeded.guardduty_finding("f-old", 8.0, NOW - 30 * H)
    gd = Stub(list_detectors=[{"DetectorIds": ["d1"]}],
              list_findings=[{"FindingIds": ["f-hi"], "NextToken": "t"}, {"FindingIds": ["f-mid", "f-old"]}],
              get_findings=[{"Findings": [f_hi, f_mid, f_old]}])
    calls: dict[str, int] = {}
    rows = c.guardduty_findings(gd, NOW - 24 * H, 4.5, calls)
    assert [(r["id"], r["level"]) for r in rows] == [("f-hi", "high"), ("f-mid", "medium")]
    assert calls == {"GuardDuty ListDetectors": 1, "GuardDuty ListFindings": 2, "GuardDuty GetFindings": 1}
    crit = gd.calls[1][1]["FindingCriteria"]["Criterion"]
    assert crit["updatedAt"]["GreaterThanOrEqual"] == int((NOW - 24 * H).timestamp() * 1000)
    assert gd.calls[2][1]["NextToken"] == "t"


def test_cloudtrail_one_lookup_per_notable_event_failures_only_for_sign_in() -> None:
    ok = seeded.cloudtrail_event("e1", "ConsoleLogin", NOW - H, "ops-a")
    bad = seeded.cloudtrail_event("e2", "ConsoleLogin", NOW - H, "ops-b", failure=True)
    stop = seeded.cloudtrail_event("e3", "StopLogging", NOW - H, "ops-c")
    ct = Stub(lookup_events=[{"Events": [ok, bad]}, {"Events": [stop]}])
    notable = [{"attribute": "EventName", "value": "ConsoleLogin", "level": "medium", "failures_only": True},
               {"attribute": "EventName", "value": "StopLogging", "level": "high"}]
    rows = c.cloudtrail_events(ct, NOW - 24 * H, NOW, notable, {})
    assert [(r["id"], r["level"]) for r in rows] == [("e2", "medium"), ("e3", "high")]
    assert [kw["LookupAttributes"] for _, kw in ct.calls] == [
        [{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}],
        [{"AttributeKey": "EventName", "AttributeValue": "StopLogging"}]]


def test_backup_jobs_not_completed_and_plans_without_a_run() -> None:
    jobs = [seeded.backup_job("j1", "FAILED", NOW - H, "p1", message="denied"),
            seeded.backup_job("j2", "COMPLETED", NOW - 2 * H, "p1"),
            seeded.backup_job("j3", "RUNNING", NOW - H, "p2")]
    bk = Stub(list_backup_jobs=[{"BackupJobs": jobs}])
    plans = [{"backup_plan_id": "p1", "backup_plan_name": "a"}, {"backup_plan_id": "p2", "backup_plan_name": "b"},
             {"backup_plan_id": "p3", "backup_plan_name": "c", "last_execution_date": c.iso(NOW - 2 * H)},
             {"backup_plan_id": "p4", "backup_plan_name": "d", "last_execution_date": c.iso(NOW - 48 * H)},
             {"backup_plan_id": "p5", "backup_plan_name": "e"}]
    rows = c.backup_findings(bk, NOW - 24 * H, plans, c.BACKUP_STATE_LEVELS, "high", {})
    got = {(r["id"], r["level"], r["finding"]) for r in rows}
    assert got == {("j1", "high", "backup job FAILED"), ("j3", "low", "backup job RUNNING"),
                   ("p4", "high", "backup plan d: no run since 2026-12-06T00:00:00Z"),
                   ("p5", "high", "backup plan e: no run since 2026-12-06T00:00:00Z")}
    # a check an hour after the previous one: jobs of that hour only, plans judged on the last 24 h
    bk = Stub(list_backup_jobs=[{"BackupJobs": jobs}])
    rows = c.backup_findings(bk, NOW - H, plans, c.BACKUP_STATE_LEVELS, "high", {}, runs_since=NOW - 24 * H)
    assert {r["id"] for r in rows} == {"j1", "j3", "p4", "p5"}
    assert bk.calls[0][1]["ByCreatedAfter"] == NOW - 24 * H
    rows = c.backup_findings(Stub(list_backup_jobs=[{"BackupJobs": jobs}]), NOW - H / 2, plans,
                             c.BACKUP_STATE_LEVELS, "high", {}, runs_since=NOW - 24 * H)
    assert {r["id"] for r in rows} == {"p4", "p5"}  # the failed job was reported by the previous check


def test_config_changes_and_non_compliant_rules() -> None:
    sg = "sg-1"
    cf = Stub(list_discovered_resources=[{"resourceIdentifiers": [{"resourceId": sg, "resourceType": "x"}]}],
              get_resource_config_history=[{"configurationItems": [seeded.security_group_change(sg, NOW - H)]}],
              describe_compliance_by_config_rule=[{"ComplianceByConfigRules": [
                  {"ConfigRuleName": "restricted-ssh", "Compliance": {"ComplianceType": "NON_COMPLIANT"}}]}])
    rows = c.config_findings(cf, NOW - 24 * H, NOW, ["AWS::EC2::SecurityGroup"],
                             {"AWS::EC2::SecurityGroup": "medium"}, "low", "high", {})
    assert [(r["level"], r["resource"], r["id"]) for r in rows] == [
        ("medium", "AWS::EC2::SecurityGroup sg-1", seeded.security_group_change(sg, NOW - H)["configurationStateId"]),
        ("high", "restricted-ssh", "restricted-ssh")]
    hist = cf.calls[1][1]
    assert (hist["earlierTime"], hist["laterTime"]) == (NOW - 24 * H, NOW)


@pytest.mark.parametrize(("code", "word"), [("ThrottlingException", "throttled"),
                                            ("AccessDeniedException", "denied"), ("InternalFailure", "failed")])
def test_an_api_error_names_the_api(code: str, word: str) -> None:
    err = ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "LookupEvents")
    ct = Stub(lookup_events=err)
    with pytest.raises(c.CheckError) as e:
        c.cloudtrail_events(ct, NOW - H, NOW, [{"attribute": "EventName", "value": "StopLogging"}], {})
    assert str(e.value).startswith(f"CloudTrail LookupEvents {word}: Rate exceeded ({code})")
    assert e.value.api == "CloudTrail LookupEvents"


def test_verdict_and_summary() -> None:
    low = c._row("INFO-008", "backup", "low", c.iso(NOW), "r1", "job RUNNING", "", "j1")
    high = c._row("INFO-008", "backup", "high", c.iso(NOW), "r2", "job FAILED", "", "j2")
    win = c.window(NOW, None)
    assert c.verdict([], "high") == ("ok", [])
    assert c.verdict([low], "high") == ("findings", [])
    assert c.verdict([low, high], "high") == ("failed", [high])
    assert c.verdict([low], "low")[0] == "failed"
    assert c.summary("INFO-008", [], "high", win) == "INFO-008: no finding since 2026-12-06T00:00:00Z (last 24 h)"
    text = c.summary("INFO-008", c.sort_findings([low, high]), "high", win)
    assert text.endswith(": 1 high, 1 low; at or above high: r2 job FAILED")


def test_csv_has_the_columns_and_no_formula() -> None:
    row = c._row("INFO-007", "cloudtrail", "medium", c.iso(NOW), "=HYPERLINK(\"x\")", "@SUM(A1)", "-1+1", "id,1")
    text = c.to_csv([row])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(c.COLUMNS)
    assert rows[1][4:8] == ["'=HYPERLINK(\"x\")", "'@SUM(A1)", "'-1+1", "id,1"]
