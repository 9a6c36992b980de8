"""Approvals are SSH signatures (issue #24, item 4): what counts and what does not (ops_driver/evidence/signing.py,
governance.approval_checks). Real keys made with ssh-keygen; the auditor's check is run as docs/governance.md
gives it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.cli import main
from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import bundles, governance, ledger, signing
from tests.unit.evidence.test_governance import NOW, make_bundle

POLICY = governance.load_policy()


def _policy(tmp_path: Path, **approvers: Any) -> governance.ChangePolicy:
    data = yaml.safe_load(governance.policy_path().read_text(encoding="utf-8"))
    data["approver_groups"] = {"change-board": ["yamada"]}
    for cls, value in approvers.items():
        data["classes"][cls]["approvers"] = value
    p = tmp_path / "change.yml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return governance.load_policy(p)


def test_a_prod_approval_is_signed_by_a_listed_key_and_the_auditor_can_check_it_offline(
        tmp_path: Path, signers: Any) -> None:
    b = make_bundle(tmp_path, "p1", environment="prod")
    a = governance.approve("p1", None, "ok", tmp_path, now=NOW, key=signers.key("yamada"))
    assert a.approver == "yamada"  # the principal of the key, not a typed name
    record = json.loads(a.path.read_text(encoding="utf-8"))
    assert record["signed_with"] == "key file" and record["environment"] == "prod"
    # the one-line offline check of docs/governance.md, as an auditor runs it
    documented = ("ssh-keygen -Y verify -f policy/allowed_signers -I <approver> -n ops-driver-approval"
                  " -s <id>.json.sig < <id>.json")
    assert documented in (Path(__file__).resolve().parents[3] / "docs" / "governance.md").read_text(encoding="utf-8")
    r = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers.path), "-I", "yamada", "-n",
                        "ops-driver-approval", "-s", f"{a.path}.sig"], input=a.path.read_bytes(), capture_output=True)
    assert r.returncode == 0, r.stderr
    assert governance.check_apply(b, "dave", tmp_path, POLICY)[1] == [a]
    assert governance.verify_all(tmp_path) == {}


def test_outside_the_sandbox_a_typed_name_is_no_approver(tmp_path: Path, signers: Any) -> None:
    make_bundle(tmp_path, "p1", environment="prod")
    with pytest.raises(PolicyRefused, match=r"no signing key.*sandbox only"):
        governance.approve("p1", "Reviewer B (invented)", None, tmp_path, now=NOW)
    with pytest.raises(PolicyRefused, match="the signing key belongs to yamada"):
        governance.approve("p1", "suzuki", None, tmp_path, now=NOW, key=signers.key("yamada"))
    with pytest.raises(PolicyRefused, match="is not in"):
        governance.approve("p1", None, None, tmp_path, now=NOW, key=signers.key("mallory", listed=False))
    assert not (tmp_path / "approvals").exists() and len(ledger.entries(tmp_path)) == 1  # nothing written


def test_an_unsigned_approval_does_not_count(tmp_path: Path, signers: Any) -> None:
    b = make_bundle(tmp_path, "p1", environment="prod")
    a = governance.approve("p1", None, None, tmp_path, now=NOW, key=signers.key("yamada"))
    os.unlink(f"{a.path}.sig")
    with pytest.raises(PolicyRefused, match=r"0 of 1; does not count: approval by yamada: unsigned"):
        governance.check_apply(b, "dave", tmp_path, POLICY)
    assert governance.verify_all(tmp_path) == {f"approval {a.approval_id}": [
        "does not count: approval by yamada: unsigned (no .json.sig)"]}


def test_a_signature_by_a_key_not_in_allowed_signers_does_not_count(tmp_path: Path, signers: Any) -> None:
    b = make_bundle(tmp_path, "p1", environment="prod")
    a = governance.approve("p1", None, None, tmp_path, now=NOW, key=signers.key("yamada"))
    signing.sign(a.path, signers.key("mallory", listed=False))  # re-signed by someone else's key
    with pytest.raises(PolicyRefused, match="signature does not verify for yamada"):
        governance.check_apply(b, "dave", tmp_path, POLICY)
    assert "signature does not verify" in governance.verify_all(tmp_path)[f"approval {a.approval_id}"][0]


def test_an_edited_payload_does_not_count_even_with_its_ledger_line_rebuilt(tmp_path: Path, signers: Any) -> None:
    b = make_bundle(tmp_path, "p1", environment="prod", change_class="major")
    a = governance.approve("p1", None, None, tmp_path, now=NOW, key=signers.key("yamada"))
    # a forger copies yamada's approval as "suzuki" and writes its ledger line with the ledger's own code
    record = json.loads(a.path.read_text(encoding="utf-8"))
    record.update(approval_id="20261203T050001Z-000001", approver="suzuki")
    text = json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    forged = a.path.with_name("20261203T050001Z-000001.json")
    forged.write_text(text, encoding="utf-8")
    shutil.copy(f"{a.path}.sig", f"{forged}.sig")
    signers.key("suzuki")  # suzuki is a listed approver, but did not sign this
    ledger.append(tmp_path, "approval", "20261203T050001Z-000001", ledger.line_hash(text), ref="p1")
    with pytest.raises(PolicyRefused, match=r"1 of 2 \(yamada\).*approval by suzuki: its signature does not verify"):
        governance.check_apply(b, "dave", tmp_path, POLICY)


def test_a_principal_the_policy_does_not_let_approve_the_class_does_not_count(tmp_path: Path, signers: Any) -> None:
    b = make_bundle(tmp_path, "p1", environment="prod")
    a = governance.approve("p1", None, None, tmp_path, now=NOW, key=signers.key("suzuki"))
    strict = _policy(tmp_path, minor={"prod": ["group:change-board"], "default": ["*"]})
    assert strict.may_approve("minor", "prod", "Yamada") and not strict.may_approve("minor", "prod", "suzuki")
    assert strict.may_approve("minor", "dr", "suzuki") and strict.may_approve("major", "prod", "suzuki")
    with pytest.raises(PolicyRefused, match="suzuki may not approve a minor change in prod"):
        governance.check_apply(b, "dave", tmp_path, strict)
    assert governance.check_apply(b, "dave", tmp_path, POLICY)[1] == [a]  # the same signature, a policy that allows


def test_policy_approvers_are_validated(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"classes.minor.approvers.prod: group:nobody: no such group"):
        _policy(tmp_path, minor={"prod": ["group:nobody"]})
    with pytest.raises(InvalidInput, match=r"classes.minor.approvers.prod: must be a list"):
        _policy(tmp_path, minor={"prod": "yamada"})
    assert POLICY.get("minor").approvers is None  # the repository's file: every listed principal may approve


@pytest.mark.parametrize("spelling", ["Tanaka", "ｔａｎａｋａ", " tanaka "])
def test_sandbox_demo_names_are_one_person_however_spelt(tmp_path: Path, spelling: str) -> None:
    make_bundle(tmp_path, "p1", operator="tanaka", requested_by="tanaka")
    with pytest.raises(PolicyRefused, match="someone other than tanaka"):
        governance.approve("p1", spelling, None, tmp_path, now=NOW)
    a = governance.approve("p1", "Yamada", None, tmp_path, now=NOW)
    assert a.approver == "yamada"
    with pytest.raises(PolicyRefused, match="yamada has already approved"):
        governance.approve("p1", "ＹＡＭＡＤＡ", None, tmp_path, now=NOW)
    keys = tmp_path / signing.SANDBOX_SIGNERS
    assert [p.stat().st_mode & 0o777 for p in keys.iterdir() if not p.name.endswith((".pub", "allowed_signers"))] \
        == [0o600]
    with pytest.raises(InvalidInput, match="one word"):
        governance.approve("p1", "Reviewer B (invented)", None, tmp_path, now=NOW)


def test_sandbox_demo_keys_do_not_approve_another_environment(tmp_path: Path) -> None:
    make_bundle(tmp_path, "s1")
    a = governance.approve("s1", "yamada", None, tmp_path, now=NOW)
    b = make_bundle(tmp_path, "p1", environment="prod")
    record = json.loads(a.path.read_text(encoding="utf-8"))
    record.update(run_id="p1", approval_id="20261203T050001Z-000001", environment="prod",
                  manifest_sha256=governance.manifest_sha256(b))
    forged = tmp_path / "approvals" / "p1" / "20261203T050001Z-000001.json"
    forged.parent.mkdir()
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    forged.write_text(text, encoding="utf-8")
    signing.sign(forged, signing.demo_key(tmp_path, "yamada"))
    ledger.append(tmp_path, "approval", "20261203T050001Z-000001", ledger.line_hash(text), ref="p1")
    with pytest.raises(PolicyRefused, match="signature does not verify for yamada"):
        governance.check_apply(b, "dave", tmp_path, POLICY)


def test_cli_approve_prints_the_signature_and_the_ledger_head(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _scratch_dirs: Path) -> None:
    make_bundle(_scratch_dirs, "p1", ended_at=bundles.iso(bundles.utc_now()))
    assert main(["approve", "p1", "--by", "yamada"]) == 0
    out, err = capsys.readouterr()
    assert "yamada approved p1" in out and ".json.sig" in out
    seq, digest = ledger.head(_scratch_dirs) or (0, "")
    assert f"ledger head: {seq}:{digest}" in err
    assert main(["approve", "p1", "--key", str(tmp_path / "nokey")]) == 2


def test_the_key_can_come_from_the_ssh_agent(tmp_path: Path, signers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real ssh-agent on a unix socket in tmp_path (``-s`` returns once the socket is ready); stopped by its
    PID."""
    key = signers.key("yamada")
    sock = tmp_path / "agent.sock"
    out = subprocess.run(["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True, check=True).stdout
    pid = int(out.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        subprocess.run(["ssh-add", "-q", str(signers.key("mallory", listed=False)), str(key)], check=True,
                       capture_output=True)
        b = make_bundle(tmp_path, "p1", environment="prod")
        a = governance.approve("p1", None, "from the agent", tmp_path, now=NOW)
        assert a.approver == "yamada" and json.loads(a.path.read_text())["signed_with"] == "ssh-agent"
        assert governance.check_apply(b, "dave", tmp_path, POLICY)[1] == [a]
    finally:
        os.kill(pid, 15)


def test_a_key_listed_only_under_a_pattern_names_nobody(tmp_path: Path, signers: Any) -> None:
    make_bundle(tmp_path, "p1", environment="prod")
    with pytest.raises(PolicyRefused, match="not a pattern"):
        governance.approve("p1", None, None, tmp_path, now=NOW, key=signers.key("anyone", principal="*"))
