#!/usr/bin/python
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""DataStage run logs of a month for every job of a project, with a CSV summary (STAT-013)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: datastage_logs
short_description: dsjob -logsum of every job of a project for one month into a folder, with summary.csv
description:
  - Seed 000 統計分析 row 13 (定期報告のためのDataStage実行ログの取得, first business day of the month).
  - For every job of C(dsjob -ljobs), the C(dsjob -logsum) events of I(month) go to C(<dest_dir>/<job>.log) and
    one row per job to C(<dest_dir>/summary.csv) - job, runs, last_status, warnings, fatals.
  - A run starts with a STARTED event "Starting Job"; its status is FATAL if it logged a FATAL event, WARNING if
    it logged a WARNING, OK otherwise. Files whose content is already the same are left alone (idempotent).
  - Before writing anything (check mode too), I(dest_dir) must be a writable folder or creatable (no file in the
    way, nearest existing ancestor writable) and each file to write must not exist as anything but a regular
    file; otherwise it fails with C(INVALID INPUT:) and writes nothing.
  - Check mode lists the files it would write and writes nothing.
options:
  project: {description: DataStage project., type: str, required: true}
  month: {description: Month as YYYY-MM (default the previous month, UTC)., type: str, default: ""}
  dest_dir: {description: Folder for the logs (created)., type: path, required: true}
  dsjob: {description: Path of dsjob., type: path, required: true}
  domain: {description: Services tier host:port., type: str, required: true}
  server: {description: Engine host name., type: str, required: true}
  authfile: {description: IBM credentials file., type: path}
  user: {description: User (written to a temporary authfile with password)., type: str}
  password: {description: Password (never logged)., type: str}
  environment: {description: Extra environment of dsjob., type: dict, default: {}}
"""

EXAMPLES = r"""
- name: October's run logs of STATPRJ
  datastage_logs: {project: STATPRJ, month: "2026-10", dest_dir: /mnt/nas/maint/reports/datastage/2026-10,
                   dsjob: /opt/IBM/InformationServer/Server/DSEngine/bin/dsjob, domain: "services01:9443",
                   server: DSENGINE01, authfile: /home/dsadm/.ops-authfile}
"""

RETURN = r"""
month: {description: The month collected., returned: always, type: str}
summary: {description: One row per job - job, runs, last_status, warnings, fatals., returned: always, type: list}
files: {description: Files written (or to write in check mode)., returned: always, type: list}
ops_changes: {description: Evidence entries, one per file., returned: always, type: list}
"""

import datetime
import hashlib
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.datastage_cli import CLI_ARGS, DataStageCli, DataStageError
from ansible.module_utils.ops_paths import file_target_problem, folder_problem


def summarise(job, events):
    runs, status, warnings, fatals = 0, "", 0, 0
    for e in events:
        if e["type"] == "STARTED" and e["message"].startswith("Starting Job"):
            runs += 1
            status = "OK"
        elif e["type"] == "WARNING":
            warnings += 1
            status = "WARNING" if status != "FATAL" else status
        elif e["type"] == "FATAL":
            fatals += 1
            status = "FATAL"
    return dict(job=job, runs=runs, last_status=status or "NO RUN", warnings=warnings, fatals=fatals)


def main():
    spec = dict(CLI_ARGS)
    spec.update(project=dict(type="str", required=True), month=dict(type="str", default=""),
                dest_dir=dict(type="path", required=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    month = p["month"]
    if not month:
        last = datetime.datetime.now(datetime.timezone.utc).date().replace(day=1) - datetime.timedelta(days=1)
        month = "%04d-%02d" % (last.year, last.month)
    result = dict(changed=False, month=month, summary=[], files=[], ops_changes=[])
    if not re.match(r"^\d{4}-(0[1-9]|1[0-2])$", month):
        module.fail_json(msg="INVALID INPUT: month: %r is not YYYY-MM" % month, **result)
    cli = None
    try:
        cli = DataStageCli(module)
        match = [x for x in cli.lprojects() if x.upper() == p["project"].upper()]
        if not match:
            module.fail_json(msg="INVALID INPUT: project: %s is not a project of %s" % (p["project"], p["server"]),
                             **result)
        outputs = {}
        for job in sorted(cli.ljobs(match[0])):
            events = [e for e in cli.logsum(match[0], job) if e["time"].startswith(month)]
            outputs["%s.log" % job] = "".join("%d\t%s\t%s\t%s\n" % (e["id"], e["type"], e["time"], e["message"])
                                              for e in events)
            result["summary"].append(summarise(job, events))
        outputs["summary.csv"] = "job,runs,last_status,warnings,fatals\n" + "".join(
            "%(job)s,%(runs)d,%(last_status)s,%(warnings)d,%(fatals)d\n" % r for r in result["summary"])
        todo = []
        for name, text in sorted(outputs.items()):
            path = os.path.join(p["dest_dir"], name)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            old = None
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    old = hashlib.sha256(f.read()).hexdigest()
            action = "create" if old is None else ("none" if old == digest else "overwrite")
            result["files"].append(path)
            result["ops_changes"].append(dict(resource="file:%s" % path, name=name, action=action,
                                              before=dict(sha256=old) if old else None,
                                              after=dict(sha256=digest, bytes=len(text.encode("utf-8"))),
                                              changed=action != "none"))
            if action != "none":
                todo.append((path, text))
        # read-only, before anything is written (so the plan refuses what the apply's makedirs / write would fail on)
        problems = [folder_problem(p["dest_dir"])] if todo else []
        problems += [file_target_problem(path) for path, _text in todo]
        problems = [x for x in problems if x]
        if problems:
            module.fail_json(msg="INVALID INPUT: dest_dir: %s cannot receive the logs: %s - remove or move what is in "
                                 "the way, or set datastage_release_logs_dir to a writable folder"
                                 % (p["dest_dir"], "; ".join(problems)), **result)
        if not module.check_mode:
            for path, text in todo:
                if not os.path.isdir(p["dest_dir"]):
                    os.makedirs(p["dest_dir"], 0o750)
                tmp = path + ".tmp"
                with open(tmp, "w") as f:
                    f.write(text)
                os.replace(tmp, path)
        result["changed"] = any(c["changed"] for c in result["ops_changes"])
    except DataStageError as e:
        module.fail_json(msg=("INVALID INPUT: " if e.kind == "invalid" else "") + str(e), **result)
    except OSError as e:
        module.fail_json(msg="Collecting the logs failed: %s" % e, **result)
    finally:
        if cli is not None:
            cli.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
