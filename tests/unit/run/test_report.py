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


# ---------------------------------------------------------------- the night operator's report (#29)

def test_times_are_in_jst_with_the_offset_and_the_recorded_utc() -> None:
    text = report.render(_record())
    assert "| started | 2026-11-22 09:00:00 JST (+09:00) / 2026-11-22T00:00:00Z |" in text
    assert report.when("not a time") == "not a time" and report.when(None) == ""


def test_guards_that_passed_are_checks_passed_not_skipped_tasks() -> None:
    skipped = [{"task": "Refuse targets that are unknown, ambiguous or of another environment",
                "reason": "Conditional result was False"}, {"task": "Stop the instances", "reason": "check mode"}]
    text = report.render(_record(skipped=skipped))
    checks = text.split("## Checks passed\n\n")[1]
    assert checks.startswith("- passed: Refuse targets that are unknown, ambiguous or of another environment\n")
    skipped_part = text.split("## Tasks skipped in check mode\n\n")[1].split("\n## ")[0]
    assert skipped_part == "- Stop the instances (check mode)\n"
    assert "## Checks passed" not in report.render(_record(skipped=skipped[1:]))


def test_files_leaving_production_with_size_hash_and_personal_data() -> None:
    evidence = {"direction": "prod_to_maint", "personal_data": True, "encryption": "aes256",
                "manifests": {"nas-sandbox": {"source": {"a.csv": "aa" * 32, "b.csv": "bb" * 32}, "dest": {},
                                              "files": [{"rel": "a.csv", "size": 10, "sha256": "aa" * 32},
                                                        {"rel": "b.csv", "size": 32, "sha256": "bb" * 32}]}}}
    text = report.render(_record(evidence=evidence, task="STAT-011"))
    assert "## Files leaving production: 2 file(s), 42 bytes" in text
    assert "Direction prod_to_maint; **holds personal data** (seed 004: encrypted: aes256)." in text
    assert f"| nas-sandbox | a.csv | 10 | {'aa' * 32} |" in text
    assert f"| nas-sandbox | b.csv | 32 | {'bb' * 32} |" in text
    back = {**evidence, "direction": "maint_to_prod", "personal_data": False, "personal_data_reason": "code only"}
    text = report.render(_record(evidence=back, task="STAT-012"))
    assert "## Files transferred: 2 file(s)" in text and "holds no personal data (reason: code only)" in text


def test_a_plan_with_no_change_or_read_only_has_nothing_to_apply() -> None:
    assert "nothing to apply (the plan predicts no change)" in report.render(_record())
    assert "a read-only operation" in report.render(_record(manifest={"read_only": True}))
    changing = _record(changes=[{"host": "h", "resource": "r", "action": "stop", "changed": True}])
    assert "apply after this fresh plan" in report.render(changing)


def test_the_window_and_the_class_floor_in_the_plan() -> None:
    window = {"text": "2026-12-08T02:00+09:00/PT2H", "start": "2026-12-07T17:00:00Z", "end": "2026-12-07T19:00:00Z"}
    text = report.render(_record(manifest={"window": window, "change_class": "minor", "approvals_required": 1,
                                           "change_class_floor": "minor", "change_class_catalog": "standard",
                                           "environment": "prod"}))
    assert ("| maintenance window | 2026-12-08 02:00:00 JST (+09:00) / 2026-12-07T17:00:00Z to 2026-12-08 04:00:00 "
            "JST (+09:00) / 2026-12-07T19:00:00Z (2026-12-08T02:00+09:00/PT2H)") in text
    assert "`ops-driver apply RUN-1 --at-window` waits for it" in text
    assert "| change class | minor (the class floor of prod in policy/change.yml; standard in the catalog) |" in text
    assert "every change in prod is at least **minor**" in text


@pytest.mark.parametrize(("manifest", "changed", "said"), [
    ({}, True, "apply with: ops-driver apply RUN-1"),
    ({}, False, "the plan predicts no change: nothing to apply"),
    ({"read_only": True}, False, "a read-only operation: this plan is its record; nothing to apply"),
    ({"window": {"start_jst": "2026-12-08T02:00+09:00", "end_jst": "2026-12-08T04:00+09:00"}}, True,
     "maintenance window 2026-12-08T02:00+09:00 to 2026-12-08T04:00+09:00: apply inside it, or let a timer run: "
     "ops-driver apply RUN-1 --at-window"),
])
def test_the_plans_last_line_says_what_to_do(manifest: dict[str, Any], changed: bool, said: str) -> None:
    from pathlib import Path

    from ops_driver.cli import _outcome_text
    from ops_driver.run.pipeline import Outcome

    changes = [{"host": "h", "resource": "r", "action": "stop", "changed": changed}]
    out = Outcome(run_id="RUN-1", path=Path("/e/RUN-1"), kind="plan", status="planned", exit_code=0,
                  changes=changes, message="", manifest={"change_class": "standard", **manifest})
    text = _outcome_text(out)
    assert text.endswith(said) and ("apply with:" in text) is (said.startswith("apply with"))
