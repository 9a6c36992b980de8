"""The catalog loader and its links to playbooks and roles."""

from __future__ import annotations

import time

import pytest
import yaml

from ops_driver.catalog import load_catalog, load_documents, validate_documents
from ops_driver.errors import InvalidInput
from ops_driver.paths import project_root

ROOT = project_root()


def test_catalog_loads_every_row_and_validates() -> None:
    catalog = load_catalog()
    assert len(catalog.tasks) == 72 + 29 + 33 + 38 + 15 + 21
    assert validate_documents(load_documents()) == []


def test_validation_reports_a_broken_document() -> None:
    docs = load_documents()
    docs["INFO"]["tasks"][0]["cycle"] = "hourly"
    docs["INFO"]["tasks"][1]["id"] = docs["INFO"]["tasks"][0]["id"]
    problems = validate_documents(docs)
    assert any("tasks.0.cycle" in p for p in problems)
    assert any("duplicate task ID INFO-001" in p for p in problems)


def test_unknown_id() -> None:
    with pytest.raises(InvalidInput, match="unknown catalog ID 'XYZ-1'"):
        load_catalog().get("XYZ-1")


def test_automated_tasks_have_a_playbook_tagged_with_their_id() -> None:
    automated = load_catalog().select(automated=True)
    assert [t.id for t in automated] == ["CORE-012", "CORE-023", "CORE-049", "COMM-022", "COMM-024", "COMM-025",
                                         "INFO-004", "INFO-005", "INFO-006", "INFO-011", "INFO-012", "INFO-013",
                                         "INFO-020", "INFO-021", "INFO-022", "INFO-023", "STAT-001", "STAT-006",
                                         "STAT-007", "STAT-011", "STAT-012", "STAT-013", "STAT-015"]
    site = (ROOT / "playbooks" / "site.yml").read_text()
    for task in automated:
        assert task.automation is not None
        playbook = ROOT / task.automation.playbook
        plays = yaml.safe_load(playbook.read_text())
        assert any(task.id in play.get("tags", []) for play in plays), task.id
        assert playbook.name in site
        assert task.id in task.automation.tags


def test_role_defaults_match_argument_specs() -> None:
    for role in sorted((ROOT / "roles").iterdir()):
        spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
        defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
        with_default = {k: v["default"] for k, v in spec.items() if "default" in v}
        assert defaults == with_default, role.name
        assert all(k.startswith(role.name + "_") for k in spec), role.name


def test_select_by_area() -> None:
    info = load_catalog().select("info")
    assert len(info) == 38 and info[0].id == "INFO-001" and info[-1].id == "INFO-038"


def test_catalog_loads_fast_enough_for_the_cli() -> None:
    # Not a benchmark (that is `make bench`): a guard that loading does not regress by an order of magnitude.
    start = time.perf_counter()
    load_catalog()
    assert time.perf_counter() - start < 2.0
