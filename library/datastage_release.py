#!/usr/bin/python
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""DataStage release: import a .dsx / .isx package into a project with backup and verification (STAT-015)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: datastage_release
short_description: Import DataStage job definitions (.dsx / .isx) with a backup, verification and rollback
description:
  - Seed 000 統計分析 row 15 (DataStage資材リリース). Reads the package inside its root (I(package_root); every
    folder opened without following links, the file O_NOFOLLOW - a link or C(..) is refused), parses it
    (module_utils/datastage_package.py - an .isx with istool's XML IS-MANIFEST.MF, or a .dsx text export) and
    validates every name; a package that cannot be read there, is not a valid .dsx / .isx, is empty or names an
    invalid identifier fails with C(INVALID INPUT:) and nothing is run.
  - Compares each asset with the project - a job that C(dsjob -ljobs) does not list is new; any other asset is
    exported alone (C(istool export)) and compared by its XML definition (an .isx), or is replaced (a .dsx, whose
    text cannot be compared with the engine's XML). An unknown project, or an existing asset with I(replace=false),
    fails with C(INVALID INPUT:), as do a job to replace that C(dsjob -ljobs) lists but C(istool export) does not
    return and a I(backup_dir) that is not a writable folder and cannot be created.
  - Backs up the definitions it will replace with C(istool export) into I(backup_dir) (the archive must exist, not
    be empty and hold them).
  - Imports the package as it was parsed - an .isx with C(istool import -replace), a .dsx with the engine's
    C(DSXImportService.sh -Overwrite -StopOnError). Verifies with C(dsjob -ljobs), C(dsjob -jobinfo) and a fresh
    export of every asset (with the package's definition, for an .isx); a job left C(NOT COMPILED (98)) is a
    warning (I(compile_check=warn)) or a failure (C(fail)). A failed verification re-imports the backup and fails.
  - Check mode parses, compares and runs C(istool import -preview) (.isx) or C(DSXImportService.sh -List) (.dsx);
    it changes nothing.
  - The engine environment - C(. $DSHOME/dsenv) once per run (I(dshome)). Credentials - an authfile, or
    I(user)/I(password) written to temporary 0600 files removed afterwards; never on a command line.
options:
  package: {description: Path of the .dsx or .isx package relative to I(package_root)., type: str, required: true}
  package_root:
    description: Absolute folder the package must lie in (the maintenance NAS share root).
    type: path
    required: true
  project: {description: DataStage project., type: str, required: true}
  replace: {description: Replace existing assets., type: bool, default: false}
  backup_dir: {description: Folder for the backup archive., type: path, required: true}
  backup_name: {description: File name of the backup archive., type: str, required: true}
  istool: {description: Path of istool., type: path, required: true}
  dsximport: {description: Path of DSXImportService.sh (a .dsx release)., type: path}
  compile_check:
    description: A job NOT COMPILED after the import - C(warn) (listed in not_compiled, run succeeds) or C(fail).
    type: str
    default: warn
    choices: [warn, fail]
extends_documentation_fragment: [datastage_cli]
"""

EXAMPLES = r"""
- name: Release R2026-11 into STATPRJ
  datastage_release:
    package: release/R2026-11/release-R2026-11.isx
    package_root: /mnt/nas/maint
    project: STATPRJ
    replace: true
    backup_dir: /var/lib/ops/datastage-backups
    backup_name: REQ-2026-1122-015-backup.isx
    istool: /opt/IBM/InformationServer/Clients/istools/cli/istool.sh
    dsximport: /opt/IBM/InformationServer/ASBNode/bin/DSXImportService.sh
    dsjob: /opt/IBM/InformationServer/Server/DSEngine/bin/dsjob
    dshome: /opt/IBM/InformationServer/Server/DSEngine
    domain: services01:9443
    server: DSENGINE01
    authfile: /home/dsadm/.ops-authfile
"""

RETURN = r"""
package: {description: Format, sha256 and asset names per kind., returned: always, type: dict}
assets:
  description: One entry per asset - kind, name, path, action (create, replace, none).
  returned: always
  type: list
backup:
  description: Backup archive - path, size, sha256, assets (empty when nothing is replaced).
  returned: success
  type: dict
preview:
  description: Output of istool import -preview or DSXImportService.sh -List (check mode).
  returned: check mode
  type: str
verified: {description: Jobs found by dsjob -ljobs / -jobinfo after the import., returned: success, type: list}
not_compiled: {description: Jobs NOT COMPILED (98) after the import., returned: always, type: list}
ops_changes: {description: Evidence entries., returned: always, type: list}
"""

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.datastage_cli import CLI_ARGS, NOT_COMPILED, DataStageError, cli_session, project_named
from ansible.module_utils.datastage_package import (
    PackageError,
    parse_isx_bytes,
    parse_package_bytes,
    read_confined,
    summary,
)
from ansible.module_utils.ops_paths import file_target_problem, folder_problem
from ansible.module_utils.ops_refusal import fail_invalid

ARGUMENT_SPEC = dict(
    CLI_ARGS,
    istool=dict(type="path", required=True),
    dsximport=dict(type="path"),
    package=dict(type="str", required=True),
    package_root=dict(type="path", required=True),
    project=dict(type="str", required=True),
    replace=dict(type="bool", default=False),
    backup_dir=dict(type="path", required=True),
    backup_name=dict(type="str", required=True),
    compile_check=dict(type="str", default="warn", choices=["warn", "fail"]),
)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _key(asset):
    return asset["kind"], asset["name"].upper()


def exported_digest(cli, project, asset, archive):
    """The digest of the project's current definition of ``asset`` (istool export of that one asset, read-only),
    or None when the project has no such asset."""
    if cli.export_if_there(project, asset, archive) is None:
        return None
    with open(archive, "rb") as f:
        _h, found = parse_isx_bytes(f.read())
    match = [a for a in found if _key(a) == _key(asset)]
    return match[0]["sha256"] if match else None


class Release:
    """One release: ``parse`` the package (read inside its root), ``compare`` it with the project, ``refuse`` what
    cannot be done, ``preview`` (check mode), ``backup`` what is replaced, ``import_assets`` (istool import for an
    .isx, DSXImportService.sh for a .dsx), ``verify`` (listing, definitions, the compile check; re-importing the
    backup when it fails). ``result`` is the module's result, filled step by step."""

    def __init__(self, module):
        self.module, self.p = module, module.params
        self.result = dict(changed=False, ops_changes=[], assets=[], not_compiled=[])
        self.cli = self.project = None
        self.assets, self.current, self.replaced, self.todo = [], {}, [], []
        self.format, self.data, self.staged = None, b"", None


    def parse(self):
        p = self.p
        try:
            self.data = read_confined(p["package_root"], p["package"])
            parsed = parse_package_bytes(p["package"], self.data)
        except PackageError as e:
            fail_invalid(self.module, "%s: %s" % (e.field, e), **self.result)
        self.assets, self.format = parsed["assets"], parsed["format"]
        self.result["package"] = dict(format=self.format, path=p["package"], sha256=hashlib.sha256(self.data)
                                      .hexdigest(), **summary(self.assets))
        if "/" in p["backup_name"] or p["backup_name"].startswith("."):
            fail_invalid(self.module, "backup_name: %r must be a plain file name" % p["backup_name"], **self.result)

    def compare(self, cli):
        """Each asset's action (create, replace, none) against the project's current definitions (read-only).

        A job that dsjob -ljobs does not list is new; any other asset is exported alone (istool export) and
        compared by definition_digest. A .dsx fragment cannot be compared with the engine's XML definition, so an
        asset of a .dsx that exists is always replaced."""
        p, self.cli = self.p, cli
        projects = cli.lprojects()
        self.project = project_named(projects, p["project"])
        if self.project is None:
            fail_invalid(self.module, "project: %s is not a project of %s (projects: %s)"
                         % (p["project"], p["server"], ", ".join(projects)), **self.result)
        jobs_now = set(j.upper() for j in cli.ljobs(self.project))
        for n, a in enumerate(self.assets):
            if a["kind"] == "job" and a["name"].upper() not in jobs_now:
                before = None
            else:
                before = exported_digest(cli, self.project, a, os.path.join(cli.tmpdir, "current-%d.isx" % n))
                if before is None and a["kind"] == "job":
                    before = "unknown"  # listed by dsjob but not exported: treat as different
            self.current[_key(a)] = before
            same = before is not None and self.format == "isx" and before == a["sha256"]
            a["action"] = "create" if before is None else ("none" if same else "replace")
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
        unexported = [a for a in self.replaced if self.current.get(_key(a)) == "unknown"]
        if unexported:
            fail_invalid(self.module, "; ".join(
                "package: %s is listed by dsjob -ljobs but istool export of %s returns nothing, so it cannot be "
                "backed up before replace (a job of another type? the package has it as a %s job (.%s) - give it the "
                "project's job type, or rename or remove the project's job first)"
                % (a["name"], self.cli.asset_path(self.project, a), a["job_type"], a["ext"]) for a in unexported),
                **self.result)
        if self.replaced and not p["replace"]:
            fail_invalid(self.module, "replace: %s already in %s%s (set replace: true to replace)"
                         % (", ".join(a["name"] for a in self.replaced), self.project,
                            " with a different definition" if self.format == "isx" else ""), **self.result)
        if self.format == "dsx" and not self.cli.dsximport:
            fail_invalid(self.module, "dsximport: a .dsx release needs the path of DSXImportService.sh "
                         "(datastage_dsximport)", **self.result)
        problem = None
        if self.replaced:
            problem = (folder_problem(p["backup_dir"])
                       or file_target_problem(os.path.join(p["backup_dir"], p["backup_name"]), tmp_suffix=None))
        if problem:
            fail_invalid(self.module, "backup_dir: %s cannot hold the backup of %s: %s - remove or move what is in "
                         "the way, or set datastage_backup_dir to a writable folder"
                         % (p["backup_dir"], ", ".join(a["name"] for a in self.replaced), problem), **self.result)

    def stage(self):
        """The package bytes that were parsed, in the private folder: what is imported is what was checked."""
        if self.staged is None:
            self.staged = os.path.join(self.cli.tmpdir, "package." + self.format)
            fd = os.open(self.staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self.data)
        return self.staged

    def preview(self):
        """The diff; ends the module when nothing is to import, and in check mode (after istool import -preview,
        or DSXImportService.sh -List for a .dsx - neither changes anything)."""
        p, result = self.p, self.result
        result["changed"] = bool(self.todo)
        if self.module._diff:
            result["diff"] = dict(
                before="".join("%s %s\n" % (a["path"], self.current.get(_key(a)) or "-") for a in self.assets),
                after="".join("%s %s\n" % (a["path"], a["sha256"]) for a in self.assets),
                before_header="%s/%s" % (p["server"], self.project), after_header=p["package"])
        if not self.todo:
            result["backup"] = dict(path=None, assets=[])
            result["verified"] = sorted(a["name"] for a in self.assets if a["kind"] == "job")
            self.module.exit_json(**result)
        if self.module.check_mode:
            if self.format == "isx":
                result["preview"] = self.cli.import_archive(self.project, self.stage(), replace=True, preview=True)
            else:
                result["preview"] = self.cli.dsx_list(self.stage())
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
        """The package as it was parsed: istool import -replace of the .isx (istool orders the assets), or
        DSXImportService.sh -Overwrite -StopOnError of the .dsx."""
        if self.format == "isx":
            self.result["import_output"] = self.cli.import_archive(self.project, self.stage(), replace=True)
        else:
            self.result["import_output"] = self.cli.dsx_import(self.project, self.stage())

    def verify(self):
        """Every job listed and readable by -jobinfo and compiled (not NOT COMPILED (98): a warning, or a failure
        with compile_check fail), every asset exported (with the package's definition, for an .isx); otherwise
        re-import the backup and fail."""
        cli, project, problems, verified, not_compiled = self.cli, self.project, [], [], []
        listed = set(j.upper() for j in cli.ljobs(project))
        for n, a in enumerate(self.assets):
            if a["kind"] == "job" and a["name"].upper() not in listed:
                problems.append("%s is not listed by dsjob -ljobs" % a["name"])
                continue
            if a["kind"] == "job":
                info = cli.jobinfo(project, a["name"])
                if info is None:
                    problems.append("dsjob -jobinfo does not know %s" % a["name"])
                    continue
                verified.append(a["name"])
                if info["status"] == NOT_COMPILED:
                    not_compiled.append(a["name"])
            digest = exported_digest(cli, project, a, os.path.join(cli.tmpdir, "verify-%d.isx" % n))
            if digest is None:
                problems.append("%s %s is not in %s after the import" % (a["kind"], a["name"], project))
            elif self.format == "isx" and digest != a["sha256"]:
                problems.append("%s %s differs from the package after the import" % (a["kind"], a["name"]))
        self.result["verified"] = sorted(verified)
        self.result["not_compiled"] = sorted(not_compiled)
        if not_compiled:
            msg = ("compile check: %s NOT COMPILED (98) after the import - compile before the next run"
                   % ", ".join(sorted(not_compiled)))
            if self.p["compile_check"] == "fail":
                problems.append(msg)
            else:
                self.module.warn(msg)
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
