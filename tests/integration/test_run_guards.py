"""Guards of a run against the sandbox: a read-only task that changes something, a raised change class.

INFO-005 (stop) stands in for a read-only task that would change something: the tests mark it ``read_only`` in a
copy of the catalog. The catalog's own read-only task, STAT-001, passes (tests/integration/test_datastage.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.catalog import Catalog, load_catalog
from ops_driver.evidence import bundles
from ops_driver.run import pipeline
from tests.integration.conftest import ids_by_name, states, write_request
from tests.support.approvals import approved

pytestmark = pytest.mark.integration


def _read_only_catalog(task_id: str) -> Catalog:
    catalog = load_catalog()
    task = catalog.get(task_id)
    assert task.automation is not None and not task.automation.read_only
    marked = dataclasses.replace(task, automation=dataclasses.replace(task.automation, read_only=True))
    return Catalog(tasks={**catalog.tasks, task_id: marked})


def test_a_read_only_task_whose_plan_would_change_is_refused(estate: Any, tmp_path: Path) -> None:
    before = states(estate)
    req = write_request(tmp_path / "r.yml", "INFO-005", {"instances": ["joho-web01"]})
    out = pipeline.plan(req, catalog=_read_only_catalog("INFO-005"))
    assert (out.status, out.exit_code) == ("refused", 4), out.message
    resource = f"ec2:instance/{ids_by_name(estate)['joho-web01']}"
    assert f"{resource} (stop)" in out.message and "read-only" in out.message
    assert states(estate) == before
    assert bundles.verify(bundles.bundle(out.run_id)) == []
    assert "Status: **refused** (exit 4)" in (out.path / "report.md").read_text()


def test_a_read_only_task_whose_apply_changed_fails_and_the_record_says_so(estate: Any, tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    write_request(path, "INFO-005", {"instances": ["joho-web01"]})
    path.write_text(path.read_text() + yaml.safe_dump({"change_class": "major"}))
    plan = pipeline.plan(path)  # the catalog as it is: planned
    assert plan.exit_code == 0, plan.message
    assert plan.manifest["change_class"] == "major" and plan.manifest["change_class_catalog"] == "standard"
    out = pipeline.apply(approved(plan.run_id), catalog=_read_only_catalog("INFO-005"))
    web01 = ids_by_name(estate)["joho-web01"]
    assert (out.status, out.exit_code) == ("failed", 3)
    assert f"the apply changed 1 resource(s): aws-sandbox ec2:instance/{web01} (stop)" in out.message
    assert states(estate)[web01] == "stopped"  # the run happened
    manifest = bundles.bundle(out.run_id).manifest()
    assert manifest["ansible_status"] == "successful" and manifest["status"] == "failed"
    assert manifest["message"] == out.message and manifest["comparison"]["matched"] == [f"ec2:instance/{web01}"]
    assert "| change class | major (raised by the work request; standard in the catalog) |" in (
        out.path / "report.md").read_text()
