"""The monthly record (ops_driver/records: monthly.py, render.py, html.py) over a month of real bundles."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ops_driver.cli import main
from ops_driver.evidence import ledger
from ops_driver.records import html, monthly, render
from tests.support import evidence_month

TODAY = dt.date(2026, 12, 3)


@pytest.fixture()
def november(_scratch_dirs: Path, signers: Any) -> dict[str, str]:
    return evidence_month.november(_scratch_dirs, signers)


def collect(base: Path, **kw: object) -> monthly.Record:
    return monthly.collect(2026, 11, base=base, today=kw.pop("today", TODAY), **kw)  # type: ignore[arg-type]


def test_every_run_of_the_tokyo_month_is_a_row_in_time_order(november: dict[str, str], _scratch_dirs: Path) -> None:
    rec = collect(_scratch_dirs)
    ids = [r.run_id for r in rec.runs]
    assert november["october"] not in ids and november["december"] not in ids  # 23:30 on 10-31, 00:30 on 12-01
    assert ids[0] == november["stat001_02"] and ids[-1] == november["last_day"]  # 11-01 23:00Z is 11-02 in Tokyo
    assert len(ids) == 14
    first = rec.runs[0]
    assert (first.date, first.time, first.started_at) == ("2026-11-02", "08:00", "2026-11-01T23:00:00Z")
    assert rec.runs[-1].date == "2026-11-30" and rec.runs[-1].time == "23:30"


def test_a_row_holds_who_did_what_and_who_approved_it(november: dict[str, str], _scratch_dirs: Path) -> None:
    rows = {r.run_id: r for r in collect(_scratch_dirs).runs}
    plan, apply = rows[november["stop_plan"]], rows[november["stop_apply"]]
    assert (plan.kind, plan.task, plan.task_name_ja, plan.environment, plan.ticket, plan.requested_by,
            plan.operator, plan.change_class, plan.status, plan.exit_code, plan.outcome) == (
        "plan", "INFO-005", "システム起動/停止 / インスタンス停止", "sandbox", "REQ-INFO-005-1102", "sato", "tanaka",
        "minor", "planned", 0, "planned")
    assert plan.disposition == "applied" and plan.changed == 0 and plan.resources == [] and plan.would_change == 2
    assert plan.approvers == ["yamada"] and apply.approvers == ["yamada"]  # an apply shows its plan's approvers
    assert apply.changed == 2 and apply.resources == ["aws-sandbox ec2:instance/i-0a i-0a",
                                                      "aws-sandbox ec2:instance/i-0b i-0b"]
    assert apply.plan_id == november["stop_plan"] and apply.verified and apply.problems == []
    assert rows[november["emergency_ok"]].approvers == ["suzuki (after the fact)"]
    assert rows[november["emergency"]].emergency_reason == "DB hung at 02:00"


def test_failures_and_refusals(november: dict[str, str], _scratch_dirs: Path) -> None:
    rec = collect(_scratch_dirs)
    assert [(r.run_id, r.outcome, r.exit_code) for r in rec.failures] == [
        (november["failed"], "failed", 3), (november["refused"], "refused", 4), (november["invalid"], "invalid", 2)]
    assert rec.failures[0].message == "INFO-004 failed"


def test_a_bundle_that_fails_verification_is_listed_unverified_never_dropped(november: dict[str, str],
                                                                              _scratch_dirs: Path) -> None:
    rec = collect(_scratch_dirs)
    bad = {r.run_id: r.problems for r in rec.unverified}
    assert bad == {november["altered"]: ["report.md: altered (SHA-256 differs from manifest.json)"],
                   november["unrecorded"]: ["bundle not in the ledger (added outside ops-driver)"]}
    assert rec.ledger["present"] and rec.ledger["problems"] == [] and rec.ledger["lines"] == 17


def test_an_unverified_apply_never_counts_as_done(_scratch_dirs: Path) -> None:
    base = _scratch_dirs
    good = evidence_month.run(base, "apply", "STAT-013", dt.datetime(2026, 11, 2, 1, tzinfo=dt.UTC),
                              environment="prod")
    assert next(d for d in collect(base).due if d.task == "STAT-013").state == "done"
    (base / good / "stdout.txt").write_text("changed\n", encoding="utf-8")
    rec = collect(base)
    assert next(d for d in rec.due if d.task == "STAT-013").state == "missed"
    assert [r.run_id for r in rec.unverified] == [good] and rec.summary()["changed"] == 0


def test_a_bundle_without_a_readable_manifest_is_a_row_dated_by_its_run_id(_scratch_dirs: Path) -> None:
    base = _scratch_dirs
    rid = evidence_month.run(base, "plan", "INFO-004", dt.datetime(2026, 11, 5, 3, tzinfo=dt.UTC))
    (base / rid / "manifest.json").write_text("{not json", encoding="utf-8")
    [row] = collect(base).runs
    assert (row.run_id, row.kind, row.date, row.status, row.verified) == (rid, None, "2026-11-05", "unreadable",
                                                                          False)
    assert any("manifest.json unreadable" in p for p in row.problems)


def test_without_a_ledger_bundles_are_checked_against_their_own_manifests(_scratch_dirs: Path) -> None:
    (_scratch_dirs / "ledger.jsonl").unlink()  # a copy of bundles without their store's ledger
    evidence_month.run(_scratch_dirs, "plan", "INFO-004", dt.datetime(2026, 11, 5, 3, tzinfo=dt.UTC), record=False)
    rec = collect(_scratch_dirs)
    assert rec.ledger["present"] is False and [r.verified for r in rec.runs] == [True]
    assert "no ledger.jsonl: bundles were checked against their own manifests only" in render.provenance(rec)


def test_totals_per_task_and_per_environment(november: dict[str, str], _scratch_dirs: Path) -> None:
    rec = collect(_scratch_dirs)
    by_task = {t["task"]: t for t in rec.by_task}
    assert by_task["INFO-005"] == {"task": "INFO-005", "name_ja": "システム起動/停止 / インスタンス停止", "runs": 4,
                                   "plans": 2, "applies": 2, "ok": 1, "invalid": 1, "failed": 0, "refused": 1,
                                   "unverified": 0, "changed": 2}
    assert by_task["INFO-004"]["runs"] == 4 and by_task["INFO-004"]["failed"] == 1
    assert by_task["INFO-004"]["unverified"] == 2
    assert by_task["INFO-004"]["changed"] == 1  # what a failed apply did change, it changed
    by_env = {t["environment"]: t for t in rec.by_environment}
    assert [t["environment"] for t in rec.by_environment] == ["prod", "sandbox"]
    assert (by_env["prod"]["runs"], by_env["sandbox"]["runs"]) == (6, 8)
    s = rec.summary()
    # "ok" only for applies that succeeded (#29): the plans that ended with exit 0 are "planned"
    assert (s["runs"], s["plans"], s["applies"], s["ok"], s["failed"], s["refused"], s["invalid"]) == (
        14, 6, 8, 11 - sum(1 for r in rec.runs if r.kind == "plan" and r.exit_code == 0), 1, 1, 1)
    assert s["changed"] == 4  # 2 by the stop, 1 by the failed start, 1 by the first emergency reboot


def test_emergency_changes_pending_approval(november: dict[str, str], _scratch_dirs: Path) -> None:
    rec = collect(_scratch_dirs)
    assert [(p["run_id"], p["approvals"], p["needed"], p["this_month"]) for p in rec.pending] == [
        (november["emergency"], 0, 1, True)]
    assert rec.pending[0]["emergency_reason"] == "DB hung at 02:00" and rec.pending[0]["operator"] == "kato"


def test_an_emergency_of_an_earlier_month_still_pending_is_listed(_scratch_dirs: Path) -> None:
    old = evidence_month.run(_scratch_dirs, "apply", "INFO-006", dt.datetime(2026, 10, 20, 3, tzinfo=dt.UTC),
                             environment="prod", change_class="emergency", emergency_reason="disk full")
    rec = collect(_scratch_dirs)
    assert rec.runs == [] and [(p["run_id"], p["this_month"], p["date"]) for p in rec.pending] == [
        (old, False, "2026-10-20")]
    assert rec.pending[0]["emergency_reason"] == "disk full" and rec.pending[0]["environment"] == "prod"
    assert collect(_scratch_dirs, environment="sandbox").pending == []
    assert "(an earlier month)" in render.markdown(rec)


def test_recurring_automated_tasks_due_as_of_the_month_end(november: dict[str, str], _scratch_dirs: Path) -> None:
    rec = collect(_scratch_dirs)
    got = {(d.task, d.environment, d.days[0]): d for d in rec.due}
    assert got[("STAT-013", "prod", "2026-11-02")].state == "done"
    assert got[("STAT-013", "prod", "2026-11-02")].runs == [november["stat013"]]
    assert got[("STAT-001", "prod", "2026-11-02")].state == "done"
    assert got[("STAT-001", "prod", "2026-11-04")].state == "done"
    assert got[("STAT-001", "prod", "2026-11-05")].state == "missed"  # a plan is not a run of the check
    assert got[("CORE-012", "prod", "2026-11-02")].state == "missed"
    assert {e for (t, e, _) in got if t == "CORE-049"} == {"prod", "dr", "maint", "sandbox"}
    assert got[("CORE-049", "prod", "2026-11-14")].state == "missed"
    stat001 = [d for d in rec.due if d.task == "STAT-001"]
    assert len(stat001) == 19 and sum(d.state == "done" for d in stat001) == 2
    # 25 due tasks and the AWS daily checks INFO-007 and INFO-008 on each of the 19 business days; 3 done
    assert rec.summary()["missed"] == 25 + 2 * 19 - 3


def test_late_open_and_upcoming(_scratch_dirs: Path) -> None:
    base = _scratch_dirs
    utc = lambda d, h=0: dt.datetime(2026, 11, d, h, tzinfo=dt.UTC)  # noqa: E731
    evidence_month.run(base, "apply", "STAT-013", utc(4), environment="prod")  # due the 2nd: late
    evidence_month.run(base, "apply", "STAT-001", utc(6), environment="prod")  # the 6th's, not the 5th's
    evidence_month.run(base, "apply", "CORE-012", utc(3), environment="sandbox")  # another environment
    rec = collect(base, today=dt.date(2026, 11, 6))
    got = {(d.task, d.days[0]): d.state for d in rec.due if d.environment == "prod"}
    assert got[("STAT-013", "2026-11-02")] == "late"
    assert got[("STAT-001", "2026-11-05")] == "missed" and got[("STAT-001", "2026-11-06")] == "done"
    assert got[("STAT-001", "2026-11-09")] == "upcoming"
    assert got[("CORE-012", "2026-11-02")] == "open"  # by the end of the month
    sandbox = monthly.collect(2026, 11, base=base, environment="sandbox", today=dt.date(2026, 11, 6))
    assert next(d for d in sandbox.due if d.task == "CORE-012").state == "done"
    assert {d.environment for d in sandbox.due} == {"sandbox"}
    assert [r.task for r in sandbox.runs] == ["CORE-012"]  # only the environment's runs


def test_an_empty_month_is_an_empty_record_that_says_so(_scratch_dirs: Path) -> None:
    rec = collect(_scratch_dirs)
    assert rec.runs == [] and rec.by_task == [] and rec.pending == []
    text = render.markdown(rec)
    assert f"No plan or apply in 2026-11 (Asia/Tokyo) in {_scratch_dirs}." in text
    assert "## Recurring tasks due" in text and "MISSED" in text


def test_markdown_has_every_section(november: dict[str, str], _scratch_dirs: Path) -> None:
    text = render.markdown(collect(_scratch_dirs))
    for heading in ("# Record of work 2026-11", "## Summary", "## Runs", "## Totals per task",
                    "## Totals per environment", "## Failures and refusals", "## Unverified bundles",
                    "## Emergency changes pending approval", "## Recurring tasks due"):
        assert f"\n{heading}\n" in f"\n{text}"
    assert "| 2026-11-02 | 09:10 | INFO-005 | システム起動/停止 / インスタンス停止 | sandbox | plan |" in text
    assert f"- `{november['altered']}`: report.md: altered" in text
    assert "14 run(s) in 2026-11 (all environments): 6 plan(s), 8 apply(s)" in text
    assert "- MISSED: STAT-001 始業確認 (prod) due 11-05, 11-06, 11-09," in text
    assert "- MISSED: CORE-049 Dedicated Host 再起動 (dr) due 11-21\n" in text


def test_csv_is_utf8_with_bom_one_row_per_run(november: dict[str, str], _scratch_dirs: Path) -> None:
    rec = collect(_scratch_dirs)
    data = render.render(rec, "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 14 and rows[0]["date"] == "2026-11-02" and rows[0]["name"] == "始業確認"
    stop = next(r for r in rows if r["run_id"] == november["stop_apply"])
    assert stop["approvers"] == "yamada" and stop["changed"] == "2" and stop["verified"] == "yes"
    assert stop["resources"] == "aws-sandbox ec2:instance/i-0a i-0a; aws-sandbox ec2:instance/i-0b i-0b"
    altered = next(r for r in rows if r["run_id"] == november["altered"])
    assert altered["verified"] == "no" and "report.md: altered" in altered["problems"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_one_self_contained_page(november: dict[str, str], _scratch_dirs: Path) -> None:
    text = html.page(collect(_scratch_dirs))
    parser = _Page()
    parser.feed(text)
    tags = parser.tags
    assert not [t for t, a in tags if t in ("link", "img", "iframe", "object", "embed") or "src" in a]
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": html.CSP}) in tags
    assert "default-src 'none'" in html.CSP
    assert "https://" not in text and text.count("http://") == 1  # the SVG namespace only, never fetched
    runs = [a for t, a in tags if t == "tr" and "run" in (a.get("class") or "")]
    assert len(runs) == 14 and {a["data-task"] for a in runs} == {"INFO-004", "INFO-005", "INFO-006", "STAT-001",
                                                                  "STAT-013"}
    assert {a["data-status"] for a in runs} == {"ok", "planned", "failed", "refused", "invalid", "unverified"}
    # a bar segment per day and kind (ok, plan, not ok, unverified): 11 days with runs, one of them with two kinds
    assert sum(1 for t, a in tags if t == "rect" and "bar" in (a.get("class") or "")) == 12
    assert [a["id"] for t, a in tags if t == "select"] == ["filter-task", "filter-environment", "filter-status"]


def test_report_command_writes_each_format(november: dict[str, str], _scratch_dirs: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-12-03")
    for name in ("record.md", "record.csv", "record.html"):
        out = tmp_path / name
        assert main(["report", "--month", "2026-11", "--out", str(out)]) == 0
        printed = capsys.readouterr()
        assert printed.out.splitlines()[0] == str(out) and f"wrote {out}" in printed.err
    assert (tmp_path / "record.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (tmp_path / "record.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    assert main(["report", "--month", "2026-11", "--format", "csv", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["runs"] == 14 and data["month"] == "2026-11" and len(data["runs"]) == 14
    assert main(["report", "--month", "2026-11"]) == 0
    assert capsys.readouterr().out.startswith("# Record of work 2026-11\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["--month", "2026-13"], "--month: '2026-13' is not a month; write YYYY-MM"),
    (["--month", "Nov"], "--month: 'Nov' is not a month"),
    (["--month", "2026-11", "--environment", "staging"], "--environment: 'staging' is not an environment"),
    (["--month", "2026-11", "--format", "xlsx"], "invalid choice: 'xlsx'"),
    (["--month", "1999-11"], "outside the calendar"),
])
def test_report_bad_input_exits_2_and_writes_nothing(argv: list[str], message: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "record.md"
    assert main(["report", *argv, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["evidence", "home"]  # nothing written
    assert [p.name for p in (tmp_path / "evidence").iterdir()] == ["ledger.jsonl"]  # the test's empty store


def test_report_out_must_be_a_file_in_an_existing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--month", "2026-11", "--out", str(tmp_path / "no" / "such.md")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", "--month", "2026-11", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_a_month_without_evidence_exits_0_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--month", "2026-08", "--environment", "sandbox"]) == 0
    out = capsys.readouterr().out
    assert "No plan or apply in 2026-08 (Asia/Tokyo)" in out and "0 run(s) in 2026-08 (environment sandbox)" in out


def _corrupt(path: Path, how: str) -> None:
    m = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    if how == "altered":
        (path / "changes.json").write_text("[{}]\n", encoding="utf-8")
    elif how == "removed":
        (path / "stdout.txt").unlink()
    elif how == "added":
        (path / "notes.txt").write_text("x", encoding="utf-8")
    elif how == "folder":
        (path / "sub").mkdir()
    elif how == "leftover":
        (path / "manifest.json.tmp").write_text("{}", encoding="utf-8")
    elif how == "unlisted":
        m["files"].pop("events.jsonl")
        (path / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    elif how == "no files":
        m.pop("files")
        (path / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    elif how == "not json":
        (path / "manifest.json").write_text("{", encoding="utf-8")


@pytest.mark.parametrize("how", ["intact", "altered", "removed", "added", "folder", "leftover", "unlisted",
                                 pytest.param("no files", marks=pytest.mark.hostile_manifest), "not json"])
def test_the_one_pass_check_agrees_with_evidence_verify(how: str, _scratch_dirs: Path) -> None:
    from ops_driver.evidence import bundles

    (_scratch_dirs / "ledger.jsonl").unlink()  # bundles checked against their own manifests only
    rid = evidence_month.run(_scratch_dirs, "plan", "INFO-004", dt.datetime(2026, 11, 5, 3, tzinfo=dt.UTC),
                             record=False)
    b = bundles.bundle(rid, _scratch_dirs)
    _corrupt(b.path, how)
    try:
        m = json.loads((b.path / "manifest.json").read_text(encoding="utf-8"))
    except ValueError:
        m = None
    ok, changes = monthly._intact(str(b.path), m)
    assert ok is (bundles.verify(b) == []) is (how == "intact")
    assert (changes is not None) is ok
    [row] = collect(_scratch_dirs).runs
    assert row.problems == bundles.verify(b) and row.verified is (how == "intact")


def test_a_broken_ledger_is_reported_and_its_unreadable_lines_count_for_nothing(november: dict[str, str],
                                                                               _scratch_dirs: Path) -> None:
    path = _scratch_dirs / "ledger.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    stat013 = next(i for i, line in enumerate(lines) if november["stat013"] in line)
    lines[stat013] = "not a ledger line\n"
    path.write_text("".join(lines), encoding="utf-8")
    rec = collect(_scratch_dirs)
    assert any(f"line {stat013 + 1}: not JSON" in p for p in rec.ledger["problems"]) and rec.ledger["head"] is None
    row = next(r for r in rec.runs if r.run_id == november["stat013"])
    assert not row.verified and row.problems == ["bundle not in the ledger (added outside ops-driver)"]
    assert next(d for d in rec.due if d.task == "STAT-013").state == "missed"
    text = render.markdown(rec)
    assert f"- ledger: ledger.jsonl line {stat013 + 1}: not JSON" in text
    assert "ledger.jsonl (16 readable lines) has 3 problem(s), listed below" in text  # the line; seq and link after it


def test_an_apply_short_of_its_plan_s_approvals_and_overrides_are_flagged(_scratch_dirs: Path) -> None:
    """The issue's case: a minor plan (1 approval required) applied after `approvals: 0` was put in the policy."""
    from ops_driver.evidence import governance

    at = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
    plan = evidence_month.run(_scratch_dirs, "plan", "INFO-005", at, change_class="minor", approvals_required=1)
    short = evidence_month.run(_scratch_dirs, "apply", "INFO-005", at + dt.timedelta(minutes=10), plan_id=plan,
                               change_class="minor", approvals=[])
    plan2 = evidence_month.run(_scratch_dirs, "plan", "INFO-005", at + dt.timedelta(hours=1), change_class="minor",
                               approvals_required=1)
    a = governance.approve(plan2, "yamada", "ok", _scratch_dirs, now=at + dt.timedelta(hours=1, minutes=5))
    ok = evidence_month.run(_scratch_dirs, "apply", "INFO-005", at + dt.timedelta(hours=1, minutes=10), plan_id=plan2,
                            change_class="minor", approvals=[a.summary()], approvals_required=1,
                            overrides=["OPS_PLAN_MAX_AGE=60"], operator_source="declared", os_account="root")
    rec = collect(_scratch_dirs)
    flags = {r.run_id: r.flags for r in rec.runs}
    assert flags[short] == [f"applied with 0 approval(s) of the 1 its plan {plan} required"]
    assert flags[ok] == ["override: OPS_PLAN_MAX_AGE=60", "operator declared (tanaka; OS account root)"]
    assert flags[plan] == [] and rec.summary()["flagged"] == 2
    text = render.markdown(rec)
    assert "2 run(s) FLAGGED" in text and "## Flags" in text
    assert f"`{short}` INFO-005 sandbox: applied with 0 approval(s) of the 1 its plan {plan} required" in text
    rows = {r["run_id"]: r for r in csv.DictReader(io.StringIO(render.render(rec, "csv").decode("utf-8-sig")))}
    assert rows[short]["flags"].startswith("applied with 0 approval(s)") and rows[plan]["flags"] == ""
    page = html.page(rec)
    assert '<section id="flags"><h2>Flags</h2><ul><li>' in page and f"{short} INFO-005" in page


