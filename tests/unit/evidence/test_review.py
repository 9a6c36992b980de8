"""The reviewer's commands (issue #29): review, reject, live status, run-ID prefixes and ``last``, tickets,
``--json`` in either position, ``evidence verify --failed``, ``catalog search`` — through ``ops_driver.cli.main``,
on bundles written as ``write_bundle`` leaves them (no playbook runs here: tests/integration/test_reviewer_day.py
does the same day in the sandbox)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from ops_driver.cli import main
from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import bundles, governance, ledger, review
from tests.support import runs


def _bundle(base: Path, run_id: str, age_s: int = 60, **manifest: Any) -> bundles.Bundle:
    """A plan bundle (the five files, manifest.json with their SHA-256) made ``age_s`` seconds ago, in the ledger."""
    path = base / run_id
    path.mkdir(parents=True)
    texts = {"request.yml": "params:\n  instances: [joho-web01]\n", "changes.json": "[]\n", "events.jsonl": "",
             "stdout.txt": "", "report.md": f"# Plan {run_id}\n\napply refuses it until 1 approval(s)\n"}
    files = {}
    for name, text in texts.items():
        (path / name).write_text(text, encoding="utf-8")
        files[name] = bundles.sha256_file(path / name)
    ended = bundles.utc_now() - dt.timedelta(seconds=age_s)
    # every key a plan's manifest has (tests/support/runs.py; the schema checks it), then this test's
    kind = str(manifest.pop("kind", "plan"))
    m: dict[str, Any] = {**runs.manifest(kind, run_id, at=ended - dt.timedelta(minutes=1)),
                         "operator": "alice", "requested_by": "bob", "change_class": "minor", "approvals_required": 1,
                         "ticket": "REQ-1", "ended_at": bundles.iso(ended), **manifest, "files": files}
    (path / bundles.MANIFEST).write_text(json.dumps(m, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    b = bundles.Bundle(run_id, path)
    ledger.append(base, str(m["kind"]), run_id, governance.manifest_sha256(b), ref=m.get("plan_id"))
    return b


PLAN = "20261207T010000Z-INFO-005-plan-aaaaaa"
OTHER = "20261207T020000Z-INFO-005-plan-bbbbbb"


@pytest.fixture()
def base(_scratch_dirs: Path) -> Path:
    return _scratch_dirs


def _out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


# ---------------------------------------------------------------- --json in either position


@pytest.mark.parametrize("argv", [["--json", "evidence", "verify"], ["evidence", "verify", "--json"],
                                  ["--json", "evidence", "verify", "--json"]])
def test_json_works_before_and_after_the_command(base: Path, capsys: pytest.CaptureFixture[str],
                                                 argv: list[str]) -> None:
    _bundle(base, PLAN)
    assert main(argv) == 0
    assert _out(capsys)["verified"] is True


def test_without_json_the_output_is_text(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bundle(base, PLAN)
    assert main(["evidence", "verify"]) == 0
    assert capsys.readouterr().out.startswith(f"{PLAN}: OK")


# ---------------------------------------------------------------- reject


def test_a_rejected_plan_cannot_be_approved_or_applied_and_verify_checks_the_record(
        base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = _bundle(base, PLAN)
    assert main(["reject", PLAN, "--by", "carol", "--reason", "wrong instance:\nweb02 is the one", "--json"]) == 0
    got = _out(capsys)
    assert (got["by"], got["run_id"], got["reason"]) == ("carol", PLAN, "wrong instance:\nweb02 is the one")
    last = ledger.entries(base)[-1]
    assert (last.kind, last.ref, last.run_id) == ("reject", PLAN, got["rejection_id"])
    record = base / "rejections" / PLAN / f"{got['rejection_id']}.json"
    assert json.loads(record.read_text())["decision"] == "reject" and (record.parent / (record.name + ".sig")).is_file()

    assert main(["approve", PLAN, "--by", "dave"]) == 4
    assert f"plan {PLAN} was rejected by carol" in capsys.readouterr().err
    with pytest.raises(PolicyRefused, match=r"was rejected by carol.*wrong instance"):
        governance.check_apply(b, "erin", base, governance.load_policy())
    assert main(["reject", PLAN, "--by", "dave", "--reason", "again"]) == 4  # once is enough
    assert main(["evidence", "verify", "--json"]) == 0
    assert _out(capsys)["verified"] is True

    record.write_text(record.read_text().replace("carol", "mallory"), encoding="utf-8")
    assert main(["evidence", "verify", "--failed"]) == 4
    out = capsys.readouterr().out
    assert f"rejection {got['rejection_id']}: FAILED: rejection record of {PLAN} changed after it was recorded" in out
    assert f"{PLAN}: OK" not in out  # --failed: only what fails
    assert out.strip().endswith("1 failed")


def test_a_rejection_follows_the_identity_rules_of_an_approval(base: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    _bundle(base, PLAN)
    written = sorted(base.rglob("*"))
    for who in ("alice", "Bob"):  # the operator and the requester (compared as one person)
        assert main(["reject", PLAN, "--by", who, "--reason", "no"]) == 4
    assert "must come from a reviewer other than alice and bob" in capsys.readouterr().err
    assert main(["reject", PLAN, "--by", "carol", "--reason", "bad \x1b[31m colour"]) == 2
    assert "--reason: holds the control or format character U+001B" in capsys.readouterr().err
    assert main(["reject", PLAN, "--by", "carol", "--reason", "   "]) == 2
    assert main(["reject", PLAN, "--by", "carol", "--reason", "{{ lookup('pipe', 'id') }}"]) == 2
    assert main(["reject", PLAN, "--by", "carol", "--reason", "x" * 1001]) == 2
    assert main(["reject", PLAN, "--by", "carol"]) == 2  # --reason is required
    assert sorted(p for p in base.rglob("*") if ".sandbox-signers" not in p.parts) == [
        p for p in written if ".sandbox-signers" not in p.parts]  # nothing written
    with pytest.raises(PolicyRefused, match=r"no allowed-signers file|no signing key"):  # --by: sandbox only
        governance.reject(_bundle(base, OTHER, environment="prod").run_id, "carol", "no", base)


def test_a_rejection_record_not_in_the_ledger_does_not_count_and_verify_names_it(base: Path) -> None:
    _bundle(base, PLAN)
    r = governance.reject(PLAN, "carol", "no", base)
    other = _bundle(base, OTHER)
    forged = base / "rejections" / OTHER / r.path.name
    forged.parent.mkdir(parents=True)
    forged.write_text(r.path.read_text().replace(PLAN, OTHER), encoding="utf-8")
    # a forged rejection does not stop the plan, and verify names it
    assert review.live_status(other.run_id, base).state == review.WAITING
    problems = governance.verify_all(base)
    assert any("not in the ledger" in p for p in problems[f"rejection {OTHER}/{r.rejection_id}"])
    assert f"rejection {r.rejection_id}" not in problems  # the real one holds


# ---------------------------------------------------------------- live status


def test_evidence_show_prints_the_status_now_above_the_report(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bundle(base, PLAN)
    assert main(["evidence", "show", PLAN]) == 0
    out = capsys.readouterr().out
    assert out.startswith("STATUS NOW: waiting for approval: approved 0 of 1; expires at ")
    assert "apply refuses it until 1 approval(s)" in out  # the report as written at plan time, unchanged
    governance.approve(PLAN, "carol", None, base)
    assert main(["evidence", "show", PLAN, "--json"]) == 0
    status = _out(capsys)["status"]
    assert (status["state"], status["approvals"], status["needed"], status["approved_by"]) == (
        review.APPROVED, 1, 1, ["carol"])
    assert status["text"].startswith("approved 1 of 1 (by carol); appliable until ")


def test_live_status_expired_failed_and_no_approval_needed(base: Path) -> None:
    _bundle(base, PLAN, age_s=2 * 86400)
    assert review.live_status(PLAN, base).state == review.EXPIRED
    _bundle(base, OTHER, status="failed")
    assert review.live_status(OTHER, base).state == review.FAILED
    third = _bundle(base, "20261207T030000Z-INFO-005-plan-cccccc", change_class="standard", approvals_required=0)
    s = review.live_status(third.run_id, base)
    assert (s.state, s.needed) == (review.NO_APPROVAL, 0)
    later = review.live_status(third.run_id, base, now=bundles.utc_now() + dt.timedelta(days=2))
    assert later.state == review.EXPIRED


# ---------------------------------------------------------------- run IDs: prefixes, last


def test_a_unique_prefix_names_the_run_and_an_ambiguous_one_is_refused(
        base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bundle(base, PLAN)
    _bundle(base, OTHER)
    assert main(["evidence", "verify", "20261207T01", "--json"]) == 0
    assert list(_out(capsys)["bundles"]) == [PLAN]
    assert main(["reject", "20261207T02", "--by", "carol", "--reason", "no", "--json"]) == 0
    assert _out(capsys)["run_id"] == OTHER
    assert main(["evidence", "show", "20261207T0"]) == 2
    err = capsys.readouterr().err
    assert "ambiguous: 2 runs start with it" in err and PLAN in err and OTHER in err
    assert main(["approve", "20261207T0", "--by", "carol"]) == 2
    assert main(["evidence", "show", "20991231"]) == 2  # matches nothing: no such run (nor ticket)
    assert "'20991231': no run ID, unique prefix of one, or ticket of that name" in capsys.readouterr().err


def test_last_is_the_newest_plan_of_the_current_operator(base: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _bundle(base, PLAN, operator="alice")
    _bundle(base, OTHER, operator="zed")
    monkeypatch.setenv("OPS_OPERATOR", "Alice")
    assert review.resolve("last", base) == PLAN
    monkeypatch.setenv("OPS_OPERATOR", "zed")
    assert main(["evidence", "show", "last", "--json"]) == 0
    assert _out(capsys)["manifest"]["run_id"] == OTHER
    monkeypatch.setenv("OPS_OPERATOR", "nobody")
    with pytest.raises(InvalidInput, match=r"last: (.* / )?nobody( / .*)? has no plan"):
        review.resolve("last", base)


# ---------------------------------------------------------------- tickets


def test_evidence_show_ticket_shows_its_run_or_lists_several(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bundle(base, PLAN, ticket="REQ-7")
    assert main(["evidence", "show", "req-7", "--json"]) == 0
    assert _out(capsys)["manifest"]["run_id"] == PLAN
    _bundle(base, OTHER, ticket="ＲＥＱ-7")
    assert main(["evidence", "show", "REQ-7"]) == 0
    out = capsys.readouterr().out
    assert PLAN in out and OTHER in out and "2 runs of ticket REQ-7" in out


def test_a_reused_ticket_on_another_target_lists_the_earlier_runs(base: Path) -> None:
    _bundle(base, PLAN, ticket="REQ-9", targets=[{"instance_id": "i-1", "name": "joho-web01"}])
    again = _bundle(base, OTHER, ticket="REQ-9", targets=[{"instance_id": "i-1", "name": "joho-web01"}])
    assert review.ticket_reuse(again.run_id, base) == []  # planned again for the same target: no warning
    other = _bundle(base, "20261207T030000Z-INFO-005-plan-cccccc", ticket="REQ-9",
                    targets=[{"instance_id": "i-2", "name": "joho-web02"}])
    earlier = review.ticket_reuse(other.run_id, base)
    assert [r["run_id"] for r in earlier] == [PLAN, OTHER]
    assert earlier[0]["target"] == "sandbox INFO-005 i-1"


def _count_manifest_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the run ID of every manifest read (``Bundle.manifest``), in order."""
    reads: list[str] = []
    real = bundles.Bundle.manifest

    def counted(self: bundles.Bundle) -> dict[str, Any]:
        reads.append(self.run_id)
        return real(self)

    monkeypatch.setattr(bundles.Bundle, "manifest", counted)
    return reads


