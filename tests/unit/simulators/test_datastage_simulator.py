"""The DataStage SIMULATOR (tools/datastage_sim) prints what dsjob.c prints and behaves as the README's sources say:
dsenv required, <none>, every status, Status code on stderr with exit 255, istool export of a missing asset fails,
the XML isx manifest, DSXImportService.sh leaves jobs NOT COMPILED."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ops_driver.paths import project_root
from ops_sandbox import simulators

ROOT = project_root()
SIM = ROOT / "tools" / "datastage_sim"
LOGON = ["-domain", "127.0.0.1:9443", "-server", "DSENGINE01"]


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    return Path(simulators.load("datastage").seed_datastage(tmp_path / "ds", previous_month=(2026, 10)))


def run(home: Path, tool: str, *args: str, dsenv: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "DSSIM_FAULT")}
    env["DSSIM_HOME"] = str(home)
    if dsenv:
        env["LD_LIBRARY_PATH"] = str(home / "DSEngine" / "lib")
    extra = ["-authfile", str(home / "authfile")] if tool in ("dsjob", "istool") else []
    argv = [str(SIM / tool)] + (LOGON[:2] + extra + LOGON[2:] + list(args) if tool == "dsjob" else list(args))
    if tool == "istool":
        argv = [str(SIM / tool), args[0], "-domain", "127.0.0.1:9443", *extra, *args[1:]]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_dsjob_refuses_without_the_engine_environment(home: Path) -> None:
    out = run(home, "dsjob", "-lprojects", dsenv=False)
    assert out.returncode == 127 and "libvmdsapi.so: cannot open shared object file" in out.stderr
    assert "LD_LIBRARY_PATH=$DSHOME/lib" in (home / "DSEngine" / "dsenv").read_text()


def test_dsjob_lists_and_none(home: Path) -> None:
    assert run(home, "dsjob", "-lprojects").stdout == "STATDEV\nSTATPRJ\n"
    assert run(home, "dsjob", "-ljobs", "STATPRJ").stdout == "CheckDates\nLoadSales\n"
    empty = run(home, "dsjob", "-ljobs", "STATDEV")
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "<none>\n", "")


def test_dsjob_failure_status_code_and_exit_255(home: Path) -> None:
    out = run(home, "dsjob", "-ljobs", "NOPE")
    assert (out.returncode, out.stdout, out.stderr) == (255, "", "\nStatus code = -1002\n")
    out = run(home, "dsjob", "-logsum", "-type", "BOGUS", "STATPRJ", "LoadSales")
    assert out.returncode == 255 and out.stderr.startswith("Invalid arguments: dsjob -logsum\n")
    assert out.stderr.endswith("\nStatus code = -9999\n")


@pytest.mark.parametrize(("code", "label"), [(0, "RUNNING"), (1, "RUN OK"), (2, "RUN with WARNINGS"), (3, "RUN FAILED"),
                                             (11, "VALIDATED OK"), (12, "VALIDATE with WARNINGS"),
                                             (13, "VALIDATION FILED"), (21, "RESET"), (96, "UNKNOWN"), (97, "STOPPED"),
                                             (98, "NOT COMPILED"), (99, "NOT RUNNING")])
def test_dsjob_jobinfo_every_status_as_dsjob_c(home: Path, code: int, label: str) -> None:
    simulators.load("datastage").set_job(home, "STATPRJ", "LoadSales", status=code,
                                         start_time="2026-11-03T02:10:15")
    out = run(home, "dsjob", "-jobinfo", "STATPRJ", "LoadSales")
    assert out.stdout == (f"Job Status\t: {label} ({code})\nJob Controller\t: not available\nJob Start Time\t: "
                          "Tue Nov  3 02:10:15 2026\nJob Wave Number\t: 4\nUser Status\t: not available\n")


def test_dsjob_logsum_two_lines_per_event(home: Path) -> None:
    out = run(home, "dsjob", "-logsum", "-max", "2", "STATPRJ", "CheckDates").stdout
    assert out == ("8\tFATAL\tSat Oct 24 01:00:08 2026\n\tCheckDates: sample event\n"
                   "9\tSTARTED\tSat Oct 24 01:00:09 2026\n\tFinished Job CheckDates.\n")


def _export(home: Path, archive: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    return run(home, "istool", "export", "-archive", str(archive), "-datastage", " ".join(f'"{p}"' for p in paths))


def test_istool_export_of_a_missing_asset_fails(home: Path, tmp_path: Path) -> None:
    out = _export(home, tmp_path / "a.isx", "DSENGINE01/STATPRJ/*/NoSuchJob.pjb")
    assert out.returncode == 2 and "No assets matched the query: DSENGINE01/STATPRJ/*/NoSuchJob.pjb" in out.stderr
    assert not (tmp_path / "a.isx").exists()
    out = _export(home, tmp_path / "b.isx", "DSENGINE01/STATPRJ/*/LoadSales.pjb")
    assert out.returncode == 0
    with zipfile.ZipFile(tmp_path / "b.isx") as zf:
        assert zf.read("META-INF/IS-MANIFEST.MF").decode().startswith(
            '<?xml version="1.0" encoding="UTF-8"?><com.ibm.iis.istools.ai.core:Manifest')
        assert "DSENGINE01/STATPRJ/Jobs/Release/LoadSales.pjb" in zf.namelist()


def test_istool_import_of_the_sample_isx_compiles_dsx_import_does_not(home: Path, tmp_path: Path) -> None:
    out = run(home, "istool", "import", "-archive", str(ROOT / "examples" / "packages" / "release-R2026-11.isx"),
              "-replace", "-datastage", '"DSENGINE01/STATDEV"')
    assert out.returncode == 0, out.stderr
    assert run(home, "dsjob", "-jobinfo", "STATDEV", "SeqMonthly").stdout.startswith("Job Status\t: NOT RUNNING (99)\n")
    isfile = tmp_path / "isfile"
    isfile.write_text("-ISHost 127.0.0.1:9443\n-ISUser dsadm\n-ISPassword sandbox-dsadm-password\n")
    dsx = str(ROOT / "examples" / "packages" / "release-R2026-11.dsx")
    out = run(home, "DSXImportService.sh", "-ISFile", str(isfile), "-DSHost", "DSENGINE01", "-DSProject", "STATPRJ",
              "-DSXFile", dsx)
    assert out.returncode == 1 and "items not imported = 1" in out.stdout  # LoadSales exists, no -Overwrite
    out = run(home, "DSXImportService.sh", "-ISFile", str(isfile), "-DSProject", "STATPRJ", "-DSXFile", dsx,
              "-Overwrite")
    assert out.returncode == 0, out.stdout + out.stderr
    info = run(home, "dsjob", "-jobinfo", "STATPRJ", "SeqMonthly").stdout
    assert info.startswith("Job Status\t: NOT COMPILED (98)\n")
    listing: Any = run(home, "DSXImportService.sh", "-List", "-DSXFile", dsx).stdout
    assert listing.splitlines()[0] == "parameter_set PS_StatCommon"
