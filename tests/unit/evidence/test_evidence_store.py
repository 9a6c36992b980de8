"""One evidence store per installation (#29): $OPS_EVIDENCE_DIR, else the configuration file, else <project>/evidence;
a new store and ledger only by `ops-driver evidence init`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ops_driver import paths
from ops_driver.cli import main
from ops_driver.errors import InvalidInput


@pytest.fixture()
def no_env_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $OPS_EVIDENCE_DIR; the configuration file is tmp_path/config.yml (absent until a test writes it)."""
    monkeypatch.delenv("OPS_EVIDENCE_DIR")
    config = tmp_path / "config.yml"
    monkeypatch.setenv("OPS_DRIVER_CONFIG", str(config))
    return config


def test_a_command_without_a_store_is_refused_naming_evidence_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPS_EVIDENCE_DIR", str(tmp_path / "elsewhere"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["evidence", "list"]) == 2
    err = capsys.readouterr().err
    assert "no evidence store at" in err and "ops-driver evidence init" in err and "$OPS_EVIDENCE_DIR" in err
    assert not (tmp_path / "elsewhere").exists() and list(work.iterdir()) == []  # nothing created


def test_evidence_init_starts_the_store_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("OPS_EVIDENCE_DIR", str(store))
    assert main(["evidence", "init", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["evidence_dir"] == str(store)
    assert (store / "ledger.jsonl").read_bytes() == b""
    assert main(["evidence", "head"]) == 0
    assert "the ledger is empty" in capsys.readouterr().out
    assert main(["evidence", "init"]) == 2  # a second init never starts a new ledger
    assert "exists already" in capsys.readouterr().err


def test_a_store_whose_ledger_went_missing_is_not_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    (store / "20261201T000000Z-INFO-005-plan-x").mkdir(parents=True)
    monkeypatch.setenv("OPS_EVIDENCE_DIR", str(store))
    assert main(["evidence", "list"]) == 2
    assert "the ledger is missing; restore it from the backup" in capsys.readouterr().err
    assert main(["evidence", "init"]) == 2
    assert "restore the ledger" in capsys.readouterr().err
    assert not (store / "ledger.jsonl").exists()


def test_the_configuration_file_names_the_store_from_any_folder(tmp_path: Path, no_env_store: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "var" / "evidence"
    no_env_store.write_text(f"evidence_dir: {store}\n")
    for folder in (tmp_path / "a", tmp_path / "b"):
        folder.mkdir()
        monkeypatch.chdir(folder)
        assert paths.evidence_location() == (store, f"evidence_dir in {no_env_store}")
    assert paths.init_evidence_store()[0] == store
    monkeypatch.chdir(tmp_path / "a")
    assert paths.evidence_dir() == store


def test_without_configuration_the_store_is_the_projects(no_env_store: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_DRIVER_CONFIG")
    monkeypatch.setattr(paths, "SYSTEM_CONFIG", tmp_path / "etc-config.yml")  # absent
    assert paths.config_files() == [paths.project_root() / "ops-driver.yml", tmp_path / "etc-config.yml"]
    monkeypatch.chdir(tmp_path)
    assert paths.evidence_location() == (paths.project_root() / "evidence", "the default, <project>/evidence")


@pytest.mark.parametrize(("text", "words"), [
    ("evidence_dir: relative/path\n", "evidence_dir: 'relative/path' is not valid; give the evidence store: an "
                                      "absolute path"),
    ("evidence_dir: [/a]\n", "evidence_dir: ['/a'] is not valid"),
    ("evidence_dir: \"/a\\x1b[2J\"\n", "is not valid"),
    ("evidance_dir: /var/x\n", "'evidance_dir': unknown key; the configuration has evidence_dir"),
    ("- /var/x\n", "the configuration is a YAML mapping"),
    ("a: &a [1]\nb: *a\n", "alias"),
])
def test_a_hostile_configuration_is_refused_naming_the_key(no_env_store: Path, text: str, words: str) -> None:
    no_env_store.write_text(text)
    with pytest.raises(InvalidInput) as e:
        paths.evidence_location()
    assert str(no_env_store) in str(e.value) and words in str(e.value)


def test_a_named_configuration_file_that_is_missing_is_an_error(no_env_store: Path) -> None:
    with pytest.raises(InvalidInput, match="no such configuration file"):
        paths.evidence_location()


def test_the_environment_variable_wins(tmp_path: Path, no_env_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_store.write_text("evidence_dir: /nowhere\n")
    monkeypatch.setenv("OPS_EVIDENCE_DIR", str(tmp_path / "e"))
    assert paths.evidence_location() == (tmp_path / "e", "$OPS_EVIDENCE_DIR")
    assert os.environ["OPS_DRIVER_CONFIG"] == str(no_env_store)
