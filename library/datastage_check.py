#!/usr/bin/python
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""DataStage start-of-business check: the engine answers, the project's jobs are listed and their status is
read (STAT-001)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: datastage_check
short_description: Read-only DataStage check - dsjob -lprojects, -ljobs and -jobinfo of every job
description:
  - Seed 000 統計分析 row 1 (始業確認). Fails (not C(INVALID INPUT)) when the engine does not answer or a job of
    the project cannot be read; an unknown project is C(INVALID INPUT:). Changes nothing (check mode is the same).
  - Every job's status is the number of C(Job Status) (DSJS_* codes - 1 RUN OK ... 96 CRASHED, 97 STOPPED,
    98 NOT COMPILED, 99 NOT RUNNING). Jobs RUN FAILED (3), CRASHED (96), STOPPED (97) or NOT COMPILED (98) need
    attention - I(status_policy=warn) names them in a warning and in C(attention), C(fail) fails the check.
  - A project without jobs (C(dsjob -ljobs) prints C(<none>)) fails - the morning check expects jobs.
options:
  project: {description: DataStage project., type: str, required: true}
  status_policy:
    description: What a job needing attention does - C(warn) (the default) or C(fail).
    type: str
    default: warn
    choices: [warn, fail]
extends_documentation_fragment: [datastage_cli]
"""

EXAMPLES = r"""
- name: Start-of-business check of STATPRJ
  datastage_check:
    project: STATPRJ
    status_policy: warn
    dsjob: /opt/IBM/InformationServer/Server/DSEngine/bin/dsjob
    dshome: /opt/IBM/InformationServer/Server/DSEngine
    domain: "services01:9443"
    server: DSENGINE01
    authfile: /home/dsadm/.ops-authfile
"""

RETURN = r"""
projects: {description: Projects listed by dsjob -lprojects., returned: always, type: list}
jobs:
  description: One entry per job - name, status (label), status_code, start_time (ISO or null).
  returned: always
  type: list
attention:
  description: Jobs RUN FAILED, CRASHED, STOPPED or NOT COMPILED - name, status, status_code.
  returned: always
  type: list
ops_changes: {description: One evidence entry for the project (changed false)., returned: always, type: list}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.datastage_cli import ATTENTION, CLI_ARGS, DataStageError, cli_session, project_named
from ansible.module_utils.ops_refusal import fail_invalid

ARGUMENT_SPEC = dict(CLI_ARGS, project=dict(type="str", required=True),
                     status_policy=dict(type="str", default="warn", choices=["warn", "fail"]))


def check(module, cli, result):
    """The engine lists its projects, the project its jobs, dsjob -jobinfo reads every job; jobs needing
    attention are named (warning or failure, by status_policy); fills ``result``."""
    p = module.params
    try:
        result["projects"] = cli.lprojects()
    except DataStageError as e:
        module.fail_json(msg="The DataStage engine %s does not answer: %s" % (p["server"], e), **result)
    project = project_named(result["projects"], p["project"])
    if project is None:
        fail_invalid(module, "project: %s is not a project of %s" % (p["project"], p["server"]),
                         **result)
    bad = []
    for job in cli.ljobs(project):
        info = cli.jobinfo(project, job)
        if info is None:
            bad.append(job)
            result["jobs"].append(dict(name=job, status="unreadable", status_code=None, start_time=None))
            continue
        start = info["start_time"].isoformat() if info["start_time"] else None
        result["jobs"].append(dict(name=job, status=info["status_label"], status_code=info["status"],
                                   start_time=start))
        if info["status"] in ATTENTION:
            result["attention"].append(dict(name=job, status=info["status_label"], status_code=info["status"]))
    named = ", ".join("%(name)s (%(status)s, %(status_code)d)" % a for a in result["attention"])
    result["ops_changes"].append(dict(
        resource="datastage:%s/%s" % (p["server"], project), name=project, action="check", before=None,
        after=dict(engine="answers", jobs=len(result["jobs"]), unreadable=bad,
                   attention=[a["name"] for a in result["attention"]]), changed=False))
    if not result["jobs"]:
        module.fail_json(msg="Project %s lists no job (dsjob -ljobs: <none>)" % project, **result)
    if bad:
        module.fail_json(msg="dsjob -jobinfo cannot read %s" % ", ".join(bad), **result)
    if named and p["status_policy"] == "fail":
        module.fail_json(msg="STAT-001: jobs of %s need attention: %s" % (project, named), **result)
    if named:
        module.warn("STAT-001: jobs of %s need attention: %s" % (project, named))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = dict(changed=False, projects=[], jobs=[], attention=[], ops_changes=[])
    with cli_session(module, result) as cli:
        check(module, cli, result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
