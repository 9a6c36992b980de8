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
    C(dsjob -ljobs) lists but C(istool export) does not return (a job of another type - it could not be backed up),
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
extends_documentation_fragment: [datastage_cli]
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
from ansible.module_utils.datastage_cli import CLI_ARGS, DataStageError, cli_session, project_named
from ansible.module_utils.datastage_package import PackageError, parse_isx_bytes, parse_package, summary, write_isx
from ansible.module_utils.ops_paths import file_target_problem, folder_problem

ARGUMENT_SPEC = dict(
    CLI_ARGS,
    istool=dict(type="path", required=True),
    package=dict(type="path", required=True),
    project=dict(type="str", required=True),
    replace=dict(type="bool", default=False),
    backup_dir=dict(type="path", required=True),
    backup_name=dict(type="str", required=True),
)


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


def _key(asset):
    return asset["kind"], asset["name"].upper()


class Release:
    """One release: ``parse`` the package, ``compare`` it with the project, ``refuse`` what cannot be done,
    ``preview`` (check mode), ``backup`` what is replaced, ``import_assets``, ``verify`` (re-importing the backup
    when the verification fails). ``result`` is the module's result, filled step by step."""

    def __init__(self, module):
        self.module, self.p = module, module.params
        self.result = dict(changed=False, ops_changes=[], assets=[])
        self.cli = self.project = None
        self.assets, self.current, self.replaced, self.todo = [], {}, [], []

    def invalid(self, msg):
        self.module.fail_json(msg="INVALID INPUT: " + msg, **self.result)

    def parse(self):
        try:
            parsed = parse_package(self.p["package"])
        except PackageError as e:
            self.invalid("package: %s" % e)
        self.assets = parsed["assets"]
        self.result["package"] = dict(format=parsed["format"], path=self.p["package"], **summary(self.assets))
        if "/" in self.p["backup_name"] or self.p["backup_name"].startswith("."):
            self.invalid("backup_name: %r must be a plain file name" % self.p["backup_name"])

    def compare(self, cli):
        """Each asset's action (create, replace, none) against the project's current definitions (read-only)."""
        p, self.cli = self.p, cli
        projects = cli.lprojects()
        self.project = project_named(projects, p["project"])
        if self.project is None:
            self.invalid("project: %s is not a project of %s (projects: %s)"
                         % (p["project"], p["server"], ", ".join(projects)))
        jobs_now = set(j.upper() for j in cli.ljobs(self.project))
        self.current = current_assets(cli, self.project, self.assets, cli.tmpdir)
        for a in self.assets:
            before = self.current.get(_key(a))
            if a["kind"] == "job" and before is None and a["name"].upper() in jobs_now:
                before = "unknown"  # listed by dsjob but not exported: treat as different
            a["action"] = "create" if before is None else ("none" if before == a["sha256"] else "replace")
            self.result["assets"].append(dict(kind=a["kind"], name=a["name"], path=a["path"], action=a["action"]))
            self.result["ops_changes"].append(dict(
                resource="datastage:%s/%s/%s" % (p["server"], self.project, a["path"]), name=a["name"],
                action=a["action"], before=dict(sha256=before) if before else None,
                after=dict(kind=a["kind"], sha256=a["sha256"]), changed=a["action"] != "none"))
        self.replaced = [a for a in self.assets if a["action"] == "replace"]
        self.todo = [a for a in self.assets if a["action"] != "none"]

    def refuse(self):
        """INVALID INPUT, before anything changes (check mode too), for what the release would fail on."""
        p = self.p
        unexported = [a for a in self.replaced if _key(a) not in self.current]
        if unexported:
            self.invalid("; ".join(
                "package: %s is listed by dsjob -ljobs but istool export of %s returns nothing, so it cannot be "
                "backed up before replace (a job of another type? the package has it as a %s job (.%s) - give it the "
                "project's job type, or rename or remove the project's job first)"
                % (a["name"], self.cli.asset_path(self.project, a), a["job_type"], a["ext"]) for a in unexported))
        if self.replaced and not p["replace"]:
            self.invalid("replace: %s already in %s with a different definition (set replace: true to replace)"
                         % (", ".join(a["name"] for a in self.replaced), self.project))
        problem = None
        if self.replaced:
            problem = (folder_problem(p["backup_dir"])
                       or file_target_problem(os.path.join(p["backup_dir"], p["backup_name"]), tmp_suffix=None))
        if problem:
            self.invalid("backup_dir: %s cannot hold the backup of %s: %s - remove or move what is in the way, or set "
                         "datastage_backup_dir to a writable folder"
                         % (p["backup_dir"], ", ".join(a["name"] for a in self.replaced), problem))

    def preview(self):
        """The diff; ends the module when nothing is to import, and in check mode (after istool import -preview)."""
        p, result = self.p, self.result
        result["changed"] = bool(self.todo)
        if self.module._diff:
            result["diff"] = dict(
                before="".join("%s %s\n" % (a["path"], self.current.get(_key(a), "-")) for a in self.assets),
                after="".join("%s %s\n" % (a["path"], a["sha256"]) for a in self.assets),
                before_header="%s/%s" % (p["server"], self.project), after_header=p["package"])
        if not self.todo:
            result["backup"] = dict(path=None, assets=[])
            result["verified"] = sorted(a["name"] for a in self.assets if a["kind"] == "job")
            self.module.exit_json(**result)
        if self.module.check_mode:
            staged = os.path.join(self.cli.tmpdir, "package.isx")
            write_isx(self.todo, staged, p["server"], self.project)
            result["preview"] = self.cli.import_archive(self.project, staged, replace=True, preview=True)
            self.module.exit_json(**result)

    def backup(self):
        """istool export of the assets to replace into backup_dir; the archive must hold every one of them."""
        p = self.p
        backup = dict(path=None, assets=[])
        if self.replaced:
            if not os.path.isdir(p["backup_dir"]):
                os.makedirs(p["backup_dir"], 0o750)
            path = os.path.join(p["backup_dir"], p["backup_name"])
            self.cli.export(self.project, self.replaced, path)
            with open(path, "rb") as f:
                _h, held = parse_isx_bytes(f.read())
            missing = set(_key(a) for a in self.replaced) - set(_key(a) for a in held)
            if missing:
                raise DataStageError("the backup archive %s lacks %s - nothing imported"
                                     % (path, ", ".join(sorted(n for _k, n in missing))))
            backup = dict(path=path, size=os.path.getsize(path), sha256=sha256_file(path),
                          assets=sorted(a["name"] for a in held))
        self.result["backup"] = backup

    def import_assets(self):
        """Parameter sets, routines and shared containers first, then the jobs (istool import -replace)."""
        deps = [a for a in self.todo if a["kind"] != "job"]
        jobs = [a for a in self.todo if a["kind"] == "job"]
        for n, part in enumerate((deps, jobs)):
            if part:
                arch = os.path.join(self.cli.tmpdir, "import-%d.isx" % n)
                write_isx(part, arch, self.p["server"], self.project)
                self.cli.import_archive(self.project, arch, replace=True)

    def verify(self):
        """Every job listed and known to -jobinfo, every asset exported with the package's definition; otherwise
        re-import the backup and fail."""
        cli, project, problems, verified = self.cli, self.project, [], []
        listed = set(j.upper() for j in cli.ljobs(project))
        for a in self.assets:
            if a["kind"] == "job":
                if a["name"].upper() not in listed:
                    problems.append("%s is not listed by dsjob -ljobs" % a["name"])
                elif cli.jobinfo(project, a["name"]) is None:
                    problems.append("dsjob -jobinfo does not know %s" % a["name"])
                else:
                    verified.append(a["name"])
        check_dir = os.path.join(cli.tmpdir, "verify")
        os.mkdir(check_dir)
        after = current_assets(cli, project, self.assets, check_dir)
        for a in self.assets:
            if after.get(_key(a)) != a["sha256"] and a["name"] not in " ".join(problems):
                problems.append("%s %s differs from the package after the import" % (a["kind"], a["name"]))
        self.result["verified"] = sorted(verified)
        if problems:
            self.fail_verification(problems)

    def fail_verification(self, problems):
        backup = self.result["backup"]
        restored = "nothing to restore (no asset was replaced)"
        if backup["path"]:
            try:
                self.cli.import_archive(self.project, backup["path"], replace=True)
                restored = "the backup %s was re-imported" % backup["path"]
            except DataStageError as e:
                restored = "re-importing the backup %s FAILED: %s" % (backup["path"], e)
        for c in self.result["ops_changes"]:
            if any(c["name"] in x for x in problems):
                c["failed"] = True
        self.module.fail_json(msg="Verification failed: %s; %s" % ("; ".join(problems), restored), **self.result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    release = Release(module)
    release.parse()
    with cli_session(module, release.result, "DataStage release failed: %s") as cli:
        release.compare(cli)
        release.refuse()
        release.preview()
        release.backup()
        release.import_assets()
        release.verify()
    module.exit_json(**release.result)


if __name__ == "__main__":
    main()