def test_a_standing_ticket_planned_again_reads_no_earlier_manifest(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recurring job's ticket used by many runs on one target: the warning's check reads the index of tickets and
    targets, not the manifest of every earlier run; a run on another target still lists them all."""
    same = [{"instance_id": "i-1", "name": "joho-web01"}]
    runs = [_bundle(base, f"20261207T0{i}0000Z-INFO-005-plan-aaaa0{i}", ticket="DAILY-1", targets=same).run_id
            for i in range(5)]
    assert review.ticket_reuse(runs[-1], base) == []  # the index made (every run read once)
    assert json.loads((base / review.TICKET_CACHE).read_text())["targets"][runs[0]] == "sandbox INFO-005 i-1"
    reads = _count_manifest_reads(monkeypatch)
    again = _bundle(base, "20261207T060000Z-INFO-005-plan-aaaa06", ticket="daily-1", targets=same).run_id
    assert review.ticket_reuse(again, base) == []
    assert reads == [again, again]  # its own manifest, and its line of the ledger into the index: nothing older
    reads.clear()
    other = _bundle(base, "20261207T070000Z-INFO-005-plan-aaaa07", ticket="DAILY-1",
                    targets=[{"instance_id": "i-2", "name": "joho-web02"}]).run_id
    assert [r["run_id"] for r in review.ticket_reuse(other, base)] == [*runs, again]  # confirmed by the manifests
    assert set(reads) == {*runs, again, other}


def test_the_tickets_of_earlier_runs_are_read_once_and_a_cache_cannot_add_a_run(
        base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _bundle(base, PLAN, ticket="REQ-9", targets=[{"instance_id": "i-1", "name": "joho-web01"}])
    _bundle(base, OTHER, ticket="REQ-8", targets=[{"instance_id": "i-1", "name": "joho-web01"}])
    reads = _count_manifest_reads(monkeypatch)
    assert [r["run_id"] for r in review.runs_of_ticket("REQ-9", base)] == [PLAN]
    assert sorted(reads) == sorted([PLAN, PLAN, OTHER])  # every ticket once, then the match whole
    cache = json.loads((base / review.TICKET_CACHE).read_text())
    assert cache["tickets"] == {PLAN: "req-9", OTHER: "req-8"}
    assert cache["targets"] == {PLAN: "sandbox INFO-005 i-1", OTHER: "sandbox INFO-005 i-1"}
    assert cache["ledger_bytes"] == (base / "ledger.jsonl").stat().st_size
    reads.clear()
    third = _bundle(base, "20261207T030000Z-INFO-005-plan-cccccc", ticket="ＲＥＱ-9",
                    targets=[{"instance_id": "i-2", "name": "joho-web02"}])
    assert [r["run_id"] for r in review.runs_of_ticket("REQ-9", base)] == [PLAN, third.run_id]
    assert sorted(reads) == sorted([third.run_id, PLAN, third.run_id])  # only the new run's ticket was read
    # an edited cache can hide a run from the warning, never add one: a match is confirmed by the manifest
    cache = json.loads((base / review.TICKET_CACHE).read_text())
    cache["tickets"] = {PLAN: "req-9", OTHER: "req-9", third.run_id: "req-9"}
    (base / review.TICKET_CACHE).write_text(json.dumps(cache))
    assert [r["run_id"] for r in review.runs_of_ticket("REQ-9", base)] == [PLAN, third.run_id]
    # a cache that does not fit the ledger (another line where it stopped reading) is not used
    cache["tail"], cache["tickets"] = "{}\n", {}
    (base / review.TICKET_CACHE).write_text(json.dumps(cache))
    reads.clear()
    assert [r["run_id"] for r in review.runs_of_ticket("REQ-9", base)] == [PLAN, third.run_id]
    assert sorted(set(reads)) == sorted([PLAN, OTHER, third.run_id])  # read again from the ledger's start
    # unreadable, and cannot be written (a reviewer's read-only access): the ledger and manifests are read as before
    (base / review.TICKET_CACHE).write_text("not json")

    def read_only(*args: Any) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(review.os, "replace", read_only)
    assert [r["run_id"] for r in review.runs_of_ticket("REQ-9", base)] == [PLAN, third.run_id]
    assert sorted(p.name for p in (base / review.TICKET_CACHE.parent).iterdir()) == ["tickets.json"]  # no temp left


# ---------------------------------------------------------------- review


def test_review_lists_what_waits_with_filters_and_mine(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bundle(base, PLAN, ticket="REQ-1")
    _bundle(base, OTHER, ticket="REQ-2", change_class="major", approvals_required=2, operator="carol")
    _bundle(base, "20261207T030000Z-INFO-005-plan-cccccc", change_class="standard", approvals_required=0)
    _bundle(base, "20261207T040000Z-INFO-005-plan-dddddd", age_s=3 * 86400)  # expired
    rejected = _bundle(base, "20261207T050000Z-INFO-005-plan-eeeeee")
    governance.reject(rejected.run_id, "carol", "no", base)
    governance.approve(OTHER, "dave", None, base)

    assert main(["review", "--json"]) == 0
    rows = _out(capsys)["waiting"]
    assert [(r["run_id"], r["approvals"], r["needed"], r["approved_by"]) for r in rows] == [
        (PLAN, 0, 1, []), (OTHER, 1, 2, ["dave"])]
    assert rows[0]["environment"] == "sandbox" and rows[0]["change_class"] == "minor"
    assert rows[0]["age"] == "0h01m"
    assert main(["review"]) == 0
    text = capsys.readouterr().out
    assert "1/2 by dave" in text and "2 run(s) waiting for approval" in text

    for argv, want in ((["--class", "major"], [OTHER]), (["--ticket", "req-1"], [PLAN]),
                       (["--environment", "prod"], []), (["--mine", "--by", "carol"], [PLAN]),
                       (["--mine", "--by", "dave"], [PLAN]), (["--mine", "--by", "erin"], [PLAN, OTHER]),
                       (["--mine", "--by", "alice"], [OTHER])):
        assert main(["review", *argv, "--json"]) == 0, argv
        assert [r["run_id"] for r in _out(capsys)["waiting"]] == want, argv
    assert main(["review", "--class", "huge"]) == 2
    assert main(["review", "--by", "carol"]) == 2  # --by without --mine


# ---------------------------------------------------------------- catalog


def test_catalog_search_in_both_languages_and_the_class_column(capsys: pytest.CaptureFixture[str]) -> None:
    for words in (["インスタンス停止"], ["ec2", "stop"], ["ＥＣ２", "ｓｔｏｐ"], ["info-005"]):
        assert main(["catalog", "search", *words, "--json"]) == 0
        assert [t["id"] for t in _out(capsys)["tasks"]] == ["INFO-005"], words
    assert main(["catalog", "search", "--json", "停止", "--area", "INFO"]) == 0
    assert [t["id"] for t in _out(capsys)["tasks"]][:3] == ["INFO-004", "INFO-005", "INFO-006"]
    assert main(["catalog", "search", "zzzz-nothing"]) == 0
    assert "no task matches 'zzzz-nothing'" in capsys.readouterr().out
    assert main(["catalog", "search", " "]) == 2
    assert main(["catalog", "list", "--area", "INFO"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "cycle", "class"]
    row = next(line for line in lines if line.startswith("INFO-005"))
    assert row.split()[2] == "standard"
    assert next(line for line in lines if line.startswith("INFO-001")).split()[2] == "-"  # a manual task


def test_a_rejection_after_an_approval_stops_the_plan_and_an_unsigned_one_fails_verify(base: Path) -> None:
    b = _bundle(base, PLAN)
    governance.approve(PLAN, "carol", None, base)
    assert governance.check_apply(b, "erin", base, governance.load_policy())[0] == "minor"  # released
    r = governance.reject(PLAN, "dave", "the window moved", base)
    with pytest.raises(PolicyRefused, match="rejected by dave"):
        governance.check_apply(b, "erin", base, governance.load_policy())
    assert review.live_status(PLAN, base).text.startswith("rejected by dave at ")
    assert governance.verify_all(base) == {}
    (r.path.parent / (r.path.name + ".sig")).unlink()
    assert governance.verify_all(base) == {
        f"rejection {r.rejection_id}": ["rejection by dave: unsigned (no .json.sig)"]}
