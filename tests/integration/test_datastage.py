"""STAT-015 through ops-driver against the DataStage SIMULATOR (tools/datastage_sim) of the sandbox."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ops_driver.paths import project_root
from ops_driver.run import pipeline
from ops_sandbox import simulators
from tests.integration.conftest import write_request
from tests.support.approvals import approved

pytestmark = pytest.mark.integration
ROOT = project_root()
PACKAGE_JOBS = ["AggregateMonthly", "LoadSales", "SeqMonthly"]
PACKAGE_ASSETS = ["AggregateMonthly", "ConvWareki", "LoadSales", "PS_StatCommon", "SC_CleanDates", "SeqMonthly"]


def _dssim() -> Any:
    return simulators.load("datastage")


@pytest.fixture()
def ds(sandbox_server: dict[str, Any], estate: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh simulator state under the sandbox folder (what the inventory's DSSIM_HOME names)."""
    sandbox = Path(os.environ["OPS_SANDBOX_DIR"])
    home = sandbox / "datastage"
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(sandbox / "datastage-backups", ignore_errors=True)
    _dssim().seed_datastage(home)
    monkeypatch.delenv("DSSIM_FAULT", raising=False)
    return home


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def project_assets(home: Path, project: str = "STATPRJ") -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (home / "projects" / project).rglob("*.json")}


def _req(tmp_path: Path, name: str = "r.yml", ticket: str = "REQ-TEST-015", **params: Any) -> Path:
    base = {"package": "release-R2026-11.dsx", "package_location": "control_node", "project": "STATPRJ",
            "replace": True}
    return write_request(tmp_path / name, "STAT-015", {**base, **params}, ticket=ticket)


def test_release_imports_the_package_and_backs_up_what_it_replaces(ds: Path, tmp_path: Path) -> None:
    old = project_assets(ds)["LoadSales"]
    old_check = project_assets(ds)["CheckDates"]["definition"]
    plan = pipeline.plan(_req(tmp_path))
    assert plan.exit_code == 0, plan.message
    actions = {c["name"]: c["action"] for c in plan.changes}
    assert actions == {"AggregateMonthly": "create", "ConvWareki": "create", "LoadSales": "replace",
                       "PS_StatCommon": "create", "SC_CleanDates": "create", "SeqMonthly": "create"}
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    assert out.manifest["comparison"]["unpredicted"] == [] and out.manifest["comparison"]["not_done"] == []
    now = project_assets(ds)
    assert sorted(now) == sorted([*PACKAGE_ASSETS, "CheckDates"])
    assert sorted(a["name"] for a in now.values() if a["kind"] == "job") == sorted([*PACKAGE_JOBS, "CheckDates"])
    assert now["CheckDates"]["definition"] == old_check
    ev = out.manifest["evidence"]
    assert ev["verified"] == PACKAGE_JOBS
    # DSXImportService.sh does not compile: the compile check names every job (warn, the inventory's default)
    assert ev["not_compiled"] == PACKAGE_JOBS
    assert all(now[j]["status"] == 98 for j in PACKAGE_JOBS)
    backup = Path(ev["backup"]["path"])
    assert backup.is_file() and ev["backup"]["assets"] == ["LoadSales"]
    with zipfile.ZipFile(backup) as zf:
        manifest = zf.read("META-INF/IS-MANIFEST.MF").decode()
        held = zf.read("DSENGINE01/STATPRJ/Jobs/Release/LoadSales.pjb").decode()
    assert '<entries name="LoadSales" path="DSENGINE01/STATPRJ/Jobs/Release/LoadSales.pjb"' in manifest
    assert held == old["definition"] and "R2026-10" in held

    # a .dsx cannot be compared with the engine's XML definitions: a second release replaces again
    again = pipeline.plan(_req(tmp_path, "again.yml", ticket="REQ-TEST-016"))
    assert again.exit_code == 0, again.message
    assert {c["name"]: c["action"] for c in again.changes}["LoadSales"] == "replace"


