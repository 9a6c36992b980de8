"""playbooks/tower_configure.yml with the variables of ``ops-driver tower export`` (no AWX here).

The playbook runs for real through ansible-playbook; a test double of awx.awx (tests/support/collections, first on
ANSIBLE_COLLECTIONS_PATH for these runs only) validates every module call against the REAL module's argument spec
(``ansible-doc --json`` of the installed collection) and records it. What is checked is what the playbook sends to
each awx.awx module, not an AWX server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.awx import export
from ops_driver.paths import project_root

pytestmark = pytest.mark.integration
ROOT = project_root()
BIN = Path(sys.executable).parent
MODULES = ("project", "inventory", "inventory_source", "job_template", "workflow_job_template", "role")


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("awx-specs")
    env = {**os.environ, "ANSIBLE_HOME": str(d / "ansible-home"), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)  # the installed awx.awx, not the double
    out = subprocess.run([str(BIN / "ansible-doc"), "--json", *(f"awx.awx.{m}" for m in MODULES)], env=env,
                         capture_output=True, text=True, check=True, timeout=120)
    path = d / "specs.json"
    path.write_text(out.stdout)
    return path


def configure(tmp_path: Path, specs: Path, variables: dict[str, Any]) -> tuple[int, list[dict[str, Any]], str]:
    vars_file = tmp_path / "tower_vars.yml"
    vars_file.write_text(yaml.safe_dump(variables, allow_unicode=True))
    log = tmp_path / "calls.jsonl"
    log.unlink(missing_ok=True)
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "tests" / "support" / "collections"),
           "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "OPS_AWX_SPECS": str(specs), "OPS_CONTRACT_LOG": str(log),
           "ANSIBLE_NOCOLOR": "1"}
    out = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(ROOT / "playbooks" /
                          "tower_configure.yml"), "-e", f"@{vars_file}"], env=env, capture_output=True, text=True,
                         timeout=600)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return out.returncode, calls, out.stdout + out.stderr


@pytest.fixture(scope="module")
def exported() -> export.Export:
    return export.export(["maint"], export.Settings(scm_url="https://git.example.jp/ops.git"))


def test_tower_configure_sends_every_generated_object_to_its_module(tmp_path: Path, specs: Path,
                                                                  exported: export.Export) -> None:
    v = exported.variables
    rc, calls, output = configure(tmp_path, specs, v)
    assert rc == 0, output
    by = {m: [c["params"] for c in calls if c["module"] == m] for m in MODULES}
    assert [c["module"] for c in calls][:3] == ["project", "inventory", "inventory_source"]  # before the templates
    assert by["project"] == [{**{k: val for k, val in v["tower_project"].items()}, "state": "present"}]
    assert [p["name"] for p in by["inventory"]] == ["ops-maint"]
    assert by["inventory_source"][0]["source_path"] == "inventories/maint"
    creds = v["tower_credentials"]
    expected_jts = [{**jt, "credentials": [creds[c.split(".")[1].rstrip(" }")] for c in jt["credentials"]],
                     "state": "present"} for jt in v["tower_job_templates"]]
    assert by["job_template"] == expected_jts  # every field, the survey included, credentials by their names
    assert by["workflow_job_template"] == [{**w, "state": "present"} for w in v["tower_workflow_job_templates"]]
    teams = v["tower_teams"]
    assert by["role"] == [{**r, "team": teams["operators" if r["role"] == "execute" else "approvers"],
                           "state": "present"} for r in v["tower_roles"]]


def test_tower_configure_refuses_without_a_project_url_and_calls_nothing(tmp_path: Path, specs: Path,
                                                                        exported: export.Export) -> None:
    variables = json.loads(json.dumps(exported.variables))
    variables["tower_project"]["scm_url"] = ""
    rc, calls, output = configure(tmp_path, specs, variables)
    assert rc != 0 and "INVALID INPUT: give the variables of `ops-driver tower export`" in output
    assert calls == []


def test_the_double_refuses_what_the_real_module_refuses(tmp_path: Path, specs: Path, exported: export.Export) -> None:
    variables = json.loads(json.dumps(exported.variables))
    variables["tower_job_templates"][0]["job_type"] = "plan"
    rc, calls, output = configure(tmp_path, specs, variables)
    assert rc != 0 and "job_type" in output and "run, check" in output
    bad = variables["tower_job_templates"][0]["name"]
    assert not any(c["params"].get("name") == bad for c in calls)  # refused; the other templates were sent
    assert not any(c["module"] in ("workflow_job_template", "role") for c in calls)  # the play stopped there
