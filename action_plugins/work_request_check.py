# Action plugin work_request_check: validate the work request of an AWX / Ansible Tower job before anything runs.
#
# The first task of every operation playbook. It checks only a job that comes from AWX or Tower (`awx_job_id` or
# `tower_job_id` is defined); for any other run (ops-driver has already validated the request file) it returns at
# once, without importing anything, and reports ok - not skipped, so that no plan's report lists it among the
# tasks skipped in check mode. For an AWX job it builds the work request from the job's variables — the survey
# answers `ops_survey_<parameter>`, `ops_ticket`, `ops_requested_by`, `ops_reason` and the inventory's
# `ops_environment` — and validates it with
# ops_driver.request, the code `ops-driver plan` runs: the same JSON Schema from the catalog, the same messages. An
# invalid request fails the task with `INVALID INPUT: AWX job <id>: <field>: …` before any other task; a valid one
# hands the typed parameters (catalog defaults filled in) to the play as host facts: a list typed as lines in a
# survey textarea becomes a list, "true"/"false" a boolean. See ops_driver/awx/survey.py.
#
# An action plugin, not a module: it runs on the controller (the project's ops_driver is there; the targets may be
# Windows servers or network appliances), once per play with `run_once: true`.
#
#   - name: Check the work request of an AWX / Tower job
#     work_request_check:
#       task: INFO-005
#     run_once: true

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_FIXED = ("ops_environment", "ops_ticket", "ops_requested_by", "ops_reason", "awx_job_id", "tower_job_id",
          "ops_run_id", "ops_apply_extravars")


def _ops_driver() -> tuple[Any, Any, Any]:
    """Import ops_driver from this project (the checkout AWX made of the project, or the working tree)."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    try:
        from ops_driver import catalog
        from ops_driver.awx import survey
        from ops_driver.errors import InvalidInput
    except ImportError as e:  # the execution environment lacks a dependency of ops_driver (jsonschema, PyYAML)
        raise AnsibleActionFail(f"work_request_check needs the project's ops_driver and its Python packages "
                                f"(execution-environment.yml): {e}") from e
    return catalog, survey, InvalidInput


def _plain(value: Any) -> Any:
    """A plain JSON-like copy of a templated value (no lazy or tagged containers)."""
    return json.loads(json.dumps(value, cls=AnsibleJSONEncoder))


class ActionModule(ActionBase):
    """Validate the job's work request; fail with ``INVALID INPUT:`` or set the typed parameters as facts."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False
    _VALID_ARGS = frozenset(("task",))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        task_id = self._task.args.get("task")
        if not isinstance(task_id, str) or not task_id:
            raise AnsibleActionFail("work_request_check: give task: <catalog ID> (the playbook's operation)")
        if not any(task_vars.get(v) not in (None, "") for v in ("awx_job_id", "tower_job_id")):
            result.update(changed=False, msg="not an AWX / Tower job: nothing to check here")
            return result
        catalog_mod, survey, invalid_input = _ops_driver()
        try:
            catalog = catalog_mod.load_catalog()
            task = catalog.get(task_id)
            names = list(_FIXED)
            if task.automation is not None:
                for p in task.automation.params:
                    names += [p.name, survey.variable(p)]
            # The job's variables as given, never templated: AWX passes survey answers tagged !unsafe and a
            # template in one must be refused as text (ops_driver.untrusted), not evaluated here.
            job_vars = {n: _plain(task_vars[n]) for n in names if n in task_vars}
            checked = survey.check_job(task_id, job_vars, check_mode=bool(self._play_context.check_mode),
                                       catalog=catalog)
        except invalid_input as e:
            result.update(failed=True, changed=False, msg=f"INVALID INPUT: {e}")
            return result
        result.update(changed=False, ansible_facts=checked.variables, ops_request=checked.summary,
                      msg=f"work request valid: {checked.request.task} {checked.request.environment} "
                          f"{checked.request.ticket}")
        if checked.has_secrets:
            result["_ansible_no_log"] = True  # the facts carry a secret parameter
        return result
