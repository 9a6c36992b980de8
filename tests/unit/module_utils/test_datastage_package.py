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
            "routines": ["ConvWareki"], "shared_containers": ["SC_CleanDates"], "table_definitions": []}


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


def test_isx_has_the_xml_manifest_and_the_executables() -> None:
    """The sample .isx is in istool's layout: XML IS-MANIFEST.MF, members HOST/PROJECT/folder/Name.ext, jobs with
    their executables (.bin, includeexecutable true)."""
    with zipfile.ZipFile(SAMPLES / "release-R2026-11.isx") as zf:
        manifest = zf.read(pkg.MANIFEST).decode()
        names = zf.namelist()
    assert manifest.startswith('<?xml version="1.0" encoding="UTF-8"?><com.ibm.iis.istools.ai.core:Manifest ')
    assert '<entries name="LoadSales" path="DSENGINE01/STATDEV/Jobs/Release/LoadSales.pjb"' in manifest
    assert "DSENGINE01/STATDEV/Jobs/Release/LoadSales.bin" in names
    isx = pkg.parse_package(str(SAMPLES / "release-R2026-11.isx"))["assets"]
    dsx = pkg.parse_package(str(SAMPLES / "release-R2026-11.dsx"))["assets"]
    assert [(a["kind"], a["name"]) for a in isx] == [(a["kind"], a["name"]) for a in dsx]
    assert [a["name"] for a in isx if a["executable"]] == ["AggregateMonthly", "LoadSales", "SeqMonthly"]


def test_write_isx_round_trip(tmp_path: Path) -> None:
    assets = [dict(kind="job", name="LoadSales", ext="pjb", folder="Jobs/Release", executable=b"BEGIN HEADER\n",
                   data=pkg.sdo_xml("job", "LoadSales", "parallel", "Load sales").encode()),
              dict(kind="table_definition", name="T_SALES", ext="tbd", folder="Table Definitions/ODBC",
                   executable=None, data=pkg.sdo_xml("table_definition", "T_SALES").encode())]
    out = pkg.write_isx(str(tmp_path / "x.isx"), "DSENGINE01", "STATPRJ", assets)
    again = pkg.parse_package(out)
    assert [(a["kind"], a["name"], a["path"], a["executable"]) for a in again["assets"]] == [
        ("table_definition", "T_SALES", "Table Definitions/ODBC/T_SALES.tbd", False),
        ("job", "LoadSales", "Jobs/Release/LoadSales.pjb", True)]
    assert again["header"] == {"ServerName": "DSENGINE01", "ToolInstanceID": "STATPRJ"}


def test_the_digest_leaves_out_what_an_import_rewrites() -> None:
    one = pkg.sdo_xml("job", "LoadSales", "parallel", "x", stamp="2026-11-18T08:30:00.000+0000").encode()
    two = one.replace(b"2026-11-18T08:30:00.000+0000", b"2026-12-01T00:00:00.000+0000").replace(
        b'optimisticLockID="1"', b'optimisticLockID="7"')
    assert pkg.definition_digest(one) == pkg.definition_digest(two)
    assert pkg.definition_digest(one) != pkg.definition_digest(one.replace(b"x", b"y", 1))


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


def _manifest(*entries: tuple[str, str]) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><com.ibm.iis.istools.ai.core:Manifest xmi:version="2.0" '
            'xmlns:xmi="http://www.omg.org/XMI" xmlns:com.ibm.iis.istools.ai.core="http://com.ibm.iis.istools.ai.core/'
            'manifest">' + "".join('<entries name="{}" path="{}"/>'.format(*e) for e in entries)
            + "</com.ibm.iis.istools.ai.core:Manifest>")


@pytest.mark.parametrize(
    ("manifest", "members", "needle"),
    [
        ("Manifest-Version: 1.0\n", {}, "not the XML manifest"),
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', {}, "DOCTYPE"),
        ("<other/>", {}, "not istool's Manifest"),
        (_manifest(), {}, "holds no job"),
        (_manifest(("X", "H/P/Jobs/X.pjb")), {}, "not in the archive"),
        (_manifest(("Y", "H/P/Jobs/X.pjb")), {"H/P/Jobs/X.pjb": "<x/>"}, "entry Y names the member"),
        (_manifest(("X", "H/P/../X.pjb")), {"H/P/../X.pjb": "<x/>"}, "not an istool asset path"),
        (_manifest(("X", "/H/P/X.pjb")), {}, "not an istool asset path"),
        (_manifest(("X", "H/P/Jobs/X.exe")), {"H/P/Jobs/X.exe": "<x/>"}, "not a DataStage asset"),
        (_manifest(("9X", "H/P/Jobs/9X.pjb")), {"H/P/Jobs/9X.pjb": "<x/>"}, "not a valid DataStage identifier"),
        (_manifest(("X", "H/P/Jobs/X.pjb"), ("x", "H/P/Other/x.pjb")),
         {"H/P/Jobs/X.pjb": "<x/>", "H/P/Other/x.pjb": "<x/>"}, "appears twice"),
    ],
)
def test_bad_isx(tmp_path: Path, manifest: str, members: dict[str, str], needle: str) -> None:
    f = tmp_path / "p.isx"
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr(pkg.MANIFEST, manifest)
        for name, text in members.items():
            zf.writestr(name, text)
    with pytest.raises(pkg.PackageError, match=needle):
        pkg.parse_package(str(f))


def test_not_an_isx(tmp_path: Path) -> None:
    f = tmp_path / "p.isx"
    f.write_bytes(b"not a zip")
    with pytest.raises(pkg.PackageError, match="not a ZIP"):
        pkg.parse_package(str(f))
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("H/P/Jobs/X.pjb", "<x/>")
    with pytest.raises(pkg.PackageError, match=r"IS-MANIFEST\.MF is missing"):
        pkg.parse_package(str(f))


def test_the_package_is_read_inside_its_root(tmp_path: Path) -> None:
    """The NAS role's confinement: relative path, no '..', no symbolic link anywhere below the root."""
    root = tmp_path / "share"
    (root / "release" / "R1").mkdir(parents=True)
    (root / "release" / "R1" / "p.dsx").write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "p.dsx").write_bytes(b"secret")
    (root / "release" / "out").symlink_to(outside)
    (root / "release" / "R1" / "link.dsx").symlink_to(outside / "p.dsx")
    assert pkg.read_confined(str(root), "release/R1/p.dsx") == b"x"
    for rel, needle in [("release/out/p.dsx", "symbolic link"), ("release/R1/link.dsx", "symbolic link"),
                        ("release/../../outside/p.dsx", "without '..'"), ("/etc/passwd", "relative"),
                        ("release//R1/p.dsx", "empty parts"), ("release/R1/none.dsx", "No such file"),
                        ("release/R1", "not a regular file")]:
        with pytest.raises(pkg.PackageError, match=needle) as e:
            pkg.read_confined(str(root), rel)
        assert e.value.field == "package"
    with pytest.raises(pkg.PackageError, match="larger than 0 bytes"):
        pkg.read_confined(str(root), "release/R1/p.dsx", limit=0)
    with pytest.raises(pkg.PackageError, match="absolute"):
        pkg.read_confined("share", "release/R1/p.dsx")


def test_other_extensions_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "p.zip"
    f.write_text("x")
    with pytest.raises(pkg.PackageError, match=r"must be a \.dsx or \.isx"):
        pkg.parse_package(str(f))