def test_isx_package_from_the_maintenance_nas(ds: Path, tmp_path: Path) -> None:
    maint = Path(os.environ["OPS_SANDBOX_DIR"]) / "nas" / "maint" / "release" / "R2026-11"
    maint.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "examples" / "packages" / "release-R2026-11.isx", maint)
    req = _req(tmp_path, package="release/R2026-11/release-R2026-11.isx", package_location="maint_nas",
               project="STATDEV", replace=False)
    out = pipeline.apply(approved(pipeline.plan(req).run_id))
    assert out.exit_code == 0, out.message
    assert sorted(project_assets(ds, "STATDEV")) == PACKAGE_ASSETS
    assert out.manifest["evidence"]["backup"]["path"] is None
    # the .isx holds the jobs' executables: compiled (NOT RUNNING, 99), nothing for the compile check
    assert out.manifest["evidence"]["not_compiled"] == []
    statuses = {a["name"]: a["status"] for a in project_assets(ds, "STATDEV").values() if a["kind"] == "job"}
    assert statuses == dict.fromkeys(PACKAGE_JOBS, 99)
    # the same package again: identical definitions (compared by the exported XML), nothing to do
    again = pipeline.plan(_req(tmp_path, "again.yml", ticket="REQ-TEST-017", package_location="maint_nas",
                                 package="release/R2026-11/release-R2026-11.isx", project="STATDEV", replace=False))
    assert again.exit_code == 0, again.message
    assert not any(c["changed"] for c in again.changes)


def test_package_path_through_a_symlink_on_the_nas_exits_2(ds: Path, tmp_path: Path) -> None:
    """The maintenance NAS share is walked without following links: a folder that is a link out of the share is
    refused (exit 2, the field named), nothing contacted."""
    maint = Path(os.environ["OPS_SANDBOX_DIR"]) / "nas" / "maint"
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(ROOT / "examples" / "packages" / "release-R2026-11.isx", outside)
    link = maint / "linked-release"
    link.unlink(missing_ok=True)
    link.symlink_to(outside)
    before = tree(ds)
    try:
        out = pipeline.plan(_req(tmp_path, package="linked-release/release-R2026-11.isx",
                                   package_location="maint_nas", project="STATDEV", replace=False))
    finally:
        link.unlink()
    assert out.exit_code == 2, out.message
    assert "INVALID INPUT: package:" in out.message and "symbolic link" in out.message
    assert tree(ds) == before


def test_check_mode_changes_nothing(ds: Path, tmp_path: Path) -> None:
    before = tree(ds)
    plan = pipeline.plan(_req(tmp_path))
    assert plan.exit_code == 0, plan.message
    # a .dsx: DSXImportService.sh -List shows what the engine reads from it, and changes nothing
    assert "job LoadSales" in plan.manifest["evidence"]["preview"]
    assert tree(ds) == before


def test_failed_verification_restores_the_backup_and_exits_3(
    ds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = project_assets(ds)["LoadSales"]["definition"]
    plan = pipeline.plan(_req(tmp_path))
    monkeypatch.setenv("DSSIM_FAULT", "import_drops:AggregateMonthly")
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 3
    assert "AggregateMonthly is not listed by dsjob -ljobs" in out.message
    assert "the backup" in out.message and "was re-imported" in out.message
    assert project_assets(ds)["LoadSales"]["definition"] == old


def test_export_without_archive_fails_and_imports_nothing(
    ds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = pipeline.plan(_req(tmp_path))
    before = tree(ds)
    monkeypatch.setenv("DSSIM_FAULT", "export_no_archive")
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 3
    assert "istool export exited 0 but wrote no archive" in out.message
    assert tree(ds) == before


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"project": "NOSUCH"}, "NOSUCH is not a project"),
        ({"replace": False}, "LoadSales already in STATPRJ"),
        ({"package": "missing.dsx"}, "cannot read the package"),
    ],
)
def test_bad_input_exits_2_and_imports_nothing(ds: Path, tmp_path: Path, params: dict[str, Any], needle: str) -> None:
    before = tree(ds)
    out = pipeline.plan(_req(tmp_path, **params))
    assert out.exit_code == 2, out.message
    assert needle in out.message
    assert tree(ds) == before


