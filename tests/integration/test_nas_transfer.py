"""STAT-011 / STAT-012 through ops-driver on the sandbox NAS shares (folders of the sandbox)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import ops_sandbox
from ops_driver.errors import InvalidInput
from ops_driver.paths import project_root
from ops_driver.run import pipeline
from tests.integration.conftest import write_request
from tests.support.approvals import approved

pytestmark = pytest.mark.integration
PASSWORD = "integration-test-password-7f3a"


@pytest.fixture()
def nas(sandbox_server: dict[str, Any], estate: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh sandbox shares (nas/prod with working files, nas/maint) and the password in OPS_NAS_PASSWORD."""
    root = Path(os.environ["OPS_SANDBOX_DIR"]) / "nas"
    shutil.rmtree(root, ignore_errors=True)
    ops_sandbox.seed_nas(root)
    monkeypatch.setenv("OPS_NAS_PASSWORD", PASSWORD)
    return root


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _req(tmp_path: Path, task: str = "STAT-011", **params: Any) -> Path:
    base = {"source_dir": "work/2026-11", "dest_dir": "from-prod", "items": ["*.csv", "detail"]}
    return write_request(tmp_path / "r.yml", task, {**base, **params})


def _extract_request(tmp_path: Path) -> Path:
    """STAT-012: the archive of REQ-TEST-001 back to production, decrypted and extracted on arrival."""
    return write_request(
        tmp_path / "back.yml",
        "STAT-012",
        {
            "source_dir": "from-prod",
            "dest_dir": "work/returned",
            "items": ["REQ-TEST-001.zip"],
            "extract": True,
            "password_source": "env",
            "password_env": "OPS_NAS_PASSWORD",
        },
        ticket="REQ-TEST-002",
    )


ENCRYPTED = {"compression": "zip", "encryption": "aes256", "password_source": "env", "password_env": "OPS_NAS_PASSWORD"}


