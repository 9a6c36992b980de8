#!/usr/bin/python
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""DataStage release: import a .dsx / .isx package into a project with backup and verification (STAT-015)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: datastage_release
short_description: Import DataStage job definitions (.dsx / .isx) with a backup, verification and rollback
description:
  - Seed 000 統計分析 row 15 (DataStage資材リリース). Parses the package (module_utils/datastage_package.py), lists
    its parameter sets, routines, shared containers and jobs, and validates every name; a package that is not a
    valid .dsx / .isx, is empty or names an invalid identifier fails with C(INVALID INPUT:) and nothing is run.
  - Compares each asset with the project's current definition (C(istool export) into a temporary folder; jobs
    are listed with C(dsjob -ljobs)) - new assets are created, different ones replaced, identical ones left alone.
    An unknown project, or an existing different asset with I(replace=false), fails with C(INVALID INPUT:).
  - Also refused with C(INVALID INPUT:) before anything changes (check mode too) - a job to replace that
    C(dsjob -ljobs) lists but C(istool export) does not return (a job of another type: it could not be backed up),
    and a I(backup_dir) that is not a writable folder and cannot be created (a file in the way, an ancestor that
    is not writable).
  - Backs up the definitions it will replace with C(istool export) into I(backup_dir) and checks that the archive
    exists, is not empty and holds them (istool can exit 0 without writing the archive - that fails the run).
  - Imports with C(istool import -replace -datastage '"HOST/PROJECT"') - parameter sets, routines and shared
    containers first, then the jobs (a .dsx is converted to an .isx first). Verifies with C(dsjob -ljobs),
    C(dsjob -jobinfo) and a fresh export that every asset is there with the package's definition; otherwise
    re-imports the backup and fails.
  - Check mode parses, compares and runs C(istool import -preview); it changes nothing.
  - Credentials - an authfile, or I(user)/I(password) written to a temporary 0600 authfile removed afterwards;
    never on a command line.
options:
  package: {description: Absolute path of the .dsx or .isx package on the host., type: path, required: true}
  project: {description: DataStage project., type: str, required: true}
  replace: {description: Replace existing assets whose definitions differ., type: bool, default: false}
  backup_dir: {description: Folder for the backup archive., type: path, required: true}
  backup_name: {description: File name of the backup archive., type: str, required: true}
  istool: {description: Path of istool., type: path, required: true}
  dsjob: {description: Path of dsjob., type: path, required: true}
  domain: {description: Services tier host:port (-domain)., type: str, required: true}
  server: {description: Engine host name (-server; HOST of asset paths)., type: str, required: true}
  authfile: {description: IBM credentials file., type: path}
  user: {description: User (with password - written to a temporary authfile)., type: str}
  password: {description: Password (never logged)., type: str}
  environment: {description: Extra environment of the commands., type: dict, default: {}}
"""

EXAMPLES = r"""
- name: Release R2026-11 into STATPRJ
  datastage_release:
    package: /mnt/nas/maint/release/R2026-11/release-R2026-11.dsx
    project: STATPRJ
    replace: true
    backup_dir: /var/lib/ops/datastage-backups
    backup_name: REQ-2026-1122-015-backup.isx
    istool: /opt/IBM/InformationServer/Clients/istools/cli/istool.sh
    dsjob: /opt/IBM/InformationServer/Server/DSEngine/bin/dsjob
    domain: services01:9443
    server: DSENGINE01
    authfile: /home/dsadm/.ops-authfile
"""

RETURN = r"""
package: {description: Format and asset names per kind., returned: always, type: dict}
assets:
  description: One entry per asset - kind, name, path, action (create, replace, none).
  returned: always
  type: list
backup:
  description: Backup archive - path, size, sha256, assets (empty when nothing is replaced).
  returned: success
  type: dict