def test_invalid_package_exits_2(ds: Path, tmp_path: Path) -> None:
    bad = ROOT / "examples" / "packages"
    pkg = tmp_path / "pkgs"
    pkg.mkdir()
    (pkg / "bad.dsx").write_text("BEGIN HEADER\nEND HEADER\nBEGIN DSJOB\n   Identifier \"9Load\"\nEND DSJOB\n")
    assert bad.is_dir()
    maint = Path(os.environ["OPS_SANDBOX_DIR"]) / "nas" / "maint"
    shutil.copy(pkg / "bad.dsx", maint / "bad.dsx")
    before = tree(ds)
    out = pipeline.plan(_req(tmp_path, package="bad.dsx", package_location="maint_nas"))
    assert out.exit_code == 2 and "not a valid DataStage identifier" in out.message
    assert tree(ds) == before


def test_replace_of_a_job_the_export_does_not_return_exits_2(ds: Path, tmp_path: Path) -> None:
    """LoadSales is a parallel job (.pjb) in STATPRJ; a package with a sequence job (JobType 2, .qjb) of the same
    name is listed by dsjob -ljobs but not returned by the plan's export, so the apply could not back it up."""
    maint = Path(os.environ["OPS_SANDBOX_DIR"]) / "nas" / "maint"
    maint.mkdir(parents=True, exist_ok=True)
    (maint / "seq-loadsales.dsx").write_text(
        "BEGIN HEADER\nEND HEADER\n" + _dssim().job_dsx("LoadSales", "Load sales as a sequence", job_type="2"))
    before = tree(ds)
    try:
        out = pipeline.plan(_req(tmp_path, package="seq-loadsales.dsx", package_location="maint_nas"))
    finally:
        (maint / "seq-loadsales.dsx").unlink()
    assert out.exit_code == 2, out.message
    assert "LoadSales is listed by dsjob -ljobs but istool export of DSENGINE01/STATPRJ/*/LoadSales.qjb" in out.message
    assert "cannot be backed up before replace" in out.message
    assert tree(ds) == before
    kept = project_assets(ds)["LoadSales"]
    assert (kept["folder"], kept["ext"]) == ("Jobs/Release", "pjb")


def test_backup_folder_that_cannot_be_created_exits_2(ds: Path, tmp_path: Path) -> None:
    """A regular file where the inventory's datastage_backup_dir would be: the plan refuses, nothing is
    imported (the apply's makedirs would fail after the plan passed)."""
    backups = Path(os.environ["OPS_SANDBOX_DIR"]) / "datastage-backups"
    backups.write_text("not a folder\n")
    try:
        before = tree(ds)
        out = pipeline.plan(_req(tmp_path))
        assert out.exit_code == 2, out.message
        assert f"backup_dir: {backups} cannot hold the backup of LoadSales" in out.message
        assert "is not a directory" in out.message
        assert tree(ds) == before
        assert backups.read_text() == "not a folder\n"
    finally:
        backups.unlink()


