"""ops-driver awx export (issue #16): the job templates, workflows and import document for AWX.

What is generated is checked against the installed ``awx.awx`` collection's own argument specs (``ansible-doc
--json``, validated with ansible-core's ArgumentSpecValidator) and against awxkit's own definitions of the import
format (resources, natural keys, related sets), never against hand-written copies. The surveys:
test_awx_survey.py; the execution environment and signed content: test_awx_ee.py.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ops_driver.awx import export, survey
from ops_driver.catalog import load_catalog
from ops_driver.cli import main
from ops_driver.evidence.governance import load_policy, parse_policy, policy_path
from ops_driver.paths import project_root
from tests.support.collections.ansible_collections.awx.awx.plugins.plugin_utils.recorder import (
    argument_spec,  # ansible-doc options -> an argument_spec, as the recording double of awx.awx validates
)

ROOT = project_root()
CATALOG = load_catalog()
AUTOMATED = CATALOG.select(automated=True)
POLICY = load_policy()
SETTINGS = export.Settings(scm_url="https://git.example.jp/ops/ops-automation-collection.git")
MODULES = ("project", "inventory", "inventory_source", "job_template", "workflow_job_template", "role", "import")


@pytest.fixture(scope="module")
def awx_docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``ansible-doc --json`` of the awx.awx modules, from the collection installed with the venv."""
    home = tmp_path_factory.mktemp("ansible-home")
    env = {**os.environ, "ANSIBLE_HOME": str(home), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    doc = Path(sys.executable).parent / "ansible-doc"
    out = subprocess.run([str(doc), "--json", *(f"awx.awx.{m}" for m in MODULES)], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    docs: dict[str, Any] = json.loads(out.stdout)
    assert set(docs) == {f"awx.awx.{m}" for m in MODULES}
    return docs


def validate(docs: dict[str, Any], module: str, params: dict[str, Any]) -> list[str]:
    spec = argument_spec(docs[f"awx.awx.{module}"]["doc"]["options"])
    result = ArgumentSpecValidator(spec).validate(copy.deepcopy(params))
    return [str(m) for m in result.error_messages]


@pytest.fixture(scope="module")
def exported() -> export.Export:
    return export.export(["prod", "dr", "maint"], SETTINGS)


# ---------------------------------------------------------------- awx.awx argument specs

def test_every_generated_object_passes_the_awx_awx_modules_argument_specs(awx_docs: dict[str, Any],
                                                                          exported: export.Export) -> None:
    v = exported.variables
    problems: list[str] = []
    project = {k: v["tower_project"][k] for k in v["tower_project"]}
    problems += validate(awx_docs, "project", project)
    for inv in v["tower_inventories"]:
        problems += validate(awx_docs, "inventory", {k: inv[k] for k in ("name", "organization", "description")})
        problems += validate(awx_docs, "inventory_source", {
            "name": f"{inv['name']} from the project", "inventory": inv["name"], "organization": inv["organization"],
            "source": "scm", "source_project": v["tower_project"]["name"], "source_path": inv["source_path"],
            "overwrite": True, "overwrite_vars": True, "update_on_launch": True})
    for jt in v["tower_job_templates"]:
        problems += [f"{jt['name']}: {m}" for m in validate(awx_docs, "job_template", jt)]
    for wf in v["tower_workflow_job_templates"]:
        problems += [f"{wf['name']}: {m}" for m in validate(awx_docs, "workflow_job_template", wf)]
    for role in v["tower_roles"]:
        problems += validate(awx_docs, "role", role)
    problems += validate(awx_docs, "import", {"assets": exported.assets})
    assert problems == []


def test_the_argument_spec_check_catches_a_wrong_field(awx_docs: dict[str, Any], exported: export.Export) -> None:
    jt = dict(exported.variables["tower_job_templates"][0])
    assert validate(awx_docs, "job_template", {**jt, "job_type": "plan"})  # not run/check
    assert validate(awx_docs, "job_template", {**jt, "ask_job_type": True})  # no such option
    wf = copy.deepcopy(exported.variables["tower_workflow_job_templates"][0])
    del wf["workflow_nodes"][0]["identifier"]
    assert validate(awx_docs, "workflow_job_template", wf)  # a node needs its identifier


def test_tower_configure_passes_every_generated_field_to_its_module(exported: export.Export) -> None:
    """The playbook hands each field of the export's variables to the module (nothing generated is dropped)."""
    play = yaml.safe_load((ROOT / "playbooks" / "tower_configure.yml").read_text())[0]
    by_loop = {t["loop"]: t for t in play["tasks"] if "loop" in t}
    for var in ("tower_job_templates", "tower_workflow_job_templates", "tower_roles"):
        task = by_loop["{{ " + var + " }}"]
        module = next(k for k in task if k.startswith("awx.awx."))
        passed = {k for k, val in task[module].items() if isinstance(val, str) and "item." + k in val}
        for entry in exported.variables[var]:
            assert set(entry) <= passed, f"{module} does not pass {set(entry) - passed}"
    project = next(t for t in play["tasks"] if "awx.awx.project" in t)["awx.awx.project"]
    assert set(exported.variables["tower_project"]) <= {k for k, val in project.items()
                                                        if "tower_project." + k in str(val)}


# ---------------------------------------------------------------- job templates and workflows

def test_one_job_template_per_automated_task_and_environment(exported: export.Export) -> None:
    jts = {jt["name"]: jt for jt in exported.variables["tower_job_templates"]}
    assert len(jts) == len(AUTOMATED) * 3
    for task in AUTOMATED:
        assert task.automation is not None
        for env in ("prod", "dr", "maint"):
            jt = jts[f"{task.id} {task.name_en} [{env}]"]
            assert jt["inventory"] == f"ops-{env}" and jt["playbook"] == task.automation.playbook
            assert (ROOT / jt["playbook"]).is_file()
            assert jt["job_tags"] == task.id and jt["job_type"] == "run"
            assert jt["diff_mode"] is True and jt["ask_job_type_on_launch"] is True
            assert jt["allow_simultaneous"] is False and jt["survey_enabled"] is True
            assert jt["credentials"] and all(c.startswith("{{ tower_credentials.") for c in jt["credentials"])
    inventories = {i["name"]: i["source_path"] for i in exported.variables["tower_inventories"]}
    assert inventories == {"ops-prod": "inventories/prod", "ops-dr": "inventories/dr", "ops-maint": "inventories/maint"}


def test_credentials_follow_the_hosts_a_playbook_targets() -> None:
    assert export.credential_kinds(CATALOG.get("INFO-005")) == ["aws"]  # hosts: aws_api
    assert export.credential_kinds(CATALOG.get("COMM-025")) == ["vault"]  # the ESA password is in the vault
    assert export.credential_kinds(CATALOG.get("STAT-011")) == ["machine", "vault"]  # over SSH, archive password
    for task in AUTOMATED:
        assert export.credential_kinds(task), task.id


def test_every_task_whose_class_needs_approval_gets_a_workflow_check_approvals_run(exported: export.Export) -> None:
    wfs = {w["name"]: w for w in exported.variables["tower_workflow_job_templates"]}
    needing = [t for t in AUTOMATED if POLICY.get(t.automation.change_class).approvals > 0]  # type: ignore[union-attr]
    assert {t.automation.change_class for t in needing} == {"minor", "major"}  # type: ignore[union-attr]
    assert len(wfs) == len(needing) * 3
    for task in needing:
        assert task.automation is not None
        n = POLICY.get(task.automation.change_class).approvals
        wf = wfs[export.workflow_name(task, "prod")]
        nodes = wf["workflow_nodes"]
        assert [x["identifier"] for x in nodes] == ["check", *[f"approval-{i}" for i in range(1, n + 1)], "run"]
        # each node leads to the next on success only: a failed check, a denied or timed-out approval ends it
        assert [x["related"]["success_nodes"] for x in nodes] == [[{"identifier": y["identifier"]}]
                                                                  for y in nodes[1:]] + [[]]
        assert all(set(x["related"]) == {"success_nodes"} for x in nodes)
        jt = export.job_template_name(task, "prod")
        assert (nodes[0]["unified_job_template"]["name"], nodes[0]["job_type"]) == (jt, "check")
        assert (nodes[-1]["unified_job_template"]["name"], nodes[-1]["job_type"]) == (jt, "run")
        for approval in nodes[1:-1]:
            assert approval["unified_job_template"]["type"] == "workflow_approval"
            assert approval["unified_job_template"]["timeout"] == POLICY.approval_timeout_s == 86400
        assert wf["survey_spec"] == survey.survey_spec(task, "prod") and wf["allow_simultaneous"] is False
    assert len(wfs[export.workflow_name(CATALOG.get("COMM-022"), "dr")]["workflow_nodes"]) == 4  # major: 2 approvals


def test_nobody_gets_execute_on_the_run_template_of_a_task_that_needs_approval(exported: export.Export) -> None:
    roles = exported.variables["tower_roles"]
    executable = {jt for r in roles if r["role"] == "execute" for jt in r.get("job_templates", [])}
    for task in AUTOMATED:
        assert task.automation is not None
        for env in ("prod", "dr", "maint"):
            name = export.job_template_name(task, env)
            assert (name in executable) == (POLICY.get(task.automation.change_class).approvals == 0), name
    workflows = set(exported.workflows)
    assert {w for r in roles if r["role"] == "execute" for w in r.get("workflows", [])} == workflows
    assert {w for r in roles if r["role"] == "approval" for w in r.get("workflows", [])} == workflows
    teams = {r["role"]: r["team"] for r in roles}
    assert teams == {"execute": "{{ tower_teams.operators }}", "approval": "{{ tower_teams.approvers }}"}


def test_the_policy_decides_which_tasks_get_a_workflow_and_its_timeout() -> None:
    data = yaml.safe_load(policy_path().read_text())
    data["classes"]["standard"]["approvals"] = 1
    data["classes"]["minor"]["approvals"] = 0
    data["approval_timeout_s"] = 3600
    policy = parse_policy(data, "test")
    result = export.export(["prod"], SETTINGS, policy=policy)
    by_class = {t.id: t.automation.change_class for t in AUTOMATED}  # type: ignore[union-attr]
    assert sorted(w.split(" ")[0] for w in result.workflows) == sorted(i for i, c in by_class.items()
                                                                       if c in ("standard", "major"))
    timeouts = {n["unified_job_template"]["timeout"] for w in result.variables["tower_workflow_job_templates"]
                for n in w["workflow_nodes"] if n["unified_job_template"]["type"] == "workflow_approval"}
    assert timeouts == {3600}


# ---------------------------------------------------------------- the import document (awxkit)

def test_the_import_document_follows_awxkit(exported: export.Export, awx_docs: dict[str, Any]) -> None:
    """Resources, natural keys and related sets as awxkit's export/import code defines them."""
    from awxkit.api import pages
    from awxkit.api.pages.api import DEPENDENT_EXPORT, EXPORTABLE_RESOURCES
    from awxkit.api.resources import resources

    assets = exported.assets
    assert set(assets) <= set(EXPORTABLE_RESOURCES)
    classes = {"projects": pages.Project, "inventory": pages.Inventory, "inventory_sources": pages.InventorySource,
               "job_templates": pages.JobTemplate, "workflow_job_templates": pages.WorkflowJobTemplate,
               "teams": pages.Team}
    modules = {"projects": "project", "inventory": "inventory", "inventory_sources": "inventory_source",
               "job_templates": "job_template", "workflow_job_templates": "workflow_job_template"}

    def check_nk(nk: dict[str, Any], cls: Any) -> None:
        assert set(nk) == set(cls.NATURAL_KEY) | {"type"}, (nk, cls.NATURAL_KEY)
        assert getattr(resources, nk["type"], None) is not None, nk["type"]  # how import finds its list endpoint

    dependent = {name for parent, name in DEPENDENT_EXPORT}
    assert {"SurveySpec", "WorkflowJobTemplateNode", "WorkflowApprovalTemplate"} <= dependent
    for resource, items in assets.items():
        for asset in items:
            check_nk(asset["natural_key"], classes[resource])
            if resource in modules:  # the asset's fields are the API's, which the module's options name too
                options = set(awx_docs[f"awx.awx.{modules[resource]}"]["doc"]["options"])
                assert set(asset) - {"natural_key", "related", "kind", "variables", "all_parents_must_converge"} \
                    <= options, (resource, set(asset) - options)
    for jt in assets["job_templates"]:
        assert set(jt["related"]) == {"credentials", "survey_spec"}
        for cred in jt["related"]["credentials"]:
            check_nk(cred, pages.Credential)
            check_nk(cred["credential_type"], pages.CredentialType)
    for wf in assets["workflow_job_templates"]:
        assert set(wf["related"]) == {"survey_spec", "workflow_nodes"}
        for node in wf["related"]["workflow_nodes"]:
            check_nk(node["natural_key"], pages.WorkflowJobTemplateNode)
            assert node["natural_key"]["workflow_job_template"] == wf["natural_key"]
            for succ in node["related"]["success_nodes"]:
                check_nk(succ, pages.WorkflowJobTemplateNode)
            if "create_approval_template" in node["related"]:
                assert "unified_job_template" not in node  # approval templates are made through their node
                assert node["related"]["create_approval_template"]["timeout"] == POLICY.approval_timeout_s
            else:
                check_nk(node["unified_job_template"], pages.JobTemplate)
    for team in assets["teams"]:
        for role in team["related"]["roles"]:
            assert set(role) == {"name", "type", "content_object"} and role["name"] in ("Execute", "Approve")
    names = {j["name"] for j in assets["job_templates"]}
    approved = {r["content_object"]["name"] for t in assets["teams"] for r in t["related"]["roles"]}
    assert approved & names == set(exported.variables["tower_roles"][0]["job_templates"])
    assert json.loads(json.dumps(assets)) == assets  # plain JSON


# ---------------------------------------------------------------- the command

def test_tower_export_writes_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "export"
    assert main(["tower", "export", "--environments", "prod,dr", "--out", str(out), "--scm-url",
                 "https://git.example.jp/ops.git", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["environments"] == ["prod", "dr"] and len(data["job_templates"]) == len(AUTOMATED) * 2
    assert "nobody execute on the job template" in data["rbac"]
    variables = yaml.safe_load((out / export.VARS_FILE).read_text())
    assert variables["tower_project"]["scm_url"] == "https://git.example.jp/ops.git"
    assets = json.loads((out / export.IMPORT_FILE).read_text())
    assert [j["name"] for j in assets["job_templates"]] == data["job_templates"]


@pytest.mark.parametrize("envs", ["production", ",", "prod,staging"])
def test_tower_export_refuses_an_unknown_environment(envs: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tower", "export", "--environments", envs, "--out", str(tmp_path / "x")]) == 2
    assert "--environments" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_environments_are_listed_once_in_the_order_given() -> None:
    assert export.parse_environments("dr, prod,,dr") == ["dr", "prod"]
    assert export.parse_environments(None) == ["prod", "dr", "maint"]