# ---------------------------------------------------------------- records of manual work and plans' fates (#26, #29)

def _record(base: Path, task_id: str, result: str, date: str, note: str | None = None) -> str:
    from ops_driver.records import manual

    return manual.record(task_id, result, note=note, date_text=date, base=base).run_id


def test_a_record_does_its_task_and_an_ng_is_a_finding_shown_apart(_scratch_dirs: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-12-03")
    base = _scratch_dirs
    evidence_month.run(base, "apply", "STAT-013", dt.datetime(2026, 11, 2, 1, tzinfo=dt.UTC), environment="prod")
    done = _record(base, "CORE-012", "done", "2026-11-02")  # an automated task done by hand
    ng = _record(base, "COMM-014", "ng", "2026-11-04", note="web01 did not answer")  # a manual daily task
    late = _record(base, "COMM-018", "done", "2026-11-05")  # due the 1st business day (11-02): late
    _record(base, "COMM-014", "done", "2026-12-01")  # December's: not in November's record
    rec = collect(base)
    got = {(d.task, d.days[0]): d for d in rec.due}
    assert got[("CORE-012", "2026-11-02")].state == "done" and got[("CORE-012", "2026-11-02")].runs == [done]
    assert got[("COMM-014", "2026-11-04")].state == "done" and got[("COMM-014", "2026-11-04")].runs == [ng]
    assert got[("COMM-014", "2026-11-05")].state == "missed"  # really missed: tracked and not done that day
    assert got[("COMM-018", "2026-11-02")].state == "late"
    assert ("COMM-007", "2026-11-02") not in got  # a manual task never recorded is not judged (a note says so)
    assert any("recurring manual task(s) have no record in 2026-11" in n for n in rec.notes)
    assert [r.run_id for r in rec.records] == [done, ng, late]
    assert [(f.task, f.note) for f in rec.findings] == [("COMM-014", "web01 did not answer")]
    s = rec.summary()
    assert (s["records"], s["findings"], s["runs"]) == (3, 1, 1)  # records are not runs
    text = render.markdown(rec)
    assert "## Records of manual work" in text and "## Findings (ng)" in text
    assert "- 2026-11-04 COMM-014 始業開始前のシステム正常性確認 (prod) " in text and "web01 did not answer" in text
    assert "3 record(s) of manual work, 1 with findings (ng)" in text
    page = html.page(rec)
    assert 'id="findings"' in page and "web01 did not answer" in page


def test_a_record_made_after_the_month_for_a_day_in_it_counts(_scratch_dirs: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from ops_driver.records import manual

    monkeypatch.setenv("OPS_TODAY", "2026-12-20")
    later = dt.datetime(2026, 12, 20, 3, tzinfo=dt.UTC)
    run_id = manual.record("STAT-013", "done", date_text="2026-11-02", base=_scratch_dirs, now=later).run_id
    rec = collect(_scratch_dirs)
    assert [r.run_id for r in rec.records] == [run_id]
    assert next(d for d in rec.due if d.task == "STAT-013").state == "done"


def test_plans_shown_as_applied_abandoned_expired_rejected(_scratch_dirs: Path) -> None:
    base = _scratch_dirs
    utc = lambda d, h=0: dt.datetime(2026, 11, d, h, tzinfo=dt.UTC)  # noqa: E731
    stop = [evidence_month.change("ec2:instance/i-0a")]
    applied = evidence_month.run(base, "plan", "INFO-005", utc(2), changes=stop)
    evidence_month.run(base, "apply", "INFO-005", utc(2, 1), plan_id=applied, changes=stop)
    abandoned = evidence_month.run(base, "plan", "INFO-004", utc(4), changes=stop)
    expired = evidence_month.run(base, "plan", "INFO-004", utc(5), changes=stop)  # the last INFO-004 plan
    rejected = evidence_month.run(base, "plan", "INFO-006", utc(6), changes=stop)
    ledger.append(base, "reject", "rej-0001", "0" * 64, ref=rejected, now=utc(6, 2))  # as `ops-driver reject` writes it
    waiting = evidence_month.run(base, "plan", "STAT-013", utc(30, 14), environment="prod")
    rec = monthly.collect(2026, 11, base=base, today=TODAY, now=utc(30, 15))
    fate = {r.run_id: r.disposition for r in rec.runs if r.kind == "plan"}
    assert fate == {applied: "applied", abandoned: "abandoned", expired: "expired", rejected: "rejected",
                    waiting: "waiting"}
    s = rec.summary()
    assert s["ok"] == 1  # the apply; no plan is "ok"
    assert (s["plans_applied"], s["plans_abandoned"], s["plans_expired"], s["plans_rejected"]) == (1, 1, 1, 1)
    assert s["changed"] == 1  # the apply's resource; the plans' "would change" are not changes
    text = render.markdown(rec)
    assert "| planned, rejected |" in text and "| planned, applied |" in text
    assert "Resources changed by applies:" in text and f"`{applied}`" not in text.split("Resources changed")[1][:400]
    rows = list(csv.DictReader(io.StringIO(render.csv_text(rec))))
    assert {r["run_id"]: (r["disposition"], r["would_change"], r["changed"]) for r in rows}[abandoned] == (
        "abandoned", "1", "")


def test_the_totals_per_task_name_each_task(november: dict[str, str], _scratch_dirs: Path) -> None:
    text = render.markdown(collect(_scratch_dirs))
    totals = text.split("## Totals per task")[1].split("## Totals per environment")[0]
    assert "| INFO-005 | システム起動/停止 / インスタンス停止 | 4 |" in totals
    assert "| STAT-001 | 始業確認 |" in totals and "|  |" not in totals.split("\n", 4)[4]
