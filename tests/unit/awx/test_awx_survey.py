"""The AWX surveys (ops_driver/awx/survey.py, issue #16): every automated task's survey is compared with its
request schema (``ops_driver.request.params_schema``), so a parameter added to the catalog without its question
fails here; survey answers become the work request, checked as `ops-driver plan` checks it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from ops_driver.awx import survey
from ops_driver.catalog import Automation, Catalog, Param, Task, load_catalog
from ops_driver.errors import InvalidInput
from ops_driver.paths import project_root
from ops_driver.request import params_schema, parse_request

ROOT = project_root()
CATALOG = load_catalog()
AUTOMATED = CATALOG.select(automated=True)
#: AWX's own rules for a survey question (job_template_survey_spec.md of the AWX API): the question types, and the
#: Python type a default must have for each.
AWX_QUESTION_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                      "integer": int, "float": float}


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


def test_an_awx_survey_answer_holding_a_template_is_refused_by_the_job_check() -> None:
    """AWX marks survey answers !unsafe (unless ALLOW_JINJA_IN_EXTRA_VARS says otherwise); the job's work request
    check refuses a template delimiter anyway, as `ops-driver plan` does (issue #22)."""
    message = _job_message("INFO-013", {**JOB, "ops_survey_bucket": "joho-backup-sandbox",
                                        "ops_survey_key": "{{ lookup('pipe', 'id') }}", "ops_survey_dest_dir": "R"})
    assert message.startswith("params.key: holds a template delimiter")
    assert "holds a template delimiter" in _job_message("INFO-005", {**JOB, "ops_reason": "{% raw %}x{% endraw %}",
                                                                     "ops_survey_instances": "joho-web01"})
