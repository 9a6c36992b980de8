#!/usr/bin/python
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""DataStage start-of-business check: the engine answers and the project's jobs are listed (STAT-001)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: datastage_check
short_description: Read-only DataStage check - dsjob -lprojects, -ljobs and -jobinfo of every job
description:
  - Seed 000 統計分析 row 1 (始業確認). Fails (not C(INVALID INPUT)) when the engine does not answer or a job of
    the project cannot be read; an unknown project is C(INVALID INPUT:). Changes nothing (check mode is the same).
options:
  project: {description: DataStage project., type: str, required: true}
extends_documentation_fragment: [datastage_cli]
"""

EXAMPLES = r"""
- name: Start-of-business check of STATPRJ
  datastage_check: {project: STATPRJ, dsjob: /opt/IBM/InformationServer/Server/DSEngine/bin/dsjob,
                    domain: "services01:9443", server: DSENGINE01, authfile: /home/dsadm/.ops-authfile}
"""

RETURN = r"""
projects: {description: Projects listed by dsjob -lprojects., returned: always, type: list}
jobs: {description: One entry per job - name, status (dsjob -jobinfo Job Status)., returned: always, type: list}
ops_changes: {description: One evidence entry for the project (changed false)., returned: always, type: list}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.datastage_cli import CLI_ARGS, DataStageError, cli_session, project_named

ARGUMENT_SPEC = dict(CLI_ARGS, project=dict(type="str", required=True))


def check(module, cli, result):
    """The engine lists its projects, the project its jobs, and dsjob -jobinfo reads every job; fills ``result``."""
    p = module.params
    try:
        result["projects"] = cli.lprojects()
    except DataStageError as e:
        module.fail_json(msg="The DataStage engine %s does not answer: %s" % (p["server"], e), **result)
    project = project_named(result["projects"], p["project"])
    if project is None:
        module.fail_json(msg="INVALID INPUT: project: %s is not a project of %s" % (p["project"], p["server"]),
                         **result)
    bad = []
    for job in cli.ljobs(project):
        info = cli.jobinfo(project, job)
        if info is None:
            bad.append(job)
        result["jobs"].append(dict(name=job, status=(info or {}).get("Job Status", "unreadable")))
    result["ops_changes"].append(dict(
        resource="datastage:%s/%s" % (p["server"], project), name=project, action="check", before=None,
        after=dict(engine="answers", jobs=len(result["jobs"]), unreadable=bad), changed=False))
    if not result["jobs"]:
        module.fail_json(msg="Project %s lists no job" % project, **result)
    if bad:
        module.fail_json(msg="dsjob -jobinfo cannot read %s" % ", ".join(bad), **result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = dict(changed=False, projects=[], jobs=[], ops_changes=[])
    with cli_session(module, result) as cli:
        check(module, cli, result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
