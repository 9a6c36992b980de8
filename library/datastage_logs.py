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
  - C(dsjob -logsum) prints each event on two lines - C(id<TAB>TYPE<TAB>ctime date), then C(<TAB>message)
    (IBM/datastage-api-sample dsjob.c jobLogSum); an event belongs to I(month) by its parsed date (the engine's
    local time), never by a text prefix.
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
extends_documentation_fragment: [datastage_cli]
"""

EXAMPLES = r"""
- name: October's run logs of STATPRJ
  datastage_logs: {project: STATPRJ, month: "2026-10", dest_dir: /mnt/nas/maint/reports/datastage/2026-10,
                   dsjob: /opt/IBM/InformationServer/Server/DSEngine/bin/dsjob,
                   dshome: /opt/IBM/InformationServer/Server/DSEngine, domain: "services01:9443",
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
from ansible.module_utils.datastage_cli import CLI_ARGS, cli_session, project_named
from ansible.module_utils.ops_paths import file_target_problem, folder_problem
from ansible.module_utils.ops_refusal import fail_invalid

ARGUMENT_SPEC = dict(CLI_ARGS, project=dict(type="str", required=True), month=dict(type="str", default=""),
                     dest_dir=dict(type="path", required=True))


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


def the_month(module, result):
    """``month`` (YYYY-MM), by default the previous month (UTC); INVALID INPUT otherwise."""
    month = module.params["month"]
    if not month:
        last = datetime.datetime.now(datetime.timezone.utc).date().replace(day=1) - datetime.timedelta(days=1)
        month = "%04d-%02d" % (last.year, last.month)
    result["month"] = month
    if not re.match(r"^\d{4}-(0[1-9]|1[0-2])$", month):
        fail_invalid(module, "month: %r is not YYYY-MM" % month, **result)
    return month


def read_logs(module, cli, month, result):
    """{file name: text}: one .log per job of the project with the month's events, and summary.csv."""
    p = module.params
    project = project_named(cli.lprojects(), p["project"])
    if project is None:
        fail_invalid(module, "project: %s is not a project of %s" % (p["project"], p["server"]),
                         **result)
    outputs = {}
    for job in sorted(cli.ljobs(project)):
        year, mon = int(month[:4]), int(month[5:7])
        events = [e for e in cli.logsum(project, job) if (e["time"].year, e["time"].month) == (year, mon)]
        outputs["%s.log" % job] = "".join("%d\t%s\t%s\t%s\n" % (e["id"], e["type"], e["time"].isoformat(sep=" "),
                                                                  e["message"].replace("\n", "\n\t"))
                                          for e in events)
        result["summary"].append(summarise(job, events))
    outputs["summary.csv"] = "job,runs,last_status,warnings,fatals\n" + "".join(
        "%(job)s,%(runs)d,%(last_status)s,%(warnings)d,%(fatals)d\n" % r for r in result["summary"])
    return outputs


def plan_files(module, outputs, result):
    """[(path, text)] of the files whose content changes; refuses (read-only, before anything is written) what
    the apply's makedirs / write would fail on."""
    dest_dir = module.params["dest_dir"]
    todo = []
    for name, text in sorted(outputs.items()):
        path = os.path.join(dest_dir, name)
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
    problems = [folder_problem(dest_dir)] if todo else []
    problems = [x for x in problems + [file_target_problem(path) for path, _text in todo] if x]
    if problems:
        fail_invalid(module, "dest_dir: %s cannot receive the logs: %s - remove or move what is in "
                             "the way, or set datastage_logs_dir to a writable folder"
                             % (dest_dir, "; ".join(problems)), **result)
    return todo


def write_files(dest_dir, todo):
    """Write each (path, text) through a temporary file renamed into place; creates ``dest_dir`` (0750)."""
    for path, text in todo:
        if not os.path.isdir(dest_dir):
            os.makedirs(dest_dir, 0o750)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = dict(changed=False, month=module.params["month"], summary=[], files=[], ops_changes=[])
    month = the_month(module, result)
    with cli_session(module, result, "Collecting the logs failed: %s") as cli:
        todo = plan_files(module, read_logs(module, cli, month, result), result)
        if not module.check_mode:
            write_files(module.params["dest_dir"], todo)
        result["changed"] = any(c["changed"] for c in result["ops_changes"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
