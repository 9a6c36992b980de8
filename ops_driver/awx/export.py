"""``ops-driver tower export``: the catalog's automated tasks as AWX / Ansible Tower objects.

Per automated task and environment a **job template** (catalog ID and environment in the name, the project, the
inventory ``inventories/<env>``, the task's playbook, ``job_tags`` = catalog ID, diff mode, job type asked at
launch so that a ``check`` job is the plan, the credentials by name, never two at once) with a **survey** from the
task's typed parameters (:mod:`ops_driver.awx.survey`). For every task whose change class needs approvals
(``policy/change.yml``: ``approvals`` > 0) a **workflow job template**: the check job, one approval node per
approval the class needs (timeout ``approval_timeout_s`` of the policy), then the run job.

RBAC: operators get ``execute`` on the job templates of the tasks that need no approval and on the workflows;
approvers get ``approval`` on the workflows; **nobody gets execute on the job template of a task that needs an
approval**, so it runs only as a node of its workflow (a workflow's nodes run with the workflow's permission).

Two outputs of the same objects (:func:`export`):

- ``tower_vars.yml``: variables for the ``awx.awx`` modules, applied by ``playbooks/tower_configure.yml``
  (credentials and teams by name as variables the admin sets: ``tower_credentials``, ``tower_teams``);
- ``awx-import.json``: the asset document ``awx import`` (awxkit) reads, natural keys as ``awx export`` writes them.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ops_driver.awx.survey import survey_spec
from ops_driver.catalog import Catalog, Task, load_catalog
from ops_driver.errors import InvalidInput
from ops_driver.evidence.governance import ChangePolicy, load_policy
from ops_driver.paths import ENVIRONMENTS, inventory_dir, project_root

DEFAULT_ENVIRONMENTS = ("prod", "dr", "maint")
#: AWX credential types of the credentials a job template needs: kind → (credential type name, type kind).
CREDENTIAL_TYPES = {"machine": ("Machine", "ssh"), "aws": ("Amazon Web Services", "cloud"),
                    "vault": ("Vault", "vault")}
#: Credentials by the inventory group a playbook's plays target: the AWS API runs on the control node; the ESA
#: module too (its password is in the vault); every other group is reached over SSH / WinRM and may read the vault.
GROUP_CREDENTIALS = {"aws_api": ("aws",), "esa_comm": ("vault",), "esa_core": ("vault",)}
DEFAULT_CREDENTIALS = ("machine", "vault")
VARS_FILE = "tower_vars.yml"
IMPORT_FILE = "awx-import.json"
_JINJA = re.compile(r"\{\{|\{%|\{#")
RBAC_NOTE = ("RBAC: give the operators' team execute on the job templates of tasks without approval and on the "
             "workflows, the approvers' team approval on the workflows, and nobody execute on the job template of "
             "a task that needs approval: it then runs only as a node of its workflow (check, approval, run). "
             "Keep operators and approvers in different teams: AWX does not stop a person who holds both roles "
             "from approving their own workflow, nor one person from approving both nodes of a major change.")


@dataclass(frozen=True)
class Settings:
    """Names of the AWX objects the export refers to (the admin's; every one has a default)."""

    organization: str = "Default"
    project: str = "ops-automation-collection"
    scm_url: str = ""
    scm_branch: str = "main"
    inventory_prefix: str = "ops-"
    credentials: dict[str, str] = field(default_factory=lambda: {"machine": "ops-machine", "aws": "ops-aws",
                                                                 "vault": "ops-vault"})
    operators_team: str = "ops-operators"
    approvers_team: str = "ops-approvers"


@dataclass
class Export:
    """What :func:`export` made: ``variables`` (``tower_vars.yml``) and ``assets`` (``awx-import.json``)."""

    environments: list[str]
    variables: dict[str, Any]
    assets: dict[str, list[dict[str, Any]]]
    job_templates: list[str]
    workflows: list[str]


def origin_url() -> str:
    """The URL of the project's git remote ``origin``, or "" when there is none."""
    try:
        done = subprocess.run(["git", "-C", str(project_root()), "remote", "get-url", "origin"], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def parse_environments(text: str | None) -> list[str]:
    """``prod,dr`` → ``["prod", "dr"]`` (default prod, dr, maint); InvalidInput (exit 2) for an unknown one."""
    if text is None:
        return list(DEFAULT_ENVIRONMENTS)
    envs = [e.strip() for e in text.split(",") if e.strip()]
    if not envs:
        raise InvalidInput("--environments: give one or more of " + ", ".join(ENVIRONMENTS))
    for env in envs:
        if env not in ENVIRONMENTS or not inventory_dir(env).is_dir():
            raise InvalidInput(f"--environments: unknown environment {env!r}; use one of {', '.join(ENVIRONMENTS)}")
    return list(dict.fromkeys(envs))


def playbook_groups(task: Task) -> list[str]:
    """The inventory groups the plays of the task's playbook target (``hosts:``)."""
    assert task.automation is not None
    plays = yaml.safe_load((project_root() / task.automation.playbook).read_text(encoding="utf-8")) or []
    return list(dict.fromkeys(str(p["hosts"]) for p in plays if isinstance(p, dict) and "hosts" in p))


def credential_kinds(task: Task) -> list[str]:
    """``machine``/``aws``/``vault``: the credentials the task's job template gets (:data:`GROUP_CREDENTIALS`)."""
    kinds: list[str] = []
    for group in playbook_groups(task):
        kinds += GROUP_CREDENTIALS.get(group, DEFAULT_CREDENTIALS)
    return [k for k in CREDENTIAL_TYPES if k in kinds]


def approvals_needed(task: Task, policy: ChangePolicy) -> int:
    """How many approvals the task's change class needs (``policy/change.yml``)."""
    assert task.automation is not None
    return policy.get(task.automation.change_class).approvals


def job_template_name(task: Task, environment: str) -> str:
    return f"{task.id} {task.name_en} [{environment}]"


def workflow_name(task: Task, environment: str) -> str:
    return f"{task.id} {task.name_en} [{environment}] (check, approve, run)"


def inventory_name(settings: Settings, environment: str) -> str:
    return f"{settings.inventory_prefix}{environment}"


def _no_jinja(value: Any, where: str) -> None:
    """Survey texts go into a variables file that Ansible templates: none may hold a Jinja delimiter."""
    if isinstance(value, str) and _JINJA.search(value):
        raise InvalidInput(f"{where}: {value!r} holds a Jinja delimiter; change its catalog text")
    if isinstance(value, dict):
        for k, v in value.items():
            _no_jinja(v, f"{where}.{k}")
    if isinstance(value, list):
        for i, v in enumerate(value):
            _no_jinja(v, f"{where}[{i}]")


def job_template(task: Task, environment: str, settings: Settings, credential_names: list[str]) -> dict[str, Any]:
    """The ``awx.awx.job_template`` parameters of one task in one environment."""
    assert task.automation is not None
    spec = survey_spec(task, environment)
    _no_jinja(spec, f"{task.id} survey")
    cls = task.automation.change_class
    return {
        "name": job_template_name(task, environment),
        "description": f"{task.name_ja}; change class {cls}; {task.automation.playbook} (ops-driver tower export)",
        "organization": settings.organization,
        "project": settings.project,
        "inventory": inventory_name(settings, environment),
        "playbook": task.automation.playbook,
        "job_type": "run",
        "job_tags": task.id,
        "diff_mode": True,
        "ask_job_type_on_launch": True,
        "allow_simultaneous": False,
        "credentials": credential_names,
        "survey_enabled": True,
        "survey_spec": spec,
    }


def _node_ref(name: str, settings: Settings) -> dict[str, Any]:
    return {"name": name, "type": "job_template", "organization": {"name": settings.organization}}


def workflow_job_template(task: Task, environment: str, settings: Settings, approvals: int,
                          timeout_s: int) -> dict[str, Any]:
    """The ``awx.awx.workflow_job_template`` of a task that needs ``approvals`` approvals: check → approvals → run.

    The check and the run node launch the same job template, with ``job_type`` check and run (the job template
    asks the job type at launch). Each approval node times out after ``timeout_s`` seconds; a check that fails,
    an approval denied or timed out ends the workflow before the run.
    """
    jt = job_template_name(task, environment)
    ids = ["check", *[f"approval-{i}" for i in range(1, approvals + 1)], "run"]
    nodes: list[dict[str, Any]] = []
    for i, ident in enumerate(ids):
        node: dict[str, Any] = {"identifier": ident}
        if ident in ("check", "run"):
            node["unified_job_template"] = _node_ref(jt, settings)
            node["job_type"] = ident
        else:
            n = int(ident.split("-")[1])
            node["unified_job_template"] = {
                "name": f"{task.id} [{environment}] approval {n} of {approvals}",
                "description": f"Approve the check job's changes of {task.id} [{environment}] "
                               f"(change class {task.automation.change_class if task.automation else ''}); "
                               "the approver is not the operator who launched the workflow",
                "type": "workflow_approval", "timeout": timeout_s}
        node["related"] = {"success_nodes": [{"identifier": ids[i + 1]}] if i + 1 < len(ids) else []}
        nodes.append(node)
    spec = survey_spec(task, environment)
    return {
        "name": workflow_name(task, environment),
        "description": f"{task.name_ja}: check job (the plan), {approvals} approval(s), then the run job",
        "organization": settings.organization,
        "allow_simultaneous": False,
        "survey_enabled": True,
        "survey_spec": spec,
        "workflow_nodes": nodes,
    }


def _variables(settings: Settings, environments: list[str], jts: list[dict[str, Any]],
               wfjts: list[dict[str, Any]], direct: list[str]) -> dict[str, Any]:
    """``tower_vars.yml``: credential names as references to ``tower_credentials`` (set by the admin)."""
    refs = {v: "{{ tower_credentials." + k + " }}" for k, v in settings.credentials.items()}
    workflows = [w["name"] for w in wfjts]
    roles: list[dict[str, Any]] = [
        {"role": "execute", "team": "{{ tower_teams.operators }}", "job_templates": direct},
        {"role": "execute", "team": "{{ tower_teams.operators }}", "workflows": workflows},
        {"role": "approval", "team": "{{ tower_teams.approvers }}", "workflows": workflows},
    ]
    var_jts = [{**jt, "credentials": [refs[c] for c in jt["credentials"]]} for jt in jts]
    return {
        "tower_organization": settings.organization,
        "tower_credentials": dict(settings.credentials),
        "tower_teams": {"operators": settings.operators_team, "approvers": settings.approvers_team},
        "tower_project": {"name": settings.project, "organization": settings.organization, "scm_type": "git",
                          "scm_url": settings.scm_url, "scm_branch": settings.scm_branch, "scm_clean": True,
                          "scm_update_on_launch": True,
                          "description": "Operations automation collection (ops-driver tower export)"},
        "tower_inventories": [{"name": inventory_name(settings, env), "organization": settings.organization,
                               "description": f"inventories/{env} of the project ({env})",
                               "source_path": f"inventories/{env}"} for env in environments],
        "tower_job_templates": var_jts,
        "tower_workflow_job_templates": wfjts,
        "tower_roles": [r for r in roles if r.get("job_templates") or r.get("workflows")],
    }


def _org(settings: Settings) -> dict[str, str]:
    return {"name": settings.organization, "type": "organization"}


def _nk(kind: str, name: str, settings: Settings) -> dict[str, Any]:
    return {"organization": _org(settings), "name": name, "type": kind}


def _credential_nk(kind: str, settings: Settings) -> dict[str, Any]:
    type_name, type_kind = CREDENTIAL_TYPES[kind]
    return {"organization": _org(settings), "name": settings.credentials[kind],
            "credential_type": {"name": type_name, "kind": type_kind, "type": "credential_type"}, "type": "credential"}


def _assets(settings: Settings, environments: list[str], jts: list[dict[str, Any]], wfjts: list[dict[str, Any]],
            direct: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The ``awx import`` document: each asset with its ``natural_key`` and ``related`` as ``awx export`` writes."""
    org = _org(settings)
    project_nk = _nk("project", settings.project, settings)
    projects = [{"name": settings.project, "description": "Operations automation collection (ops-driver tower "
                 "export)", "scm_type": "git", "scm_url": settings.scm_url, "scm_branch": settings.scm_branch,
                 "scm_clean": True, "scm_update_on_launch": True, "organization": org, "natural_key": project_nk,
                 "related": {}}]
    inventories, sources = [], []
    for env in environments:
        inv_nk = _nk("inventory", inventory_name(settings, env), settings)
        inventories.append({"name": inventory_name(settings, env), "description": f"inventories/{env} of the project",
                            "organization": org, "kind": "", "variables": "", "natural_key": inv_nk, "related": {}})
        src = f"{inventory_name(settings, env)} from the project"
        sources.append({"name": src, "description": f"inventories/{env}", "source": "scm",
                        "source_path": f"inventories/{env}", "source_project": project_nk, "inventory": inv_nk,
                        "overwrite": True, "overwrite_vars": True, "update_on_launch": True,
                        "natural_key": {"organization": org, "name": src, "inventory": inv_nk,
                                        "type": "inventory_source"}, "related": {}})
    kind_of = {v: k for k, v in settings.credentials.items()}
    job_templates = []
    for jt in jts:
        inv_nk = _nk("inventory", jt["inventory"], settings)
        fields = {k: v for k, v in jt.items() if k not in ("organization", "project", "inventory", "credentials",
                                                           "survey_spec")}
        job_templates.append({**fields, "organization": org, "project": project_nk, "inventory": inv_nk,
                              "natural_key": _nk("job_template", jt["name"], settings),
                              "related": {"credentials": [_credential_nk(kind_of[c], settings)
                                                          for c in jt["credentials"]],
                                          "survey_spec": jt["survey_spec"]}})
    workflows = []
    for wf in wfjts:
        wf_nk = _nk("workflow_job_template", wf["name"], settings)

        def node_nk(ident: str, wf_nk: dict[str, Any] = wf_nk) -> dict[str, Any]:
            return {"workflow_job_template": wf_nk, "identifier": ident, "type": "workflow_job_template_node"}

        nodes = []
        for node in wf["workflow_nodes"]:
            ujt = node["unified_job_template"]
            entry: dict[str, Any] = {"identifier": node["identifier"], "all_parents_must_converge": False,
                                     "workflow_job_template": wf_nk, "natural_key": node_nk(node["identifier"])}
            related: dict[str, Any] = {"success_nodes": [node_nk(s["identifier"])
                                                         for s in node["related"]["success_nodes"]],
                                       "failure_nodes": [], "always_nodes": [], "credentials": []}
            if ujt["type"] == "workflow_approval":
                related["create_approval_template"] = {"name": ujt["name"], "description": ujt["description"],
                                                       "timeout": ujt["timeout"]}
            else:
                entry["unified_job_template"] = _nk("job_template", ujt["name"], settings)
                entry["job_type"] = node["job_type"]
            entry["related"] = related
            nodes.append(entry)
        fields = {k: v for k, v in wf.items() if k not in ("organization", "survey_spec", "workflow_nodes")}
        workflows.append({**fields, "organization": org, "natural_key": wf_nk,
                          "related": {"survey_spec": wf["survey_spec"], "workflow_nodes": nodes}})

    def role(name: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "type": "role", "content_object": obj}

    operators = [role("Execute", _nk("job_template", n, settings)) for n in direct]
    operators += [role("Execute", w["natural_key"]) for w in workflows]
    approvers = [role("Approve", w["natural_key"]) for w in workflows]
    teams = [{"name": team, "description": what, "organization": org, "natural_key": _nk("team", team, settings),
              "related": {"roles": roles}}
             for team, what, roles in ((settings.operators_team, "launch the operations (execute)", operators),
                                       (settings.approvers_team, "approve the changes of workflows", approvers))]
    return {"projects": projects, "inventory": inventories, "inventory_sources": sources,
            "job_templates": job_templates, "workflow_job_templates": workflows, "teams": teams}


def export(environments: list[str] | None = None, settings: Settings | None = None, catalog: Catalog | None = None,
           policy: ChangePolicy | None = None) -> Export:
    """Build the AWX objects of every automated task for ``environments`` (default prod, dr, maint)."""
    settings = settings or Settings()
    envs = environments or list(DEFAULT_ENVIRONMENTS)
    catalog = catalog or load_catalog()
    policy = policy or load_policy()
    jts: list[dict[str, Any]] = []
    wfjts: list[dict[str, Any]] = []
    direct: list[str] = []
    for task in catalog.select(automated=True):
        creds = [settings.credentials[k] for k in credential_kinds(task)]
        approvals = approvals_needed(task, policy)
        for env in envs:
            jt = job_template(task, env, settings, creds)
            jts.append(jt)
            if approvals > 0:
                wfjts.append(workflow_job_template(task, env, settings, approvals, policy.approval_timeout_s))
            else:
                direct.append(jt["name"])
    return Export(environments=envs, variables=_variables(settings, envs, jts, wfjts, direct),
                  assets=_assets(settings, envs, jts, wfjts, direct), job_templates=[j["name"] for j in jts],
                  workflows=[w["name"] for w in wfjts])


def write(result: Export, out: Path) -> list[Path]:
    """Write ``tower_vars.yml`` and ``awx-import.json`` into ``out`` (created); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    vars_path, import_path = out / VARS_FILE, out / IMPORT_FILE
    header = ("# Generated by `ops-driver tower export`: the variables of playbooks/tower_configure.yml.\n"
              "# Set tower_credentials and tower_teams to the names of your AWX credentials and teams.\n"
              + "".join(f"# {line}\n" for line in textwrap.wrap(RBAC_NOTE, 116)))
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    vars_path.write_text(header + yaml.dump(result.variables, Dumper=dumper, allow_unicode=True, sort_keys=False,
                                            width=120), encoding="utf-8")
    import_path.write_text(json.dumps(result.assets, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return [vars_path, import_path]
