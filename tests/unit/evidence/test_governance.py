"""Change classes, approvals bound to the plan, emergencies and the whole-folder verification (governance.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import bundles, governance, ledger, signing
from tests.support import runs

POLICY = governance.load_policy()
NOW = dt.datetime(2026, 12, 3, 5, 0, tzinfo=dt.UTC)


def make_bundle(base: Path, run_id: str, record: bool = True, **manifest: Any) -> bundles.Bundle:
    """A bundle as write_bundle leaves it (the five files, manifest.json with their SHA-256), in the ledger."""
    path = base / run_id
    path.mkdir(parents=True)
    files = {}
    for name in bundles.BUNDLE_FILES:
        (path / name).write_text(f"{name} of {run_id}\n", encoding="utf-8")
        files[name] = bundles.sha256_file(path / name)
    keys: dict[str, Any] = {"status": "planned", "plan_id": None, "operator": "alice", "requested_by": "bob",
                            "change_class": "minor", "started_at": bundles.iso(NOW), "ended_at": bundles.iso(NOW),
                            **manifest}
    m = dict(runs.manifest(keys.pop("kind", "plan"), run_id, keys.pop("task", "INFO-004"), **keys), files=files)
    (path / bundles.MANIFEST).write_text(json.dumps(m, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    b = bundles.Bundle(run_id, path)
    if record:
        ledger.append(base, str(m["kind"]), run_id, governance.manifest_sha256(b), ref=m.get("plan_id"))
    return b


# ---------------------------------------------------------------- policy file


def test_policy_file_holds_the_four_classes_with_the_issue_defaults() -> None:
    assert {n: c.approvals for n, c in POLICY.classes.items()} == {"standard": 0, "minor": 1, "major": 2,
                                                                   "emergency": 0}
    assert POLICY.get("emergency").post_approvals == 1 and POLICY.get("emergency").requires == ("emergency_reason",)
    assert [POLICY.get(n).ja for n in governance.CLASSES] == ["標準", "軽微", "重大", "緊急"]


def _policy_with(tmp_path: Path, change: Any) -> Path:
    data = yaml.safe_load(governance.policy_path().read_text(encoding="utf-8"))
    change(data)
    p = tmp_path / "change.yml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["classes"].pop("minor"), "classes must be exactly"),
    (lambda d: d["classes"]["major"].update(approvals=-1), "classes.major.approvals"),
    (lambda d: d["classes"]["major"].update(approvals="two"), "classes.major.approvals"),
    (lambda d: d["classes"]["minor"].update(rank=0), "different ranks"),
    (lambda d: d["classes"]["emergency"].update(post_approvals=0), "post_approvals must be at least 1"),
    (lambda d: d.update(approval_timeout_s=5), "approval_timeout_s"),
])
def test_malformed_policy_is_invalid_input_naming_the_field(tmp_path: Path, change: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        governance.load_policy(_policy_with(tmp_path, change))


# ---------------------------------------------------------------- class and operator


def test_a_declared_operator_counts_in_the_sandbox_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_OPERATOR", "env-operator")
    assert governance.operator("cli-operator", "sandbox") == "cli-operator"
    assert governance.operator(None, "sandbox") == "env-operator"
    for env in ("prod", "dr", "maint", None):
        with pytest.raises(PolicyRefused, match=r"OPS_OPERATOR .*accepted only in the sandbox"):
            governance.operator(None, env)
    monkeypatch.delenv("OPS_OPERATOR")
    assert governance.operator(None, "prod") not in ("", "env-operator")  # the OS account
    with pytest.raises(InvalidInput, match="operator"):
        governance.operator("  ", "sandbox")


# ---------------------------------------------------------------- approve


def _approve(base: Path, run_id: str, by: str, comment: str = "ok") -> governance.Approval:
    return governance.approve(run_id, by, comment, base, now=NOW)


def test_approval_records_who_when_comment_and_the_plan_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundles, "utc_now", lambda: NOW)
    b = make_bundle(tmp_path, "p1")
    a = _approve(tmp_path, "p1", "carol", "looks right")
    assert (a.approver, a.at, a.comment, a.after_the_fact) == ("carol", "2026-12-03T05:00:00Z", "looks right", False)
    assert a.manifest_sha256 == governance.manifest_sha256(b)
    last = ledger.entries(tmp_path)[-1]
    assert (last.kind, last.run_id, last.ref, last.sha256) == ("approval", a.approval_id, "p1", a.sha256)
    assert governance.approvals_of("p1", tmp_path) == [a]


@pytest.mark.parametrize(("by", "message"), [("alice", "someone other than alice and bob"),
                                             ("bob", "someone other than alice and bob")])
def test_operator_and_requester_may_not_approve(tmp_path: Path, by: str, message: str) -> None:
    make_bundle(tmp_path, "p1")
    with pytest.raises(PolicyRefused, match=message):
        _approve(tmp_path, "p1", by)
    assert not governance.approvals_dir(tmp_path).exists() and len(ledger.entries(tmp_path)) == 1


def test_same_approver_twice_is_refused(tmp_path: Path) -> None:
    make_bundle(tmp_path, "p1", change_class="major")
    _approve(tmp_path, "p1", "carol")
    with pytest.raises(PolicyRefused, match="carol has already approved"):
        _approve(tmp_path, "p1", "carol")
    assert len(governance.approvals_of("p1", tmp_path)) == 1


@pytest.mark.parametrize(("manifest", "exc", "message"), [
    ({"status": "failed"}, PolicyRefused, "only a successful plan"),
    ({"ended_at": "2026-12-01T00:00:00Z"}, PolicyRefused, "stale"),
    ({"kind": "apply", "change_class": "minor", "plan_id": "p0"}, InvalidInput, "approve a plan"),
])
def test_approval_of_a_failed_stale_or_non_plan_run_is_refused(tmp_path: Path, manifest: dict[str, Any],
                                                               exc: type[Exception], message: str) -> None:
    make_bundle(tmp_path, "r1", **manifest)
    with pytest.raises(exc, match=message):
        _approve(tmp_path, "r1", "carol")
    assert not governance.approvals_dir(tmp_path).exists()


def test_approval_of_an_applied_plan_is_refused(tmp_path: Path) -> None:
    make_bundle(tmp_path, "p1")
    make_bundle(tmp_path, "a1", kind="apply", plan_id="p1", status="applied")
    with pytest.raises(PolicyRefused, match="already applied by a1"):
        _approve(tmp_path, "p1", "carol")


@pytest.mark.parametrize(("run_id", "by", "message"), [("nope", "carol", "no evidence bundle"),
                                                       ("p1", " ", "--by")])
def test_unknown_run_or_empty_name_is_invalid_input(tmp_path: Path, run_id: str, by: str, message: str) -> None:
    make_bundle(tmp_path, "p1")
    with pytest.raises(InvalidInput, match=message):
        _approve(tmp_path, run_id, by)


def test_a_plan_outside_the_ledger_or_edited_cannot_be_approved(tmp_path: Path) -> None:
    make_bundle(tmp_path, "p1", record=False)
    with pytest.raises(PolicyRefused, match="not in the ledger"):
        _approve(tmp_path, "p1", "carol")
    b = make_bundle(tmp_path, "p2")
    m = json.loads((b.path / "manifest.json").read_text())
    m["change_class"] = "standard"
    (b.path / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(PolicyRefused, match="differs from the ledger"):
        _approve(tmp_path, "p2", "carol")


# ---------------------------------------------------------------- apply


def test_apply_needs_the_approvals_of_its_class(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, "p1", change_class="major")
    with pytest.raises(PolicyRefused, match=r"needs 2 approval\(s\).*it has 0 of 2.*not alice or bob"):
        governance.check_apply(b, "dave", tmp_path, POLICY)
    _approve(tmp_path, "p1", "carol")
    with pytest.raises(PolicyRefused, match=r"it has 1 of 2 \(carol\)"):
        governance.check_apply(b, "dave", tmp_path, POLICY)
    _approve(tmp_path, "p1", "erin", "second pair of eyes")
    cls, approvals = governance.check_apply(b, "dave", tmp_path, POLICY)
    assert cls == "major" and [a.approver for a in approvals] == ["carol", "erin"]


def test_standard_needs_none_and_an_approver_may_not_apply(tmp_path: Path) -> None:
    assert governance.check_apply(make_bundle(tmp_path, "s1", change_class="standard"), "alice", tmp_path,
                                  POLICY) == ("standard", [])
    b = make_bundle(tmp_path, "p1")
    _approve(tmp_path, "p1", "carol")
    with pytest.raises(PolicyRefused, match="carol approved it and may not also apply it"):
        governance.check_apply(b, "carol", tmp_path, POLICY)


def test_an_approval_file_written_by_hand_does_not_count(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, "p1")
    folder = governance.approvals_dir(tmp_path) / "p1"
    folder.mkdir(parents=True)
    (folder / "20261203T050000Z-abcdef.json").write_text(json.dumps({
        "approval_id": "20261203T050000Z-abcdef", "run_id": "p1", "approver": "mallory", "at": "2026-12-03T05:00:00Z",
        "comment": "", "manifest_sha256": governance.manifest_sha256(b)}), encoding="utf-8")
    with pytest.raises(PolicyRefused, match=r"0 of 1; 1 approval file\(s\) not in the ledger do not count"):
        governance.check_apply(b, "dave", tmp_path, POLICY)


def test_an_approval_of_another_version_of_the_plan_is_refused(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, "p1")
    a = _approve(tmp_path, "p1", "carol")
    record = json.loads(a.path.read_text())
    record["manifest_sha256"] = "0" * 64
    # now it no longer matches its ledger line: not counted at all
    a.path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(PolicyRefused, match="0 of 1"):
        governance.check_apply(b, "dave", tmp_path, POLICY)
    # an approval recorded (through the ledger) for a manifest that has changed since is named as such
    other = json.dumps({**record, "approval_id": "20261203T050001Z-000001"})
    ledger.append(tmp_path, "approval", "20261203T050001Z-000001", hashlib.sha256(other.encode()).hexdigest(),
                  ref="p1")
    (a.path.parent / "20261203T050001Z-000001.json").write_text(other, encoding="utf-8")
    signing.sign(a.path.parent / "20261203T050001Z-000001.json", signing.demo_key(tmp_path, "carol"))
    with pytest.raises(PolicyRefused, match="is for another version of the plan"):
        governance.check_apply(b, "dave", tmp_path, POLICY)


def test_an_edited_plan_cannot_be_applied(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, "p1", change_class="major")
    m = json.loads((b.path / "manifest.json").read_text())
    m["change_class"] = "standard"  # try to skip the approvals by editing the bundle
    (b.path / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    with pytest.raises(PolicyRefused, match="differs from the ledger"):
        governance.check_apply(b, "dave", tmp_path, POLICY)


# ---------------------------------------------------------------- emergencies


def test_emergency_apply_is_pending_until_approved_after_the_fact(tmp_path: Path) -> None:
    make_bundle(tmp_path, "p1", change_class="emergency", emergency_reason="outage")
    make_bundle(tmp_path, "a1", kind="apply", plan_id="p1", status="applied", change_class="emergency",
                emergency_reason="outage", operator="alice", plan_operator="alice")
    assert [p["run_id"] for p in governance.pending(tmp_path)] == ["a1"]
    assert governance.pending(tmp_path)[0]["emergency_reason"] == "outage"
    with pytest.raises(PolicyRefused, match="someone other than alice and bob"):
        _approve(tmp_path, "a1", "alice")
    a = _approve(tmp_path, "a1", "carol", "was needed")
    assert a.after_the_fact and governance.pending(tmp_path) == []


# ---------------------------------------------------------------- verify_all


def test_intact_folder_verifies(tmp_path: Path) -> None:
    make_bundle(tmp_path, "p1")
    _approve(tmp_path, "p1", "carol")
    assert governance.verify_all(tmp_path, ledger.head(tmp_path)) == {}


def test_verify_names_every_kind_of_tampering(tmp_path: Path) -> None:
    make_bundle(tmp_path, "edited")
    make_bundle(tmp_path, "removed")
    make_bundle(tmp_path, "outside", record=False)
    make_bundle(tmp_path, "p1")
    a = _approve(tmp_path, "p1", "carol")
    m = tmp_path / "edited" / "manifest.json"
    m.write_text(m.read_text().replace('"minor"', '"standard"'), encoding="utf-8")
    shutil.rmtree(tmp_path / "removed")
    a.path.write_text(a.path.read_text().replace("carol", "caro1"), encoding="utf-8")
    stray = a.path.parent / "20261203T050009Z-000009.json"
    stray.write_text("{}", encoding="utf-8")
    problems = governance.verify_all(tmp_path)
    assert problems["edited"] == ["manifest.json edited after it was recorded (ledger.jsonl line 1)"]
    assert problems["removed"] == ["bundle removed (recorded on ledger.jsonl line 2)"]
    assert problems["outside"] == ["bundle not in the ledger (added outside ops-driver)"]
    assert "changed after it was recorded" in problems[f"approval {a.approval_id}"][0]
    assert "not in the ledger" in problems["approval 20261203T050009Z-000009"][0]
    assert "p1" not in problems


def test_verify_reports_a_broken_chain_and_a_truncated_ledger(tmp_path: Path) -> None:
    make_bundle(tmp_path, "p1")
    make_bundle(tmp_path, "p2")
    mark = ledger.head(tmp_path)
    lines = ledger.path_of(tmp_path).read_text().splitlines()
    ledger.path_of(tmp_path).write_text(lines[0] + "\n", encoding="utf-8")
    problems = governance.verify_all(tmp_path, mark)
    assert any("truncated" in p for p in problems["ledger"])
    assert problems["p2"] == ["bundle not in the ledger (added outside ops-driver)"]


# ---------------------------------------------------------------- one person, however spelt (identity.same_person)


@pytest.mark.parametrize("by", ["Alice", "ａｌｉｃｅ", " alice ", "BOB", "ｂｏｂ\u3000"])
def test_the_operator_or_requester_spelt_otherwise_may_not_approve(tmp_path: Path, by: str) -> None:
    make_bundle(tmp_path, "p1")  # operator alice, requested by bob
    with pytest.raises(PolicyRefused, match="someone other than alice and bob"):
        _approve(tmp_path, "p1", by)
    assert not governance.approvals_dir(tmp_path).exists()


def test_one_approver_spelt_two_ways_is_one_approval_and_may_not_apply(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, "p1", change_class="major", operator="tanaka", requested_by="sato")
    _approve(tmp_path, "p1", "Yamada")
    for again in ("yamada", "ｙａｍａｄａ", " YAMADA "):
        with pytest.raises(PolicyRefused, match="has already approved p1"):
            _approve(tmp_path, "p1", again)
    with pytest.raises(PolicyRefused, match="someone other than tanaka and sato"):
        _approve(tmp_path, "p1", "Ｔａｎａｋａ")
    _approve(tmp_path, "p1", "kato")
    with pytest.raises(PolicyRefused, match="may not also apply it"):
        governance.check_apply(b, "ＫＡＴＯ", tmp_path, POLICY)
    assert governance.check_apply(b, "suzuki", tmp_path, POLICY)[0] == "major"


# ---------------------------------------------------------------- requirements never fall after the plan


def _lowered(**approvals: int) -> governance.ChangePolicy:
    classes = {n: dataclasses.replace(c, approvals=approvals.get(n, c.approvals)) for n, c in POLICY.classes.items()}
    return dataclasses.replace(POLICY, classes=classes)


def test_the_plan_s_recorded_requirement_holds_when_the_policy_is_lowered(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, "p1", change_class="minor", approvals_required=1)
    lowered = _lowered(minor=0)
    assert governance.approvals_needed(b.manifest(), lowered) == 1
    with pytest.raises(PolicyRefused, match=r"it has 0 of 1"):
        governance.check_apply(b, "dave", tmp_path, lowered)
    # a policy raised since the plan: the larger holds
    raised = _lowered(minor=2)
    assert governance.approvals_needed(b.manifest(), raised) == 2
    _approve(tmp_path, "p1", "carol")
    with pytest.raises(PolicyRefused, match=r"it has 1 of 2"):
        governance.check_apply(b, "dave", tmp_path, raised)
    assert governance.check_apply(b, "dave", tmp_path, lowered)[0] == "minor"


def test_plan_max_age_is_read_from_the_policy_file(tmp_path: Path) -> None:
    assert POLICY.plan_max_age_s == 86400
    with pytest.raises(InvalidInput, match="plan_max_age_s"):
        governance.load_policy(_policy_with(tmp_path, lambda d: d.update(plan_max_age_s=10)))
    assert governance.load_policy(_policy_with(tmp_path, lambda d: d.update(plan_max_age_s=600))).plan_max_age_s == 600


def test_verify_flags_an_apply_with_fewer_approvals_than_its_plan_required(tmp_path: Path) -> None:
    make_bundle(tmp_path, "p1", approvals_required=1)
    make_bundle(tmp_path, "a1", kind="apply", plan_id="p1", status="applied", approvals=[])  # ran on a lowered policy
    make_bundle(tmp_path, "p2", approvals_required=1)
    a = _approve(tmp_path, "p2", "carol")
    make_bundle(tmp_path, "a2", kind="apply", plan_id="p2", status="applied", approvals=[a.summary()],
                approvals_required=1)
    make_bundle(tmp_path, "p3", change_class="major", approvals_required=2)
    c = _approve(tmp_path, "p3", "carol")
    forged = {**c.summary(), "approval_id": "20261203T050000Z-000000", "by": "Carol"}  # not a record the ledger holds
    make_bundle(tmp_path, "a3", kind="apply", plan_id="p3", status="applied", approvals=[c.summary(), forged])
    problems = governance.verify_all(tmp_path)
    assert problems["a1"] == ["applied with 0 approval(s) of the 1 its plan p1 required"]
    assert problems["a3"] == ["applied with 1 approval(s) of the 2 its plan p3 required (carol)"]
    assert "a2" not in problems and set(problems) == {"a1", "a3"}