preview: {description: Output of istool import -preview (check mode)., returned: check mode, type: str}
verified: {description: Jobs found by dsjob -ljobs / -jobinfo after the import., returned: success, type: list}
ops_changes: {description: Evidence entries., returned: always, type: list}
"""

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.datastage_cli import CLI_ARGS, DataStageCli, DataStageError
from ansible.module_utils.datastage_package import PackageError, parse_isx_bytes, parse_package, summary, write_isx
from ansible.module_utils.ops_paths import file_target_problem, folder_problem


def current_assets(cli, project, assets, where):
    """name/kind -> sha256 of the project's current definitions of ``assets`` (istool export, read-only)."""
    archive = os.path.join(where, "current.isx")
    cli.export(project, assets, archive)
    with open(archive, "rb") as f:
        _h, found = parse_isx_bytes(f.read())
    return dict(((a["kind"], a["name"].upper()), a["sha256"]) for a in found)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    spec = dict(CLI_ARGS)
    spec.update(
        istool=dict(type="path", required=True),
        package=dict(type="path", required=True),
        project=dict(type="str", required=True),
        replace=dict(type="bool", default=False),
        backup_dir=dict(type="path", required=True),
        backup_name=dict(type="str", required=True),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    result = dict(changed=False, ops_changes=[], assets=[])

    def invalid(msg):
        module.fail_json(msg="INVALID INPUT: " + msg, **result)

    try:
        parsed = parse_package(p["package"])
    except PackageError as e:
        invalid("package: %s" % e)
    assets = parsed["assets"]
    result["package"] = dict(format=parsed["format"], path=p["package"], **summary(assets))
    if "/" in p["backup_name"] or p["backup_name"].startswith("."):
        invalid("backup_name: %r must be a plain file name" % p["backup_name"])

    cli = None
    try:
        cli = DataStageCli(module)
        projects = cli.lprojects()
        match = [x for x in projects if x.upper() == p["project"].upper()]
        if not match:
            invalid("project: %s is not a project of %s (projects: %s)"
                    % (p["project"], p["server"], ", ".join(projects)))
        project = match[0]
        jobs_now = set(j.upper() for j in cli.ljobs(project))
        current = current_assets(cli, project, assets, cli.tmpdir)
        for a in assets:
            key = (a["kind"], a["name"].upper())
            before = current.get(key)
            if a["kind"] == "job" and before is None and a["name"].upper() in jobs_now:
                before = "unknown"  # listed by dsjob but not exported: treat as different
            action = "create" if before is None else ("none" if before == a["sha256"] else "replace")
            a["action"] = action
            result["assets"].append(dict(kind=a["kind"], name=a["name"], path=a["path"], action=action))
            result["ops_changes"].append(dict(
                resource="datastage:%s/%s/%s" % (p["server"], project, a["path"]), name=a["name"], action=action,
                before=dict(sha256=before) if before else None,
                after=dict(kind=a["kind"], sha256=a["sha256"]), changed=action != "none"))
        replaced = [a for a in assets if a["action"] == "replace"]
        todo = [a for a in assets if a["action"] != "none"]
        unexported = [a for a in replaced if (a["kind"], a["name"].upper()) not in current]
        if unexported:
            invalid("; ".join(
                "package: %s is listed by dsjob -ljobs but istool export of %s returns nothing, so it cannot be "
                "backed up before replace (a job of another type? the package has it as a %s job (.%s) - give it the "
                "project's job type, or rename or remove the project's job first)"
                % (a["name"], cli.asset_path(project, a), a["job_type"], a["ext"]) for a in unexported))
        if replaced and not p["replace"]:
            invalid("replace: %s already in %s with a different definition (set replace: true to replace)"
                    % (", ".join(a["name"] for a in replaced), project))
        problem = None
        if replaced:
            problem = (folder_problem(p["backup_dir"])
                       or file_target_problem(os.path.join(p["backup_dir"], p["backup_name"]), tmp_suffix=None))
        if problem:
            invalid("backup_dir: %s cannot hold the backup of %s: %s - remove or move what is in the way, or set "
                    "datastage_release_backup_dir to a writable folder"
                    % (p["backup_dir"], ", ".join(a["name"] for a in replaced), problem))
        result["changed"] = bool(todo)
        if module._diff:
            result["diff"] = dict(before="".join("%s %s\n" % (a["path"], current.get((a["kind"], a["name"].upper()),
                                                                                       "-")) for a in assets),
                                  after="".join("%s %s\n" % (a["path"], a["sha256"]) for a in assets),
                                  before_header="%s/%s" % (p["server"], project), after_header=p["package"])
        if not todo:
            result["backup"] = dict(path=None, assets=[])
            result["verified"] = sorted(a["name"] for a in assets if a["kind"] == "job")
            module.exit_json(**result)

        staged = os.path.join(cli.tmpdir, "package.isx")
        write_isx(todo, staged, p["server"], project)
        if module.check_mode:
            result["preview"] = cli.import_archive(project, staged, replace=True, preview=True)
            module.exit_json(**result)

        backup = dict(path=None, assets=[])
        if replaced:
            if not os.path.isdir(p["backup_dir"]):
                os.makedirs(p["backup_dir"], 0o750)
            path = os.path.join(p["backup_dir"], p["backup_name"])
            cli.export(project, replaced, path)
            with open(path, "rb") as f:
                _h, held = parse_isx_bytes(f.read())
            missing = set((a["kind"], a["name"].upper()) for a in replaced)
            missing -= set((a["kind"], a["name"].upper()) for a in held)
            if missing:
                raise DataStageError("the backup archive %s lacks %s - nothing imported"
                                     % (path, ", ".join(sorted(n for _k, n in missing))))
            backup = dict(path=path, size=os.path.getsize(path), sha256=sha256_file(path),
                          assets=sorted(a["name"] for a in held))
        result["backup"] = backup

        deps = [a for a in todo if a["kind"] != "job"]
        jobs = [a for a in todo if a["kind"] == "job"]
        for n, part in enumerate((deps, jobs)):
            if part:
                arch = os.path.join(cli.tmpdir, "import-%d.isx" % n)
                write_isx(part, arch, p["server"], project)
                cli.import_archive(project, arch, replace=True)

        problems = []
        listed = set(j.upper() for j in cli.ljobs(project))
        verified = []
        for a in assets:
            if a["kind"] == "job":
                if a["name"].upper() not in listed:
                    problems.append("%s is not listed by dsjob -ljobs" % a["name"])
                elif cli.jobinfo(project, a["name"]) is None:
                    problems.append("dsjob -jobinfo does not know %s" % a["name"])
                else:
                    verified.append(a["name"])
        check_dir = os.path.join(cli.tmpdir, "verify")
        os.mkdir(check_dir)
        after = current_assets(cli, project, assets, check_dir)
        for a in assets:
            if after.get((a["kind"], a["name"].upper())) != a["sha256"] and a["name"] not in " ".join(problems):
                problems.append("%s %s differs from the package after the import" % (a["kind"], a["name"]))
        result["verified"] = sorted(verified)
        if problems:
            restored = "nothing to restore (no asset was replaced)"
            if backup["path"]:
                try:
                    cli.import_archive(project, backup["path"], replace=True)
                    restored = "the backup %s was re-imported" % backup["path"]
                except DataStageError as e:
                    restored = "re-importing the backup %s FAILED: %s" % (backup["path"], e)
            for c in result["ops_changes"]:
                if any(c["name"] in x for x in problems):
                    c["failed"] = True
            module.fail_json(msg="Verification failed: %s; %s" % ("; ".join(problems), restored), **result)
    except DataStageError as e:
        module.fail_json(msg=("INVALID INPUT: " if e.kind == "invalid" else "") + str(e), **result)
    except OSError as e:
        module.fail_json(msg="DataStage release failed: %s" % e, **result)
    finally:
        if cli is not None:
            cli.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
