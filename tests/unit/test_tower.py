"""ops-driver tower export and the AWX surveys (issue #16).

What is generated is checked against the installed ``awx.awx`` collection's own argument specs (``ansible-doc
--json``, validated with ansible-core's ArgumentSpecValidator) and against awxkit's own definitions of the import
format (resources, natural keys, related sets), never against hand-written copies. Every automated task's survey
is compared with its request schema (``ops_driver.request.params_schema``): a parameter added to the catalog
without its question fails here.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ops_driver.awx import export, survey
from ops_driver.catalog import Automation, Catalog, Param, Task, load_catalog
from ops_driver.cli import main
from ops_driver.errors import InvalidInput
from ops_driver.evidence.governance import load_policy, parse_policy, policy_path
from ops_driver.paths import project_root
from ops_driver.request import params_schema, parse_request
from tests.support.collections.ansible_collections.awx.awx.plugins.plugin_utils.recorder import (
    argument_spec,  # ansible-doc options -> an argument_spec, as the recording double of awx.awx validates
)

ROOT = project_root()
CATALOG = load_catalog()
AUTOMATED = CATALOG.select(automated=True)
POLICY = load_policy()
SETTINGS = export.Settings(scm_url="https://git.example.jp/ops/ops-automation-collection.git")
MODULES = ("project", "inventory", "inventory_source", "job_template", "workflow_job_template", "role", "import")
#: AWX's own rules for a survey question (job_template_survey_spec.md of the AWX API): the question types, and the
#: Python type a default must have for each.
AWX_QUESTION_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                      "integer": int, "float": float}


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


# ---------------------------------------------------------------- surveys

@pytest.mark.parametrize("task", AUTOMATED, ids=lambda t: t.id)
@pytest.mark.parametrize("env", ["prod", "sandbox"])
def test_survey_matches_the_request_schema_of_every_task(task: Task, env: str) -> None:
    """One question per parameter with the schema's rules; ticket, requested_by and reason required."""
    assert task.automation is not None
    spec = survey.survey_spec(task, env)["spec"]
    by_var = {q["variable"]: q for q in spec}
    assert len(by_var) == len(spec)  # AWX refuses a duplicated variable
    for field, var in survey.REQUEST_VARIABLES.items():
        assert by_var[var]["required"] is True and by_var[var]["question_name"] == field
    schema = params_schema(task, env)
    assert set(by_var) == set(survey.REQUEST_VARIABLES.values()) | {survey.SURVEY_PREFIX + n
                                                                      for n in schema["properties"]}
    for p in task.automation.params:
        q, rules = by_var[survey.SURVEY_PREFIX + p.name], schema["properties"][p.name]
        assert q["required"] == (p.name in schema["required"]), p.name
        values = rules.get("items", rules)
        expected = {("array", True): "multiselect", ("array", False): "textarea", ("integer", False): "integer",
                    ("boolean", False): "multiplechoice", ("string", True): "multiplechoice",
                    ("string", False): "password" if p.secret else "text"}[(rules["type"], "enum" in values)]
        assert q["type"] == expected, p.name
        if "enum" in values:
            assert q["choices"] == [str(c) for c in values["enum"]]
        if rules["type"] == "boolean":
            assert q["choices"] == ["true", "false"]
        if rules["type"] == "integer":
            assert (q.get("min"), q.get("max")) == (rules.get("minimum"), rules.get("maximum"))
        # the default answer converts back to the catalog default; a secret never has one
        if p.secret or p.default in (None, [], ""):
            assert "default" not in q
        else:
            assert survey.answer_value(p, q["default"]) == p.default, p.name
        # AWX's own rules: a known type, a default of the right type, choices that hold the default
        assert q["type"] in AWX_QUESTION_TYPES
        if "default" in q:
            assert isinstance(q["default"], AWX_QUESTION_TYPES[q["type"]]), p.name
        if q["type"] == "multiplechoice" and "default" in q:
            assert q["default"] in q["choices"]
        if q["type"] == "multiselect" and "default" in q:
            assert set(q["default"].splitlines()) <= set(q["choices"])


def test_survey_minimum_of_a_wait_follows_the_environment() -> None:
    task = CATALOG.get("INFO-005")
    def q(env: str) -> dict[str, Any]:
        return next(x for x in survey.questions(task, env) if x["variable"] == "ops_survey_wait_timeout")

    assert (q("prod")["min"], q("prod")["max"], q("prod")["default"]) == (30, 3600, 600)
    assert q("sandbox")["min"] == 1


