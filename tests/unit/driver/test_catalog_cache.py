"""catalog.load_documents caches the parsed YAML as JSON, keyed by the files' contents (issue #28)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver import catalog
from ops_driver.paths import catalog_dir


@pytest.fixture()
def copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the catalog, and a cache folder of this test's own."""
    monkeypatch.setenv("OPS_CACHE_DIR", str(tmp_path / "cache"))
    target = tmp_path / "catalog"
    shutil.copytree(catalog_dir(), target)
    return target


def _no_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the YAML was parsed again")

    monkeypatch.setattr(catalog.yaml, "load", refuse)


def test_second_load_reads_the_cache_and_gives_the_same_documents(copy: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    first = catalog.load_documents(copy)
    assert [p.name.startswith("catalog-") for p in (tmp_path / "cache").iterdir()] == [True]
    assert oct((next((tmp_path / "cache").iterdir())).stat().st_mode & 0o777) == "0o600"
    with monkeypatch.context() as m:
        _no_yaml(m)
        assert catalog.load_documents(copy) == first
        assert catalog.load_catalog(copy).get("INFO-005").name_en == catalog.load_catalog().get("INFO-005").name_en


def test_an_edit_of_the_catalog_misses_the_cache(copy: Path, tmp_path: Path) -> None:
    catalog.load_documents(copy)
    info = copy / "info.yml"
    doc = yaml.safe_load(info.read_text(encoding="utf-8"))
    doc["tasks"][0]["name_en"] = "Renamed for the test"
    info.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert catalog.load_documents(copy)["INFO"]["tasks"][0]["name_en"] == "Renamed for the test"
    assert len(list((tmp_path / "cache").iterdir())) == 1  # the older cache is removed


def test_no_cache_when_off_unwritable_or_not_json(copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_CACHE_DIR", "")
    assert catalog.cache_dir() is None
    catalog.load_documents(copy)
    assert not (tmp_path / "cache").exists()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("OPS_CACHE_DIR", str(blocked / "cache"))
    assert catalog.load_documents(copy)["INFO"]["tasks"]  # the cache cannot be written: still loads
    monkeypatch.setenv("OPS_CACHE_DIR", str(tmp_path / "cache"))
    help_yml = copy / "help.yml"
    help_yml.write_text(help_yml.read_text(encoding="utf-8") + "\nreviewed: 2026-12-07\n", encoding="utf-8")
    docs = catalog.load_documents(copy)
    assert str(docs["HELP"]["reviewed"]) == "2026-12-07"  # a date: JSON would not give it back
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_a_corrupt_cache_is_parsed_again(copy: Path, tmp_path: Path) -> None:
    first = catalog.load_documents(copy)
    cached = next((tmp_path / "cache").iterdir())
    cached.write_text("{not json", encoding="utf-8")
    assert catalog.load_documents(copy) == first
