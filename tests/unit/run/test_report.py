"""report.md: the head, each section renderer, the choice of sections by the evidence a run has, escaping."""

from __future__ import annotations

from typing import Any

import pytest

from ops_driver.catalog import load_catalog
from ops_driver.run import report
from ops_driver.run.contract import RunRecord
from tests.support import runs

CATALOG = load_catalog()


def _record(kind: str = "plan", evidence: dict[str, Any] | None = None, **kw: Any) -> RunRecord:
    """A run record of tests/support/runs.py; ``manifest`` replaces manifest keys, other keywords record fields."""
    keys = {"operator": "op", **({"evidence": evidence} if evidence is not None else {}), **kw.pop("manifest", {})}
    request = kw.pop("request", {"task": "INFO-005", "environment": "sandbox", "ticket": "REQ-1",
                                 "requested_by": "sato", "reason": "patching", "params": {"instances": ["joho-web01"]}})
    return runs.record(kind, "RUN-1", kw.pop("task", "INFO-005"), manifest_keys=keys, request=request, report="",
                       **kw)


def _section(shows: str) -> report.Section:
    return next(s for s in report.SECTIONS if s.shows == shows)


def test_plan_and_apply_titles() -> None:
    plan = report.render(_record("plan"))
    assert plan.startswith("# Plan (check mode, nothing changed): RUN-1\n")
    assert "Status: **planned** (exit 0)\n" in plan and "Plan: `" not in plan
    apply = report.render(_record("apply"))
    assert apply.startswith("# Apply (real run): RUN-1\n") and "Plan: `PLAN-1`\n" in apply
    assert f"**INFO-005** {CATALOG.get('INFO-005').name_ja} — {CATALOG.get('INFO-005').name_en}" in apply


def test_cells_escape_pipes_and_newlines_and_show_empty_as_a_dash() -> None:
    assert report._cell("a|b\nc") == "a\\|b c"
    assert report._cell(None) == "—" and report._cell("") == "—"
    assert report._cell({"b": 2, "a": "x|y"}) == "a=x\\|y, b=2"
    assert report._cell(["x", 1]) == "x, 1"
    assert report.brief({"state": "stopped"}) == "stopped" and report.brief({"a": 1, "b": 2}) == "a=1, b=2"
    text = report.render(_record(request={"task": "INFO-005", "reason": "one | two\nthree"}))
    assert "| reason | one \\| two three |" in text


def test_work_request_table_parameters_and_change_class() -> None:
    text = report.render(_record())
    assert "## Work request\n\n| field | value |\n|---|---|\n| task | INFO-005 |" in text
    assert "| change class | standard |" in text and "emergency reason" not in text
    assert '```json\n{\n  "instances": [\n    "joho-web01"\n  ]\n}\n```' in text
    raised = report.render(_record(manifest={"change_class": "emergency", "change_class_catalog": "standard",
                                             "emergency_reason": "outage"}))
    assert "| change class | emergency (raised by the work request; standard in the catalog) |" in raised
    assert "| emergency reason | outage |" in raised


def test_schedule_line() -> None:
    sched = {"name": "dedicated_host_reboot", "scheduled": False, "emergency": True, "today": "2026-05-10",
             "today_source": "OPS_TODAY", "scheduled_date": "2026-05-09", "reason": "vendor fix"}
    text = report.render(_record(manifest={"schedule": sched}))
    assert ("Schedule `dedicated_host_reboot`: **EMERGENCY** (not the scheduled day); today 2026-05-10 (OPS_TODAY), "
            "scheduled 2026-05-09; reason: vendor fix\n") in text


def test_targets_section_table_or_why_there_is_none() -> None:
    targets = [{"instance_id": "i-1", "name": "joho-web01", "environment": "sandbox", "state": "running"}]
    sec = _section("targets")
    assert sec.render(_record(targets=targets)) == (
        "\n## Targets\n\n| instance | name | environment | state at start |\n|---|---|---|---|\n"
        "| i-1 | joho-web01 | sandbox | running |\n")
    failed = _record(failures=[{"host": "h", "task": "t", "msg": "INVALID INPUT: x"}])
    assert sec.render(failed) == "\n## Targets\n\nNone resolved (see failures below).\n"
    assert "No EC2 instance" in sec.render(_record())


def test_changes_section_counts_and_rows() -> None:
    changes = [{"host": "h", "resource": "r/1", "name": "web", "action": "stop", "before": {"state": "running"},
                "after": {"state": "stopped"}, "changed": True},
               {"host": "h", "resource": "r/2", "name": "", "action": "none", "before": None, "after": None,
                "changed": False}]
    sec = _section("changes")
    plan = sec.render(_record(changes=changes))
    assert plan.startswith("\n## Changes: 1 resource(s) would change, 1 unchanged\n\n")
    assert "| h | r/1 | web | stop | state=running | state=stopped | yes |" in plan
    assert "| h | r/2 | — | none | — | — | no |" in plan
    assert "## Changes: 1 resource(s) changed, 1 unchanged" in sec.render(_record("apply", changes=changes))
    assert sec.render(_record()) == "\n## Changes: 0 resource(s) would change, 0 unchanged\n\nNo change recorded.\n"


