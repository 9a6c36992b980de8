"""The catalog loader and its links to playbooks and roles."""

from __future__ import annotations

import pytest
import yaml

from ops_driver.catalog import (
    TIMEOUT_MINUTES_DEFAULT,
    TIMEOUT_MINUTES_MAX,
    load_catalog,
    load_documents,
    schema,
    validate_documents,
)
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
    automated = load_catalog().select(automated=True)  # which tasks: tests/unit/driver/test_wiring.py
    assert len(automated) >= 23 and [t.id for t in automated] == sorted(
        (t.id for t in automated), key=lambda i: (["CORE", "COMM", "INFO", "STAT"].index(i[:4]), i))
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


def test_every_automated_task_has_a_time_limit_longer_than_its_longest_wait() -> None:
    """A role's own wait must time out (and report) before the run's limit stops the playbook."""
    for task in load_catalog().select(automated=True):
        assert task.automation is not None
        limit = task.automation.timeout_minutes
        assert 1 <= limit <= TIMEOUT_MINUTES_MAX, task.id
        for p in task.automation.params:
            if p.name.endswith("timeout") and p.maximum is not None:  # seconds
                assert limit * 60 > p.maximum, f"{task.id}: {limit} min, {p.name} up to {p.maximum} s"


def test_the_time_limit_default_and_maximum_are_the_schema_s() -> None:
    rules = schema()["$defs"]["automation"]["properties"]["timeout_minutes"]
    assert (rules["default"], rules["maximum"], rules["minimum"]) == (TIMEOUT_MINUTES_DEFAULT, TIMEOUT_MINUTES_MAX, 1)
    docs = load_documents()
    info_004 = next(t for t in docs["INFO"]["tasks"] if t["id"] == "INFO-004")
    info_004["automation"]["timeout_minutes"] = TIMEOUT_MINUTES_MAX + 1
    assert any("timeout_minutes" in p for p in validate_documents(docs))
    missing = next(t for t in load_catalog().select(automated=True) if "timeout_minutes" not in t.raw["automation"])
    assert missing.automation is not None and missing.automation.timeout_minutes == TIMEOUT_MINUTES_DEFAULT