def _synthetic_catalog(*params: Param) -> Catalog:
    base = CATALOG.get("INFO-005")
    auto = Automation(playbook="playbooks/info-005-ec2-stop.yml", tags=["TEST-001"], change_class="standard",
                      params=list(params))
    task = Task(id="TEST-001", area="INFO", category="t", name_ja="テスト", name_en="test", summary_ja="",
                cycle="on_demand", cycle_ja="随時", raw=base.raw, automation=auto)
    return Catalog(tasks={"TEST-001": task})


def test_a_secret_is_a_password_question_without_default_and_is_redacted() -> None:
    cat = _synthetic_catalog(Param(name="token", type="str", description="API token", required=True,
                                   secret=True, default="never-shown"))
    task = cat.get("TEST-001")
    q = survey.questions(task, "prod")[-1]
    assert q["type"] == "password" and "default" not in q
    job = {"awx_job_id": 3, "ops_environment": "prod", "ops_ticket": "REQ-1", "ops_requested_by": "a",
           "ops_reason": "b", "ops_survey_token": "s3cr3t-value"}
    checked = survey.check_job("TEST-001", job, check_mode=True, catalog=cat)
    assert checked.variables["token"] == "s3cr3t-value" and checked.has_secrets
    assert "s3cr3t-value" not in json.dumps(checked.summary)


# ---------------------------------------------------------------- survey answers → the work request

JOB = {"awx_job_id": 42, "ops_environment": "sandbox", "ops_ticket": "REQ-2026-1203-001", "ops_requested_by": "sato",
       "ops_reason": "patching"}


def _file_message(task: str, params: dict[str, Any], **top: Any) -> str:
    data = {"task": task, "environment": "sandbox", "ticket": "REQ-2026-1203-001", "requested_by": "sato",
            "reason": "patching", "params": params, **top}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(InvalidInput) as e:
        parse_request(yaml.safe_dump(data), CATALOG, source="r.yml")
    return str(e.value).removeprefix("r.yml: ")


