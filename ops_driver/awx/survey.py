"""AWX / Tower surveys of the catalog's tasks, and the work request an AWX job's variables make.

One question per typed parameter of a task (:func:`questions`), plus the three fields every work request has
(ticket, requested_by, reason). A survey answer reaches the playbook as an extra variable named
``ops_survey_<parameter>`` (never the parameter's own name: extra variables outrank every variable the playbook
could set, so a converted value could not replace the typed-in text). The first task of every operation
playbook (``action_plugins/work_request_check.py``) turns the answers back into typed parameters
(:func:`answer_value`), builds the work request and validates it with :func:`ops_driver.request.parse_request` —
the same schema and the same messages as ``ops-driver plan`` — then hands the parameters to the play as
variables (:func:`check_job`).

How each parameter type is asked (AWX ``survey_spec`` question types):

============================  ==================  ==============================================================
catalog type                   question type       answer → parameter
============================  ==================  ==============================================================
``str``/``path`` + choices     ``multiplechoice``  as given
``str``/``path``               ``text``            as given (``password`` for a ``secret``: no default, ever)
``int``                        ``integer``         as given (``min``/``max`` from the catalog, per environment)
``bool``                       ``multiplechoice``  ``true``/``false`` → True/False
``list`` with element choices  ``multiselect``     the list AWX sends (or one choice a line)
``list``                       ``textarea``        one element a line; blank lines and surrounding spaces dropped
============================  ==================  ==============================================================

An empty answer (``""`` or null, as AWX sends for an optional question left blank, depending on its version) means
"not given": the catalog default applies, as for a request without the parameter. Anything that cannot be
converted is passed on unchanged, so that the validation rejects it with ops-driver's own message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ops_driver.catalog import Catalog, Param, Task, load_catalog
from ops_driver.errors import InvalidInput
from ops_driver.request import REDACTED, Request, param_schema, parse_request

#: Prefix of the extra variable that carries the survey answer for a parameter.
SURVEY_PREFIX = "ops_survey_"
#: Variables of the work request's own fields (the roles read ``ops_ticket`` and ``ops_requested_by``).
REQUEST_VARIABLES = {"ticket": "ops_ticket", "requested_by": "ops_requested_by", "reason": "ops_reason"}
#: Variables that mark a job launched by AWX (``awx_*``) or by Ansible Tower (``tower_*``).
JOB_ID_VARIABLES = ("awx_job_id", "tower_job_id")
BOOL_CHOICES = ("true", "false")
_REQUEST_QUESTIONS = (
    ("ticket", "text", "Work request / change number (運用作業依頼書), for example REQ-2026-1122-001: letters, "
                       "digits, '.', '_' and '-', 3-64 characters. Recorded in the evidence and in resource tags."),
    ("requested_by", "text", "Who asked for the work (依頼者)."),
    ("reason", "textarea", "Why the work is done, in a sentence (作業理由)."),
)
#: What :func:`answer_value` returns for an empty answer (the parameter is then not in the request).
NOT_GIVEN: Any = object()


def variable(param: Param) -> str:
    """The extra variable that carries the survey answer for ``param``: ``ops_survey_<name>``."""
    return SURVEY_PREFIX + param.name


def question_type(param: Param) -> str:
    """The AWX question type for a catalog parameter (see the module docstring)."""
    if param.type == "list":
        return "multiselect" if param.choices else "textarea"
    if param.type == "bool":
        return "multiplechoice"
    if param.type == "int":
        return "integer"
    if param.secret:
        return "password"
    return "multiplechoice" if param.choices else "text"


def _default_answer(param: Param) -> Any:
    """The survey default that converts back to the catalog default (None: the question has no default)."""
    if param.secret or param.default is None or param.default == "":
        return None
    if param.type == "bool":
        return "true" if param.default else "false"
    if param.type == "list":
        return "\n".join(str(x) for x in param.default) if param.default else None
    return param.default


def question(param: Param, environment: str) -> dict[str, Any]:
    """One AWX survey question for ``param`` in ``environment``.

    Returns a ``survey_spec`` item: ``type``, ``question_name``, ``question_description``, ``variable``,
    ``required``, and where they apply ``default``, ``choices`` (a list of strings) and ``min``/``max`` (integers:
    the catalog's ``minimum``/``maximum``; the sandbox's ``sandbox_minimum`` for ``environment`` "sandbox").
    """
    qtype = question_type(param)
    rules = param_schema(param, environment)
    element_rules = rules.get("items", rules)
    hint = ""
    if qtype == "textarea":
        hint = " One per line."
    elif qtype == "multiselect":
        hint = " Select one or more."
    if param.pattern:
        hint += f" Must match {param.pattern}."
    q: dict[str, Any] = {"type": qtype, "question_name": param.name, "question_description": param.description + hint,
                         "variable": variable(param), "required": bool(param.required)}
    if qtype == "multiplechoice" and param.type == "bool":
        q["choices"] = list(BOOL_CHOICES)
    elif qtype in ("multiplechoice", "multiselect"):
        q["choices"] = [str(c) for c in element_rules["enum"]]
    if qtype == "integer":
        if "minimum" in rules:
            q["min"] = rules["minimum"]
        if "maximum" in rules:
            q["max"] = rules["maximum"]
    default = _default_answer(param)
    if default is not None:
        q["default"] = default
    return q


def request_questions() -> list[dict[str, Any]]:
    """The required questions of every survey: ticket, requested_by and reason (variables ``ops_*``)."""
    out = []
    for field, qtype, description in _REQUEST_QUESTIONS:
        out.append({"type": qtype, "question_name": field, "question_description": description,
                    "variable": REQUEST_VARIABLES[field], "required": True})
    return out


def questions(task: Task, environment: str) -> list[dict[str, Any]]:
    """Every question of the task's survey: the request's own fields first, then one per parameter."""
    assert task.automation is not None, f"{task.id} is a manual task"
    return request_questions() + [question(p, environment) for p in task.automation.params]


def survey_spec(task: Task, environment: str) -> dict[str, Any]:
    """The AWX ``survey_spec`` of a task's job template (and of its approval workflow)."""
    return {"name": f"{task.id} work request", "description": f"{task.name_en} / {task.name_ja}",
            "spec": questions(task, environment)}


