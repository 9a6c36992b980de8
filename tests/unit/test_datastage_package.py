"""module_utils/datastage_package.py: .dsx and .isx packages, bad packages, identifiers."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from ansible.module_utils import datastage_package as pkg

from ops_driver.paths import project_root

ROOT = project_root()

SAMPLES = ROOT / "examples" / "packages"
EXPECTED = {"jobs": ["AggregateMonthly", "LoadSales", "SeqMonthly"], "parameter_sets": ["PS_StatCommon"],
            "routines": ["ConvWareki"], "shared_containers": ["SC_CleanDates"]}


@pytest.mark.parametrize("name", ["release-R2026-11.dsx", "release-R2026-11.isx"])
def test_sample_packages_list_every_asset(name: str) -> None:
    parsed = pkg.parse_package(str(SAMPLES / name))
    assert parsed["format"] == name[-3:]
    assert pkg.summary(parsed["assets"]) == EXPECTED
    kinds = [a["kind"] for a in parsed["assets"]]
    assert kinds == ["parameter_set", "routine", "shared_container", "job", "job", "job"]
    jobs = {a["name"]: a for a in parsed["assets"] if a["kind"] == "job"}
    assert jobs["SeqMonthly"]["job_type"] == "sequence" and jobs["SeqMonthly"]["path"] == "Jobs/Release/SeqMonthly.qjb"
    assert jobs["LoadSales"]["ext"] == "pjb"


def test_dsx_and_isx_hold_the_same_definitions() -> None:
    dsx = pkg.parse_package(str(SAMPLES / "release-R2026-11.dsx"))["assets"]
    isx = pkg.parse_package(str(SAMPLES / "release-R2026-11.isx"))["assets"]
    assert [(a["name"], a["sha256"], a["path"]) for a in dsx] == [(a["name"], a["sha256"], a["path"]) for a in isx]


def test_write_isx_round_trip(tmp_path: Path) -> None:
    assets = pkg.parse_package(str(SAMPLES / "release-R2026-11.dsx"))["assets"]
    out = pkg.write_isx(assets, str(tmp_path / "x.isx"), "DSENGINE01", "STATPRJ")
    again = pkg.parse_package(out)
    assert [a["sha256"] for a in again["assets"]] == [a["sha256"] for a in assets]
    assert again["header"]["ServerName"] == "DSENGINE01"


def _dsx(body: str) -> str:
    return 'BEGIN HEADER\n   CharacterSet "UTF-8"\nEND HEADER\n' + body


def _job(name: str) -> str:
    return (f'BEGIN DSJOB\n   Identifier "{name}"\n'
            '   BEGIN DSRECORD\n      Identifier "ROOT"\n   END DSRECORD\nEND DSJOB\n')


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "must start with BEGIN HEADER"),
        ("hello world\n", "must start with BEGIN HEADER"),
        (_dsx(""), "holds no job"),
        (_dsx('BEGIN DSJOB\n   Identifier "A"\n'), "never closed"),
        (_dsx('BEGIN DSJOB\n   Identifier "A"\nEND DSROUTINES\n'), "END DSROUTINES closes BEGIN DSJOB"),
        (_dsx("junk\n"), "expected BEGIN"),
        (_dsx(_job("9Load")), "'9Load' is not a valid DataStage identifier"),
        (_dsx(_job("Load-Sales")), "not a valid DataStage identifier"),
        (_dsx(_job("Load Sales")), "not a valid DataStage identifier"),
        (_dsx(_job("")), "not a valid DataStage identifier"),
        (_dsx(_job("A" * 256)), "at most 255"),
        (_dsx(_job("Load") + _job("LOAD")), "appears twice"),
        (_dsx('BEGIN DSROUTINES\n   BEGIN DSRECORD\n      Identifier "Routines\\\\X\\\\_bad"\n   END DSRECORD\n'
              "END DSROUTINES\n"), "routine name '_bad'"),
    ],
)
def test_bad_dsx(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "p.dsx"
    f.write_text(text)
    with pytest.raises(pkg.PackageError, match=needle.replace("(", r"\(")):
        pkg.parse_package(str(f))


def test_valid_identifiers() -> None:
    for name in ("A", "Load_Sales_2026", "a" * 255, "x_"):
        assert pkg.check_identifier(name) == name


def test_other_sections_are_accepted_but_not_listed(tmp_path: Path) -> None:
    f = tmp_path / "p.dsx"
    f.write_text(_dsx('BEGIN DSTABLEDEFS\n   BEGIN DSRECORD\n      Identifier "Tables\\\\T"\n   END DSRECORD\n'
                      "END DSTABLEDEFS\n" + _job("OnlyJob")))
    assert pkg.summary(pkg.parse_package(str(f))["assets"])["jobs"] == ["OnlyJob"]


def test_bad_isx(tmp_path: Path) -> None:
    f = tmp_path / "p.isx"
    f.write_bytes(b"not a zip")
    with pytest.raises(pkg.PackageError, match="not a ZIP"):
        pkg.parse_package(str(f))
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("Jobs/X.pjb", _job("X"))
    with pytest.raises(pkg.PackageError, match=r"IS-MANIFEST\.MF is missing"):
        pkg.parse_package(str(f))
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr(pkg.MANIFEST, "Manifest-Version: 1.0\n")
    with pytest.raises(pkg.PackageError, match="holds no job"):
        pkg.parse_package(str(f))
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr(pkg.MANIFEST, "Manifest-Version: 1.0\n\nName: Jobs/X.pjb\nAsset-Type: job\nAsset-Name: X\n")
    with pytest.raises(pkg.PackageError, match="not in the archive"):
        pkg.parse_package(str(f))
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr(pkg.MANIFEST, "Manifest-Version: 1.0\n\nName: Jobs/X.pjb\nAsset-Type: job\nAsset-Name: Y\n")
        zf.writestr("Jobs/X.pjb", _job("X"))
    with pytest.raises(pkg.PackageError, match="does not hold the job Y"):
        pkg.parse_package(str(f))


def test_other_extensions_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "p.zip"
    f.write_text("x")
    with pytest.raises(pkg.PackageError, match=r"must be a \.dsx or \.isx"):
        pkg.parse_package(str(f))