def _job_message(task: str, job: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as e:
        survey.check_job(task, job, check_mode=True, catalog=CATALOG)
    text = str(e.value)
    assert text.startswith("AWX job 42: "), text
    return text.removeprefix("AWX job 42: ")


def test_survey_answers_become_the_typed_parameters_with_the_catalog_defaults() -> None:
    job = {**JOB, "ops_survey_instances": " joho-web01\n\njoho-ap01 \n", "ops_survey_wait_timeout": 30}
    checked = survey.check_job("INFO-005", job, check_mode=True, catalog=CATALOG)
    assert checked.variables == {"instances": ["joho-web01", "joho-ap01"], "wait_timeout": 30,
                                 "ops_run_id": "awx-job-42"}
    assert checked.request.ticket == "REQ-2026-1203-001" and checked.request.environment == "sandbox"
    job = {**JOB, "ops_survey_instances": "joho-web01", "ops_survey_no_reboot": "false",
           "ops_survey_generation": "", "ops_survey_retention": None}
    assert survey.check_job("INFO-011", job, check_mode=True, catalog=CATALOG).variables == {
        "instances": ["joho-web01"], "no_reboot": False, "generation": "pre-change", "wait_timeout": 1800,
        "ops_run_id": "awx-job-42"}


@pytest.mark.parametrize("job, task, params, top", [
    ({"ops_ticket": None}, "INFO-005", {"instances": ["a"]}, {"ticket": None}),
    ({"ops_ticket": "x"}, "INFO-005", {"instances": ["a"]}, {"ticket": "x"}),
    ({"ops_reason": ""}, "INFO-005", {"instances": ["a"]}, {"reason": ""}),
    ({"ops_environment": "production"}, "INFO-005", {"instances": ["a"]}, {"environment": "production"}),
    ({}, "INFO-005", {}, {}),  # no instances
    ({"ops_survey_instances": "a", "ops_survey_wait_timeout": "soon"}, "INFO-005",
     {"instances": ["a"], "wait_timeout": "soon"}, {}),
    ({"ops_survey_instances": "a", "ops_survey_wait_timeout": 5}, "INFO-005",
     {"instances": ["a"], "wait_timeout": 5}, {"environment": "prod"}),  # below prod's minimum (30)
    ({"instances": "joho-web01"}, "INFO-005", {"instances": "joho-web01"}, {}),  # typed extra var of the wrong type
    ({"ops_survey_instances": "bad name!"}, "INFO-005", {"instances": ["bad name!"]}, {}),
    ({"ops_survey_instances": "a", "ops_survey_no_reboot": "maybe"}, "INFO-011",
     {"instances": ["a"], "no_reboot": "maybe"}, {}),
    ({"ops_survey_operation": "erase"}, "COMM-025", {"operation": "erase"}, {}),
])
def test_a_bad_job_fails_with_the_message_ops_driver_gives_for_the_same_request(
        job: dict[str, Any], task: str, params: dict[str, Any], top: dict[str, Any]) -> None:
    full = {**JOB, **job}
    if "environment" in top:
        full["ops_environment"] = top["environment"]
    assert _job_message(task, full) == _file_message(task, params, **top)


def test_a_parameter_given_as_variable_and_as_survey_answer_is_refused() -> None:
    job = {**JOB, "instances": ["a"], "ops_survey_instances": "b"}
    assert "params.instances: given twice" in _job_message("INFO-005", job)


def test_a_run_job_after_the_check_job_of_a_workflow_acts_on_what_the_check_saw() -> None:
    planned = {"instances": ["i-0123456789abcdef0"], "ops_expected_states": {"i-0123456789abcdef0": "running"}}
    job = {**JOB, "ops_survey_instances": "joho-web01", "ops_apply_extravars": planned}
    run = survey.check_job("INFO-005", job, check_mode=False, catalog=CATALOG).variables
    assert run["instances"] == ["i-0123456789abcdef0"] and run["ops_expected_states"] == planned["ops_expected_states"]
    check = survey.check_job("INFO-005", job, check_mode=True, catalog=CATALOG).variables
    assert check["instances"] == ["joho-web01"] and "ops_expected_states" not in check


# ---------------------------------------------------------------- the playbooks

def test_every_operation_playbook_checks_the_work_request_first() -> None:
    for task in AUTOMATED:
        assert task.automation is not None
        plays = yaml.safe_load((ROOT / task.automation.playbook).read_text())
        first = plays[0]["pre_tasks"][0]
        assert first["work_request_check"] == {"task": task.id}, task.id
        assert "when" not in first  # the plugin itself lets any run but an AWX / Tower job through (reported ok)
        assert first["run_once"] is True and "tags" not in first  # the play's tag (the catalog ID) only
        assert not any(p.get("roles") for p in plays)  # roles: would run before pre_tasks' validation


def test_check_mode_false_only_on_read_only_calls_or_a_private_scratch_folder() -> None:
    """Tasks that must run for real in a check job (a Tower check job is the plan) may only read, or write into a
    private temporary folder they create and remove (DataStage's authfile and package copy)."""
    read_only = {"amazon.aws.ec2_instance_info", "ansible.builtin.ping", "ansible.windows.win_ping",
                 "ansible.builtin.uri", "ansible.builtin.command"}
    found = 0

    def tasks(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for t in items or []:
            out.append(t)
            for key in ("block", "rescue", "always"):
                out += tasks(t.get(key) or [])
        return out

    for path in sorted((ROOT / "roles").glob("*/tasks/*.yml")):
        items = tasks(yaml.safe_load(path.read_text()) or [])
        scratch = {t["register"] for t in items if "ansible.builtin.tempfile" in t and t.get("check_mode") is False}
        for t in items:
            if t.get("check_mode") is not False:
                continue
            found += 1
            module = next(k for k in t if "." in k and k not in ("ansible.builtin.block",))
            args = t[module]
            where = f"{path.relative_to(ROOT)}: {t.get('name')}"
            if module == "ansible.builtin.uri":
                assert args.get("method", "GET") == "GET", where
            elif module == "ansible.builtin.command":
                assert (args if isinstance(args, str) else args.get("cmd")) in ("id -u",), where
            elif module == "ansible.builtin.tempfile":
                assert args == {"state": "directory"} or args.get("state") == "directory", where
            elif module in ("ansible.builtin.copy", "ansible.builtin.file"):
                target = str(args.get("dest") or args.get("path"))
                assert any(re.match(r"^\{\{ " + re.escape(r) + r"\.path \}\}", target) for r in scratch), where
            else:
                assert module in read_only, where
    assert found >= 10


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


# ---------------------------------------------------------------- execution environment

def test_the_execution_environment_follows_the_lock_file() -> None:
    """The committed execution-environment.yml and its files are what `make ee` makes from requirements.lock."""
    from ops_driver.awx import ee

    lock = (ROOT / "requirements.lock").read_text()
    for rel, text in ee.files(lock).items():
        assert (ROOT / rel).read_text() == text, f"{rel} is out of date: run make ee"
    pins = dict(line.split("==") for line in (ROOT / "execution-environment" / "requirements.txt").read_text()
                .splitlines() if "==" in line)
    locked = {name: (version) for name, (_, version, _) in ee.parse_lock(lock).items()}
    assert all(locked[ee._normal(n)] == v for n, v in pins.items())
    for needed in ("ansible", "boto3", "botocore", "asyncssh", "pyzipper", "py7zr", "jsonschema", "pyyaml",
                   "cryptography", "referencing"):  # referencing: a dependency of jsonschema, found through the lock
        assert needed in pins, needed
    for tool in ("pytest", "moto", "ansible-lint", "molecule", "mypy", "ruff", "ansible-core", "ansible-runner"):
        assert tool not in pins, tool  # test tools stay out; the builder installs ansible-core and ansible-runner
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    assert definition["dependencies"]["ansible_core"]["package_pip"] == f"ansible-core=={locked['ansible-core']}"


def test_ansible_builder_creates_the_build_context(tmp_path: Path) -> None:
    builder = Path(sys.executable).parent / "ansible-builder"
    out = subprocess.run([str(builder), "create", "-f", str(ROOT / "execution-environment.yml"), "-c",
                          str(tmp_path / "context"), "--output-filename", "Containerfile"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    ctx = tmp_path / "context"
    containerfile = (ctx / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="docker.io/library/python:3.11-slim-bookworm"' in containerfile
    assert 'ARG PKGMGR="/usr/bin/apt-get"' in containerfile and "RUN apt-get update" in containerfile
    assert "ansible-core==2.19" in containerfile and "ansible-runner==" in containerfile
    assert (ctx / "_build" / "requirements.txt").read_text() == \
        (ROOT / "execution-environment" / "requirements.txt").read_text()
    bindep = (ctx / "_build" / "bindep.txt").read_text()
    assert all(f"{p} [platform:dpkg]" in bindep for p in ("p7zip-full", "rsync", "openssh-client"))
    for script in ("assemble", "install-from-bindep", "introspect.py", "entrypoint"):
        assert (ctx / "_build" / "scripts" / script).is_file()


# ---------------------------------------------------------------- signed content

@pytest.fixture()
def gnupg_home() -> Any:
    """A throwaway GnuPG home with one signing key (no passphrase); its agent is stopped afterwards."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="gpg-", dir="/tmp"))  # short: the agent's socket path has a length limit
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "ops-driver test <test@example.invalid>",
                    "ed25519", "sign", "never"], env=env, check=True, capture_output=True, timeout=60)
    yield env
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, timeout=30)
    shutil.rmtree(home, ignore_errors=True)


def test_make_sign_signs_the_content_and_a_changed_playbook_fails_verification(gnupg_home: dict[str, str],
                                                                              tmp_path: Path) -> None:
    tree = tmp_path / "project"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_bytes((ROOT / rel).read_bytes())
    env = {**gnupg_home, "GPG_TTY": "/dev/null", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    signed = subprocess.run(["make", "-s", "-C", str(ROOT), "sign", f"SIGN_TREE={tree}"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert signed.returncode == 0, signed.stdout + signed.stderr
    listed = (tree / ".ansible-sign" / "sha256sum.txt").read_text()
    assert "  playbooks/info-005-ec2-stop.yml\n" in listed and "  MANIFEST.in\n" in listed
    assert (tree / ".ansible-sign" / "sha256sum.txt.sig").is_file()
    assert not any(".ansible-sign/" in line or "/.git/" in line for line in listed.splitlines())

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(Path(sys.executable).parent / "ansible-sign"), "project", "gpg-verify", str(tree)],
                              env=env, capture_output=True, text=True, timeout=120)

    assert verify().returncode == 0
    playbook = tree / "playbooks" / "info-005-ec2-stop.yml"
    original = playbook.read_text()
    playbook.write_text(original.replace("ec2_power_state: stopped", "ec2_power_state: running"))
    failed = verify()
    assert failed.returncode != 0 and "Checksum mismatch: playbooks/info-005-ec2-stop.yml" in failed.stdout
    playbook.write_text(original)
    (tree / "playbooks" / "unreviewed.yml").write_text("- hosts: all\n")
    added = verify()
    assert added.returncode != 0 and "playbooks/unreviewed.yml" in added.stdout
    (tree / "playbooks" / "unreviewed.yml").unlink()
    assert verify().returncode == 0
    sig = tree / ".ansible-sign" / "sha256sum.txt"
    sig.write_text(listed.replace(listed.split()[0], "0" * 64, 1))  # the checksum list itself altered
    assert verify().returncode != 0


def test_an_awx_survey_answer_holding_a_template_is_refused_by_the_job_check() -> None:
    """AWX marks survey answers !unsafe (unless ALLOW_JINJA_IN_EXTRA_VARS says otherwise); the job's work request
    check refuses a template delimiter anyway, as `ops-driver plan` does (issue #22)."""
    message = _job_message("INFO-013", {**JOB, "ops_survey_bucket": "joho-backup-sandbox",
                                        "ops_survey_key": "{{ lookup('pipe', 'id') }}", "ops_survey_dest_dir": "R"})
    assert message.startswith("params.key: holds a template delimiter")
    assert "holds a template delimiter" in _job_message("INFO-005", {**JOB, "ops_reason": "{% raw %}x{% endraw %}",
                                                                     "ops_survey_instances": "joho-web01"})