def test_start_of_business_check_lists_the_jobs_and_changes_nothing(
    ds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(ds)
    req = write_request(tmp_path / "c.yml", "STAT-001", {"project": "STATPRJ"})
    plan = pipeline.plan(req)
    assert plan.exit_code == 0, plan.message
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    ev = out.manifest["evidence"]
    assert sorted(j["name"] for j in ev["jobs"]) == ["CheckDates", "LoadSales"]
    assert {j["name"]: (j["status"], j["status_code"]) for j in ev["jobs"]} == {
        "CheckDates": ("RUN FAILED", 3), "LoadSales": ("RUN OK", 1)}
    # warn (the inventory's default): the RUN FAILED job is named, the check passes
    assert ev["status_policy"] == "warn"
    assert ev["attention"] == [{"name": "CheckDates", "status": "RUN FAILED", "status_code": 3}]
    assert "STATPRJ" in ev["projects"] and not any(c["changed"] for c in out.changes)
    assert tree(ds) == before
    bad = pipeline.plan(write_request(tmp_path / "b.yml", "STAT-001", {"project": "NOSUCH"}))
    assert bad.exit_code == 2
    monkeypatch.setenv("DSSIM_FAULT", "engine_down")
    down = pipeline.plan(req)
    assert down.exit_code == 3 and "does not answer" in down.message


def test_monthly_run_logs_with_a_csv_summary(ds: Path, tmp_path: Path) -> None:
    _dssim().seed_datastage(ds, previous_month=(2026, 10))
    req = write_request(tmp_path / "l.yml", "STAT-013", {"project": "STATPRJ", "month": "2026-10"})
    plan = pipeline.plan(req)
    assert plan.exit_code == 0, plan.message
    dest = Path(os.environ["OPS_SANDBOX_DIR"]) / "nas" / "maint" / "reports" / "datastage" / "STATPRJ" / "2026-10"
    shutil.rmtree(dest, ignore_errors=True)
    plan = pipeline.plan(req)
    assert not dest.exists()
    assert sorted(c["name"] for c in plan.changes) == ["CheckDates.log", "LoadSales.log", "summary.csv"]
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    assert (dest / "summary.csv").read_text().splitlines() == [
        "job,runs,last_status,warnings,fatals", "CheckDates,2,FATAL,0,1", "LoadSales,3,OK,1,0"]
    assert "2026-09" not in (dest / "LoadSales.log").read_text()
    again = pipeline.plan(req)
    assert again.exit_code == 0 and not any(c["changed"] for c in again.changes)


@pytest.mark.parametrize("in_the_way", ["project_folder_is_a_file", "summary_csv_is_a_folder"])
def test_run_logs_destination_that_cannot_be_written_exits_2(ds: Path, tmp_path: Path, in_the_way: str) -> None:
    """A regular file in the way of the log folder's ancestor, or a folder named like a target file: the plan
    refuses (exit 2) what the apply's makedirs / os.replace would fail on, and writes nothing."""
    _dssim().seed_datastage(ds, previous_month=(2026, 10))
    project_dir = Path(os.environ["OPS_SANDBOX_DIR"]) / "nas" / "maint" / "reports" / "datastage" / "STATPRJ"
    dest = project_dir / "2026-10"
    shutil.rmtree(project_dir, ignore_errors=True)
    project_dir.parent.mkdir(parents=True, exist_ok=True)
    if in_the_way == "project_folder_is_a_file":
        project_dir.write_text("not a folder\n")
        needle = f"{project_dir} is not a directory, so {dest} cannot be created"
    else:
        (dest / "summary.csv").mkdir(parents=True)
        needle = f"{dest / 'summary.csv'} exists and is a directory"
    try:
        before = tree(project_dir.parent)
        req = write_request(tmp_path / "l.yml", "STAT-013", {"project": "STATPRJ", "month": "2026-10"})
        out = pipeline.plan(req)
        assert out.exit_code == 2, out.message
        assert "INVALID INPUT: dest_dir:" in out.message and needle in out.message
        assert tree(project_dir.parent) == before
        if in_the_way == "project_folder_is_a_file":
            assert project_dir.read_text() == "not a folder\n"
        else:
            assert [p.name for p in dest.iterdir()] == ["summary.csv"] and not list((dest / "summary.csv").iterdir())
    finally:
        if project_dir.is_file():
            project_dir.unlink()
        else:
            shutil.rmtree(project_dir, ignore_errors=True)


@pytest.mark.parametrize("password, ok", [("sandbox-dsadm-password", True), ("not-the-password", False)])
def test_vault_credentials_reach_dsjob_only_through_a_temporary_authfile(
    ds: Path, tmp_path: Path, password: str, ok: bool
) -> None:
    """No inventory authfile: the user and password come from an Ansible Vault file (as from AWX's vault)."""
    import subprocess
    import sys

    from ops_driver.run.runner import ansible_env

    vault_pass = tmp_path / "vault-pass"
    vault_pass.write_text("test-vault-password\n")
    creds = tmp_path / "creds.yml"
    creds.write_text(f"datastage_user: dsadm\ndatastage_password: {password}\n")
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "ansible-vault"), "encrypt", "--vault-password-file", str(vault_pass),
                    str(creds)], check=True, capture_output=True)
    assert password not in creds.read_text()
    scratch = tmp_path / "remote-tmp"
    scratch.mkdir()
    env = {**os.environ, **ansible_env(), "TMPDIR": str(scratch)}
    out = subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", str(ROOT / "inventories" / "sandbox"),
         str(ROOT / "playbooks" / "stat-001-datastage-check.yml"), "--vault-password-file", str(vault_pass),
         "-e", f"@{creds}", "-e", '{"project": "STATPRJ", "datastage_authfile": ""}'],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert (out.returncode == 0) is ok, out.stdout + out.stderr
    assert password not in out.stdout + out.stderr
    assert not list(scratch.rglob("authfile"))  # the temporary authfile is gone, success or not