def answer_value(param: Param, answer: Any) -> Any:
    """Convert one survey answer back to the parameter's type. Returns :data:`NOT_GIVEN` for an empty answer."""
    if answer is None or answer == "":
        return NOT_GIVEN
    if param.type == "list" and isinstance(answer, str):
        lines = [line.strip() for line in answer.splitlines()]
        items = [line for line in lines if line]
        return items if items else NOT_GIVEN
    if param.type == "bool" and isinstance(answer, str) and answer.strip().lower() in BOOL_CHOICES:
        return answer.strip().lower() == "true"
    return answer



def job_source(job_vars: dict[str, Any]) -> str:
    """How messages name the job: ``AWX job 42`` / ``Tower job 42``, else ``AWX job``."""
    for name, label in (("awx_job_id", "AWX job"), ("tower_job_id", "Tower job")):
        if job_vars.get(name) not in (None, ""):
            return f"{label} {job_vars[name]}"
    return "AWX job"


def request_from_vars(task: Task, job_vars: dict[str, Any]) -> dict[str, Any]:
    """The work request a job's variables make (not yet validated).

    ``environment`` is the inventory's ``ops_environment``; ticket, requested_by and reason come from
    ``ops_ticket``, ``ops_requested_by`` and ``ops_reason``; each parameter from its survey answer
    (``ops_survey_<name>``, converted by :func:`answer_value`) or from a variable with the parameter's own name (as
    given: a launch through the API with typed extra variables). Raises InvalidInput when a parameter is given
    both ways.
    """
    assert task.automation is not None, f"{task.id} is a manual task"
    data: dict[str, Any] = {"task": task.id, "environment": job_vars.get("ops_environment")}
    for field, var in REQUEST_VARIABLES.items():
        data[field] = job_vars.get(var)
    params: dict[str, Any] = {}
    for p in task.automation.params:
        answer = answer_value(p, job_vars.get(variable(p)))
        if p.name in job_vars:
            if answer is not NOT_GIVEN:
                raise InvalidInput(f"{job_source(job_vars)}: params.{p.name}: given twice, as the variable {p.name} "
                                   f"and as the survey answer {variable(p)}; give one")
            params[p.name] = job_vars[p.name]
        elif answer is not NOT_GIVEN:
            params[p.name] = answer
    data["params"] = params
    return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class CheckedJob:
    """A job whose work request is valid: ``variables`` are what the play gets (``request.params``, defaults
    filled in, plus ``ops_run_id`` and, for a run job after a check job in a workflow, the check's
    ``ops_apply_extravars``); ``summary`` is the request with secrets as ``********`` (safe to print)."""

    request: Request
    variables: dict[str, Any]
    summary: dict[str, Any]
    has_secrets: bool


def check_job(task_id: str, job_vars: dict[str, Any], check_mode: bool, catalog: Catalog | None = None) -> CheckedJob:
    """Validate the work request of an AWX job exactly as ``ops-driver plan`` validates a request file.

    Args:
        task_id: the catalog ID of the playbook (its ``work_request_check`` task says it).
        job_vars: the job's variables (extra variables and the inventory's ``ops_environment``).
        check_mode: the job runs in check mode (job type ``check``): the plan.
        catalog: the catalog (default: ``catalog/*.yml``).

    Raises InvalidInput with the message ``ops-driver`` prints for the same request (``<source>: <field>: …``,
    the source being ``AWX job <id>``).
    """
    catalog = catalog or load_catalog()
    task = catalog.get(task_id)
    if not task.automated:
        raise InvalidInput(f"task: {task.id} is a manual task of the catalog and has no playbook")
    data = request_from_vars(task, job_vars)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    req = parse_request(text, catalog, source=job_source(job_vars))
    variables = dict(req.params)
    job_id = next((job_vars[v] for v in JOB_ID_VARIABLES if job_vars.get(v) not in (None, "")), None)
    if "ops_run_id" not in job_vars and job_id is not None:
        variables["ops_run_id"] = f"awx-job-{job_id}"
    planned = job_vars.get("ops_apply_extravars")
    if not check_mode and isinstance(planned, dict):
        # A run job after the check job of an approval workflow: AWX passes the check's set_stats artifacts on as
        # extra variables; the run then acts on exactly what the check saw, as `ops-driver apply` does.
        variables.update(planned)
    summary = {"task": req.task, "environment": req.environment, "ticket": req.ticket,
               "requested_by": req.requested_by, "reason": req.reason,
               "params": {k: (REDACTED if (p := task.automation.param(k)) is not None and p.secret else v)
                          for k, v in req.params.items()} if task.automation else {}}
    has_secrets = bool(task.automation and any(p.secret for p in task.automation.params))
    return CheckedJob(request=req, variables=variables, summary=summary, has_secrets=has_secrets)