def test_steps_section_is_there_only_with_steps() -> None:
    sec = _section("evidence.steps")
    assert sec.render(_record(evidence={"steps": ["stop web", "poll"]})) == (
        "\n## Steps that would run\n\n1. stop web\n2. poll\n")
    assert sec.render(_record("apply", evidence={"steps": ["stop web"]})).startswith("\n## Steps run\n\n")
    for evidence in (None, {}, {"steps": []}, {"steps": "not a list"}):
        assert sec.render(_record(evidence=evidence)) == ""


ESA = {"esa-comm-sandbox01": {
    "operation": "change", "listener": "IncomingMail", "appliance": "127.0.0.1:2201", "round_trips": 6,
    "committed": "commit: REQ-1 COMM-025", "restore": {"summary": "3 entries put back, verified"},
    "groups": {"WHITELIST": {"before": 2, "after": 3, "add": ["203.0.113.25"], "delete": [],
                             "already_present": ["192.0.2.1"], "not_in_desired": ["198.51.100.7"]},
               "BLACKLIST": {"before": 1, "after": 1}}}}


def test_esa_section() -> None:
    sec = _section("evidence.esa")
    text = sec.render(_record(evidence={"esa": ESA}))
    assert text.startswith("\n## ESA sender groups\n\n| appliance | sender group | entries before | entries after | "
                           "add | delete | reported |\n")
    assert "| esa-comm-sandbox01 | IncomingMail/BLACKLIST | 1 | 1 | - | - | - |" in text
    assert ("| esa-comm-sandbox01 | IncomingMail/WHITELIST | 2 | 3 | 203.0.113.25 | - | already there, not added: "
            "192.0.2.1; on the appliance, not in the desired state: 198.51.100.7 |") in text
    assert text.index("IncomingMail/BLACKLIST") < text.index("IncomingMail/WHITELIST")
    assert ("\nesa-comm-sandbox01 (127.0.0.1:2201): change, 6 CLI round trips; commit: REQ-1 COMM-025; "
            "**restore after failure**: 3 entries put back, verified\n") in text
    assert "| added | deleted |" in sec.render(_record("apply", evidence={"esa": ESA}))
    assert sec.render(_record(evidence={"esa": {}})) == "" == sec.render(_record(evidence={"esa": ["x"]}))


def test_attachments_comparison_warnings_failures() -> None:
    assert _section("manifest.attachments").render(_record(manifest={"attachments": ["attachment-a.csv"]})) == (
        "\n## Attachments\n\n- `attachment-a.csv`\n")
    assert _section("manifest.attachments").render(_record()) == ""
    comp = {"matched": ["r/1"], "unpredicted": ["r|2"], "not_done": []}
    assert _section("comparison").render(_record("apply", comparison=comp)) == (
        "\n## Compared with the plan\n\n- predicted and done: 1\n- done but **not predicted**: 1 r\\|2\n"
        "- predicted but **not done**: 0 —\n")
    assert _section("comparison").render(_record("apply")) == ""
    assert _section("warnings").render(_record()) == "\n## Warnings\n\nNone.\n"
    assert _section("warnings").render(_record(warnings=["reboots"])) == "\n## Warnings\n\n- **reboots**\n"
    failures = [{"host": "h", "task": "t", "msg": "boom"}]
    assert _section("failures").render(_record(failures=failures)) == "\n## Failures\n\n- h: t: boom\n"
    assert _section("failures").render(_record()) == ""


def test_skipped_tasks_only_in_a_plan() -> None:
    skipped = [{"task": "Stop", "reason": "check mode"}, {"task": "Stop", "reason": "check mode"}, {"task": "Poll"}]
    sec = _section("skipped")
    assert sec.render(_record(skipped=skipped)) == (
        "\n## Tasks skipped in check mode\n\n- Poll (skipped)\n- Stop (check mode)\n")
    assert sec.render(_record()) == "\n## Tasks skipped in check mode\n\nNone.\n"
    assert sec.render(_record("apply", skipped=skipped)) == ""


def test_render_is_the_head_and_the_sections_in_order() -> None:
    record = _record("apply", evidence={"steps": ["a"], "esa": ESA}, comparison={"matched": [], "unpredicted": [],
                                                                                  "not_done": []},
                     failures=[{"host": "h", "task": "t", "msg": "m"}], manifest={"attachments": ["attachment-x"]})
    text = report.render(record)
    assert text == report._head(record) + "".join(s.render(record) for s in report.SECTIONS)
    order = ["## Work request", "## Targets", "## Changes", "## Steps run", "## ESA sender groups", "## Attachments",
             "## Compared with the plan", "## Warnings", "## Failures"]
    assert [text.index(h) for h in order] == sorted(text.index(h) for h in order)


@pytest.mark.parametrize("shows", [s.shows for s in report.SECTIONS])
def test_every_section_names_evidence_a_record_has(shows: str) -> None:
    _record().lookup(shows)  # an attribute, or evidence.<key> / manifest.<key>: never an AttributeError