def _playbook(playbook: str, tmp_path: Path, extra: dict[str, Any]) -> Any:
    """ansible-playbook of ``playbook`` with the sandbox inventory and ``extra`` vars (as a policy set in the
    inventory would be), outside ops-driver."""
    import subprocess
    import sys

    from ops_driver.run.runner import ansible_env

    bin_dir = Path(sys.executable).parent
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(extra))
    return subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", str(ROOT / "inventories" / "sandbox"),
         str(ROOT / "playbooks" / playbook), "-e", f"@{extra_file}"],
        env={**os.environ, **ansible_env()}, capture_output=True, text=True, timeout=300, check=False)


def test_status_policy_fail_names_the_failed_and_crashed_jobs(ds: Path, tmp_path: Path) -> None:
    """datastage_status_policy: fail - RUN FAILED (CheckDates) and CRASHED (LoadSales: dsjob.c prints UNKNOWN (96))
    fail the morning check and are named."""
    _dssim().set_job(ds, "STATPRJ", "LoadSales", status=96)
    before = tree(ds)
    out = _playbook("stat-001-datastage-check.yml", tmp_path, {"project": "STATPRJ", "datastage_status_policy": "fail"})
    assert out.returncode != 0, out.stdout
    assert "STAT-001: jobs of STATPRJ need attention: CheckDates (RUN FAILED, 3), LoadSales (CRASHED, 96)" in out.stdout
    assert tree(ds) == before


def test_compile_check_fail_restores_the_backup(ds: Path, tmp_path: Path) -> None:
    """datastage_compile_check: fail - a .dsx import leaves its jobs NOT COMPILED: the verification fails, the
    backup of LoadSales is re-imported."""
    old = project_assets(ds)["LoadSales"]["definition"]
    out = _playbook("stat-015-datastage-release.yml", tmp_path, {
        "package": "release-R2026-11.dsx", "package_location": "control_node", "project": "STATPRJ",
        "replace": True, "ops_ticket": "REQ-TEST-COMPILE", "datastage_compile_check": "fail"})
    assert out.returncode != 0, out.stdout
    assert "compile check: AggregateMonthly, LoadSales, SeqMonthly NOT COMPILED (98) after the import" in out.stdout
    assert "was re-imported" in out.stdout
    assert project_assets(ds)["LoadSales"]["definition"] == old