def test_plan_lists_files_and_writes_nothing_apply_copies_with_equal_manifests(nas: Path, tmp_path: Path) -> None:
    before = tree(nas)
    req = _req(tmp_path, personal_data=False, personal_data_reason="aggregated counts only")
    plan = pipeline.plan(req)
    assert plan.exit_code == 0, plan.message
    assert tree(nas) == before
    assert sorted(c["name"] for c in plan.changes) == ["detail/part-001.csv", "persons.csv", "summary.csv"]
    src = nas / "prod" / "work" / "2026-11" / "summary.csv"
    summary = next(c for c in plan.changes if c["name"] == "summary.csv")
    assert summary["after"] == {"size": src.stat().st_size, "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}
    report = (plan.path / "report.md").read_text(encoding="utf-8")  # what the reviewer approves: every file
    assert "## Files leaving production: 3 file(s)" in report
    assert "holds no personal data (reason: aggregated counts only)" in report
    assert f"| nas-sandbox | summary.csv | {src.stat().st_size} | {summary['after']['sha256']} |" in report
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    ev = out.manifest["evidence"]
    assert list(ev["manifests"]) == ["nas-sandbox"]
    assert ev["manifests"]["nas-sandbox"]["source"] == ev["manifests"]["nas-sandbox"]["dest"]
    assert len(ev["manifests"]["nas-sandbox"]["source"]) == 3
    assert ev["personal_data"] is False and ev["personal_data_reason"] == "aggregated counts only"
    assert (nas / "maint" / "from-prod" / "detail" / "part-001.csv").read_bytes() == (
        nas / "prod" / "work" / "2026-11" / "detail" / "part-001.csv"
    ).read_bytes()


def test_from_prod_unencrypted_personal_data_is_refused(nas: Path, tmp_path: Path) -> None:
    before = tree(nas)
    out = pipeline.plan(_req(tmp_path))
    assert out.exit_code == 2 and "a transfer from prod must be encrypted" in out.message
    out = pipeline.plan(_req(tmp_path, personal_data=False))
    assert out.exit_code == 2 and "personal_data_reason" in out.message
    assert tree(nas) == before


def test_encrypted_round_trip_and_the_password_never_reaches_evidence(
    nas: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = pipeline.apply(approved(pipeline.plan(_req(tmp_path, **ENCRYPTED)).run_id))
    assert out.exit_code == 0, out.message
    archive = nas / "maint" / "from-prod" / "REQ-TEST-001.zip"
    assert archive.is_file()
    back = _extract_request(tmp_path)
    res = pipeline.apply(approved(pipeline.plan(back).run_id))
    assert res.exit_code == 0, res.message
    assert tree(nas / "prod" / "work" / "returned") == tree(nas / "prod" / "work" / "2026-11")
    captured = capsys.readouterr()
    assert PASSWORD not in captured.out + captured.err
    written = [f for f in Path(os.environ["OPS_EVIDENCE_DIR"]).rglob("*") if f.is_file()]  # bundles, ledger, approvals
    assert len(written) > 10
    for f in written:
        assert PASSWORD not in f.read_text(encoding="utf-8"), f


def test_wrong_password_on_extract_is_refused_by_plan_and_apply_leaving_nothing(
    nas: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert pipeline.apply(approved(pipeline.plan(_req(tmp_path, **ENCRYPTED)).run_id)).exit_code == 0
    before = tree(nas)
    monkeypatch.setenv("OPS_NAS_PASSWORD", "not-the-password")
    back = _extract_request(tmp_path)
    plan = pipeline.plan(back)
    assert plan.exit_code == 2 and "wrong password" in plan.message
    assert tree(nas) == before
    # the password changes between a good plan and its apply: the apply's own checks refuse it before extracting
    monkeypatch.setenv("OPS_NAS_PASSWORD", PASSWORD)
    plan = pipeline.plan(back)
    assert plan.exit_code == 0, plan.message
    monkeypatch.setenv("OPS_NAS_PASSWORD", "not-the-password")
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 2 and "wrong password" in out.message
    returned = nas / "prod" / "work" / "returned"
    assert not returned.exists() or [p for p in returned.rglob("*") if p.is_file()] == []


def test_the_plan_lists_what_extraction_writes_and_refuses_existing_files(nas: Path, tmp_path: Path) -> None:
    """A plan that passes can be applied: an extraction onto existing files is refused by the plan (issue #17)."""
    assert pipeline.apply(approved(pipeline.plan(_req(tmp_path, **ENCRYPTED)).run_id)).exit_code == 0
    back = _extract_request(tmp_path)
    plan = pipeline.plan(back)
    assert plan.exit_code == 0, plan.message
    (change,) = plan.changes
    assert change["after"]["writes"] == ["detail/part-001.csv", "persons.csv", "summary.csv"]
    diff = (plan.path / "report.md").read_text(encoding="utf-8") + (plan.path / "stdout.txt").read_text(
        encoding="utf-8")
    assert "writes " in diff and "work/returned/detail/part-001.csv" in diff
    returned = nas / "prod" / "work" / "returned" / "detail"
    returned.mkdir(parents=True)
    (returned / "part-001.csv").write_text("someone else's file\n", encoding="utf-8")
    before = tree(nas)
    plan = pipeline.plan(back)
    assert plan.exit_code == 2
    assert "detail/part-001.csv already exists" in plan.message and "nothing extracted" in plan.message
    assert tree(nas) == before


VAULT_PASSWORD = "sandbox-nas-password-from-vault"  # inventories/sandbox/group_vars/nas_transfer/vault.yml


def test_vault_password_source_encrypts_with_the_inventory_vault(
    nas: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyzipper

    vault_password_file = project_root() / "inventories" / "sandbox" / "vault-password"
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(vault_password_file))
    req = _req(tmp_path, compression="zip", encryption="aes256", password_source="vault")
    out = pipeline.apply(approved(pipeline.plan(req).run_id))
    assert out.exit_code == 0, out.message
    with pyzipper.AESZipFile(nas / "maint" / "from-prod" / "REQ-TEST-001.zip") as z:
        z.setpassword(VAULT_PASSWORD.encode())
        got = {n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist()}
    source = tree(nas / "prod" / "work" / "2026-11")
    assert got == {k: v for k, v in source.items() if k.endswith(".csv") or k.startswith("detail/")}
    captured = capsys.readouterr()
    assert VAULT_PASSWORD not in captured.out + captured.err
    written = [f for f in Path(os.environ["OPS_EVIDENCE_DIR"]).rglob("*") if f.is_file()]  # bundles, ledger, approvals
    assert len(written) > 10
    for f in written:
        assert VAULT_PASSWORD not in f.read_text(encoding="utf-8"), f


def test_vault_password_source_without_the_vault_password_is_refused(
    nas: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    before = tree(nas)
    out = pipeline.plan(_req(tmp_path, compression="zip", encryption="aes256", password_source="vault"))
    assert out.exit_code == 2 and "ANSIBLE_VAULT_PASSWORD_FILE" in out.message, out.message
    assert tree(nas) == before


def test_encryption_without_a_password_is_refused(nas: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_NAS_PASSWORD")
    out = pipeline.plan(_req(tmp_path, **ENCRYPTED))
    assert out.exit_code == 2 and "password_env" in out.message


def test_existing_files_are_kept_unless_overwrite_then_backed_up(nas: Path, tmp_path: Path) -> None:
    params = {"personal_data": False, "personal_data_reason": "test data"}
    assert pipeline.apply(approved(pipeline.plan(_req(tmp_path, **params)).run_id)).exit_code == 0
    (nas / "prod" / "work" / "2026-11" / "summary.csv").write_text("month,count\n2026-11,9999\n")
    out = pipeline.plan(_req(tmp_path, **params))
    assert out.exit_code == 2 and "set overwrite: true" in out.message
    plan = pipeline.plan(
        write_request(
            tmp_path / "o.yml",
            "STAT-011",
            {
                "source_dir": "work/2026-11",
                "dest_dir": "from-prod",
                "items": ["*.csv", "detail"],
                "overwrite": True,
                **params,
            },
            ticket="REQ-OVR",
        )
    )
    assert {c["name"]: c["action"] for c in plan.changes}["summary.csv"] == "overwrite"
    assert pipeline.apply(approved(plan.run_id)).exit_code == 0
    assert (nas / "maint" / "from-prod" / "summary.csv").read_text() == "month,count\n2026-11,9999\n"
    assert (nas / "maint" / "from-prod" / "summary.csv.bak-REQ-OVR").read_text() == "month,count\n2026-11,1234\n"


@pytest.mark.parametrize("blocker, params", [
    ("from-prod", {"personal_data": False, "personal_data_reason": "test data"}),  # the destination folder
    ("from-prod/detail", {"personal_data": False, "personal_data_reason": "test data"}),  # a folder inside it
    ("from-prod", ENCRYPTED),  # the folder the archive goes into
])
def test_a_file_where_a_destination_folder_must_be_is_refused_by_the_plan(
    nas: Path, tmp_path: Path, blocker: str, params: dict[str, Any]
) -> None:
    """The apply would fail creating the folder (exit 3, part of the files copied): the plan refuses it (exit 2)."""
    (nas / "maint" / blocker).parent.mkdir(parents=True, exist_ok=True)
    (nas / "maint" / blocker).write_text("a file, not a folder\n", encoding="utf-8")
    before = tree(nas)
    out = pipeline.plan(_req(tmp_path, **params))
    assert out.exit_code == 2, out.message
    assert f"{nas / 'maint' / blocker} exists and is not a folder" in out.message
    assert tree(nas) == before


def test_paths_that_escape_and_missing_shares_are_refused(nas: Path, tmp_path: Path) -> None:
    for params in ({"source_dir": "../maint"}, {"items": ["../../etc/passwd"]}, {"dest_dir": "/tmp/x"}):
        with pytest.raises(InvalidInput):
            pipeline.plan(_req(tmp_path, personal_data=False, personal_data_reason="r", **params))
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (nas / "prod" / "work" / "2026-11" / "link.csv").symlink_to(outside)
    out = pipeline.plan(_req(tmp_path, personal_data=False, personal_data_reason="r"))
    assert out.exit_code == 2 and "leads outside" in out.message
    (nas / "prod" / "work" / "2026-11" / "link.csv").unlink()
    out = pipeline.plan(_req(tmp_path, personal_data=False, personal_data_reason="r", items=["nothing*"]))
    assert out.exit_code == 2 and "matches nothing" in out.message
    shutil.rmtree(nas / "maint")
    out = pipeline.plan(_req(tmp_path, personal_data=False, personal_data_reason="r"))
    assert out.exit_code == 2 and "is not there (not mounted?)" in out.message


def test_release_distribution_to_the_production_nas_and_every_server(nas: Path, tmp_path: Path) -> None:
    r6 = write_request(
        tmp_path / "r6.yml", "STAT-006", {"source_dir": "release/R2026-11", "dest_dir": "release/R2026-11"}
    )
    assert pipeline.apply(approved(pipeline.plan(r6).run_id)).exit_code == 0
    released = nas / "prod" / "release" / "R2026-11" / "jobs.dsx"
    assert released.read_bytes() == (nas / "maint" / "release" / "R2026-11" / "jobs.dsx").read_bytes()
    r7 = write_request(tmp_path / "r7.yml", "STAT-007", {"source_dir": "release/R2026-11", "dest_dir": "R2026-11"})
    plan = pipeline.plan(r7)
    assert sorted(c["host"] for c in plan.changes) == ["stat-ap01", "stat-ap02"]
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    digest = hashlib.sha256(released.read_bytes()).hexdigest()
    manifests = out.manifest["evidence"]["manifests"]
    assert sorted(manifests) == ["stat-ap01", "stat-ap02"]  # one record per server, none lost in the merge
    for server in ("stat-ap01", "stat-ap02"):
        copy = nas.parent / "servers" / server / "release" / "R2026-11" / "jobs.dsx"
        assert copy.read_bytes() == released.read_bytes()
        assert manifests[server]["source"]["jobs.dsx"] == manifests[server]["dest"]["jobs.dsx"] == digest


# --- issue #22 -------------------------------------------------------------------------------------------------

SWAP_HOOK = """#!/bin/sh
# OPS_TEST_HOOK_NAS_BEFORE_WRITE: called by module_utils/nas_transfer.py with the file about to be written.
# Before persons.csv (detail/part-001.csv is copied by then), the destination folder becomes a link outside.
[ "$1" = persons.csv ] || exit 0
mv "{dest}" "{dest}.moved" && ln -s "{outside}" "{dest}"
"""


def test_a_destination_folder_swapped_for_a_link_during_the_apply_is_refused_through_the_module(
    nas: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The symlink race through ops-driver, the role and the module: the hook runs between the module's
    selection and its write of persons.csv; the run fails there, nothing lands outside the share."""
    outside = tmp_path / "outside"
    outside.mkdir()
    hook = tmp_path / "swap.sh"
    hook.write_text(SWAP_HOOK.format(dest=nas / "maint" / "from-prod", outside=outside))
    hook.chmod(0o755)
    plan = pipeline.plan(_req(tmp_path, personal_data=False, personal_data_reason="test data"))
    assert plan.exit_code == 0, plan.message
    monkeypatch.setenv("OPS_TEST_HOOK_NAS_BEFORE_WRITE", str(hook))
    monkeypatch.setenv("OPS_TEST_HOOKS", "1")
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 3, out.message
    assert f"{nas / 'maint' / 'from-prod'} is a symbolic link that leads outside" in out.message
    assert "the copy stopped there" in out.message
    assert list(outside.iterdir()) == []
    moved = nas / "maint" / "from-prod.moved"
    assert tree(moved) == {"detail/part-001.csv": tree(nas / "prod" / "work" / "2026-11")["detail/part-001.csv"]}


@pytest.mark.parametrize("name", ["AWS_SECRET_ACCESS_KEY", "HOME", "OPS_NAS_PASSWORDx", "X_OPS_NAS_PASSWORD"])
def test_password_env_outside_the_prefix_is_refused_by_the_request_schema(
    nas: Path, tmp_path: Path, name: str
) -> None:
    with pytest.raises(InvalidInput) as e:
        pipeline.plan(_req(tmp_path, **{**ENCRYPTED, "password_env": name}))
    assert e.value.exit_code == 2
    assert "params.password_env" in str(e.value) and "OPS_NAS_PASSWORD" in str(e.value)


def test_password_env_outside_the_prefix_is_refused_by_the_role_whatever_the_variable_holds(
    nas: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A direct ansible-playbook / AWX run, past the catalog: the role refuses the name before any lookup, with
    the same answer whether the variable exists or not (nothing to probe)."""
    from ops_driver.paths import inventory_dir
    from ops_driver.run.runner import run_playbook

    playbook = project_root() / "playbooks" / "stat-011-nas-prod-to-maint.yml"
    extravars = {"source_dir": "work/2026-11", "dest_dir": "from-prod", "items": ["*.csv"], "compression": "zip",
                 "encryption": "aes256", "password_source": "env", "password_env": "AWS_SECRET_ACCESS_KEY",
                 "ops_ticket": "REQ-TEST-001"}
    messages = []
    before = tree(nas)
    for value in ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None):
        if value is None:
            monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
        else:
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", value)
        result = run_playbook(playbook, inventory_dir("sandbox"), extravars, check=True)
        assert result.failure_kind() == "invalid", result.failures
        messages.append(" ".join(str(f.get("msg")) for f in result.failures))
        assert "wJalrXUtnFEMI" not in result.stdout
    assert messages[0] == messages[1]
    assert messages[0].startswith("INVALID INPUT: password_env: the name of the variable must start with "
                                  "OPS_NAS_PASSWORD")
    assert tree(nas) == before
    extravars["password_env"] = "OPS_NAS_PASSWORD"  # the prefix itself is taken (and the plan goes on)
    result = run_playbook(playbook, inventory_dir("sandbox"), extravars, check=True)
    assert result.failure_kind() is None, result.failures
