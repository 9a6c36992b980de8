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
  dsjob: {description: Path of dsjob., type: path, required: true}
  domain: {description: Services tier host:port., type: str, required: true}
  server: {description: Engine host name., type: str, required: true}
  authfile: {description: IBM credentials file., type: path}
  user: {description: User (written to a temporary authfile with password)., type: str}
  password: {description: Password (never logged)., type: str}
  environment: {description: Extra environment of dsjob., type: dict, default: {}}
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
from ansible.module_utils.datastage_cli import CLI_ARGS, DataStageCli, DataStageError


def main():
    spec = dict(CLI_ARGS)
    spec.update(project=dict(type="str", required=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    result = dict(changed=False, projects=[], jobs=[], ops_changes=[])
    cli = None
    try:
        cli = DataStageCli(module)
        try:
            result["projects"] = cli.lprojects()
        except DataStageError as e:
            module.fail_json(msg="The DataStage engine %s does not answer: %s" % (p["server"], e), **result)
        match = [x for x in result["projects"] if x.upper() == p["project"].upper()]
        if not match:
            module.fail_json(msg="INVALID INPUT: project: %s is not a project of %s" % (p["project"], p["server"]),
                             **result)
        bad = []
        for job in cli.ljobs(match[0]):
            info = cli.jobinfo(match[0], job)
            if info is None:
                bad.append(job)
            result["jobs"].append(dict(name=job, status=(info or {}).get("Job Status", "unreadable")))
        result["ops_changes"].append(dict(
            resource="datastage:%s/%s" % (p["server"], match[0]), name=match[0], action="check", before=None,
            after=dict(engine="answers", jobs=len(result["jobs"]), unreadable=bad), changed=False))
        if not result["jobs"]:
            module.fail_json(msg="Project %s lists no job" % match[0], **result)
        if bad:
            module.fail_json(msg="dsjob -jobinfo cannot read %s" % ", ".join(bad), **result)
    except DataStageError as e:
        module.fail_json(msg=("INVALID INPUT: " if e.kind == "invalid" else "") + str(e), **result)
    finally:
        if cli is not None:
            cli.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
