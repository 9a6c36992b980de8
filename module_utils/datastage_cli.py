# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""Calls of the DataStage command line tools (istool, dsjob) shared by the datastage_* modules.

Credentials go through an authfile only (IBM's -authfile: domain=, server=, user=, password= lines), never on a
command line: either the inventory's authfile, or a temporary 0600 one written from user/password and removed
afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

CLI_ARGS = dict(
    istool=dict(type="path"),
    dsjob=dict(type="path", required=True),
    domain=dict(type="str", required=True),
    server=dict(type="str", required=True),
    authfile=dict(type="path"),
    user=dict(type="str"),
    password=dict(type="str", no_log=True),
    environment=dict(type="dict", default={}),
)


class DataStageError(Exception):
    """A command failed (``kind`` "failed") or the request is wrong (``kind`` "invalid": INVALID INPUT)."""

    def __init__(self, msg, kind="failed"):
        super().__init__(msg)
        self.kind = kind


@contextmanager
def cli_session(module, result, os_failure=None):
    """A DataStageCli for the ``with`` block, closed (its temporary folder removed) afterwards, whatever happens.

    A DataStageError raised in the block fails the module with its message (prefixed ``INVALID INPUT:`` for kind
    "invalid") and ``result``; an OSError too, as ``os_failure % error``, when ``os_failure`` is given (otherwise
    it passes through). fail_json / exit_json called in the block end the module as usual.
    """
    cli = None
    try:
        cli = DataStageCli(module)
        yield cli
    except DataStageError as e:
        module.fail_json(msg=("INVALID INPUT: " if e.kind == "invalid" else "") + str(e), **result)
    except OSError as e:
        if os_failure is None:
            raise
        module.fail_json(msg=os_failure % e, **result)
    finally:
        if cli is not None:
            cli.close()


def project_named(projects, name):
    """The project of ``projects`` (as dsjob -lprojects lists them) named ``name``, case-insensitive; or None."""
    match = [x for x in projects if x.upper() == name.upper()]
    return match[0] if match else None


class DataStageCli:
    def __init__(self, module):
        self.module = module
        p = module.params
        self.istool, self.dsjob = p.get("istool"), p["dsjob"]
        self.domain, self.server = p["domain"], p["server"]
        self.env = dict((k, str(v)) for k, v in (p.get("environment") or {}).items())
        self.tmpdir = tempfile.mkdtemp(prefix="ops-datastage-")
        if p.get("authfile"):
            if not os.path.isfile(p["authfile"]):
                raise DataStageError("authfile: %s is not there" % p["authfile"], "invalid")
            self.authfile = p["authfile"]
        elif p.get("user") and p.get("password"):
            self.authfile = os.path.join(self.tmpdir, "authfile")
            fd = os.open(self.authfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("domain=%s\nserver=%s\nuser=%s\npassword=%s\n" % (self.domain, self.server, p["user"],
                                                                          p["password"]))
        else:
            raise DataStageError("credentials: give an authfile path or user and password", "invalid")

    def close(self):
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def run(self, argv):
        rc, out, err = self.module.run_command(argv, environ_update=self.env)
        return rc, out, err

    def dsjob_cmd(self, *args, **kw):
        argv = [self.dsjob, "-domain", self.domain, "-authfile", self.authfile, "-server", self.server, *args]
        rc, out, err = self.run(argv)
        if rc != 0 and not kw.get("allow_fail"):
            raise DataStageError("dsjob %s failed (rc %d): %s" % (args[0], rc, (err or out).strip()[-500:]))
        return rc, out, err

    def lprojects(self):
        return [x.strip() for x in self.dsjob_cmd("-lprojects")[1].splitlines() if x.strip()]

    def ljobs(self, project):
        return [x.strip() for x in self.dsjob_cmd("-ljobs", project)[1].splitlines() if x.strip()]

    def jobinfo(self, project, job):
        rc, out, _err = self.dsjob_cmd("-jobinfo", project, job, allow_fail=True)
        if rc != 0:
            return None
        info = {}
        for line in out.splitlines():
            if ":" in line:
                k, _s, v = line.partition(":")
                info[k.strip()] = v.strip()
        return info

    def logsum(self, project, job):
        events = []
        for line in self.dsjob_cmd("-logsum", project, job)[1].splitlines():
            parts = line.split("\t", 3)
            if len(parts) == 4 and parts[0].strip().isdigit():
                events.append(dict(id=int(parts[0]), type=parts[1].strip(), time=parts[2].strip(), message=parts[3]))
        return events

    def istool_cmd(self, command, archive, datastage, *flags):
        if not self.istool:
            raise DataStageError("istool: the path of istool is required", "invalid")
        argv = [self.istool, command, "-domain", self.domain, "-authfile", self.authfile, "-archive", archive]
        argv += [*flags, "-datastage", datastage]
        rc, out, err = self.run(argv)
        if rc != 0:
            raise DataStageError("istool %s failed (rc %d): %s" % (command, rc, (err or out).strip()[-500:]))
        return out

    def asset_path(self, project, asset):
        """The istool asset path that ``export`` selects ``asset`` (a parsed package entry) with:
        HOST/PROJECT/*/Name.ext - any folder, the extension of the asset's kind / job type."""
        return "%s/%s/*/%s.%s" % (self.server, project, asset["name"], asset["ext"])

    def export(self, project, assets, archive):
        """istool export of ``assets`` (parsed package entries) of ``project`` into ``archive``; the archive must
        exist and not be empty afterwards (istool can exit 0 without writing it)."""
        spec = " ".join('"%s"' % self.asset_path(project, a) for a in assets)
        self.istool_cmd("export", archive, spec)
        if not os.path.isfile(archive) or os.path.getsize(archive) == 0:
            raise DataStageError("istool export exited 0 but wrote no archive at %s - no backup, nothing imported"
                                 % archive)
        return archive

    def import_archive(self, project, archive, replace=True, preview=False):
        flags = (["-replace"] if replace else []) + (["-preview"] if preview else [])
        return self.istool_cmd("import", archive, '"%s/%s"' % (self.server, project), *flags)
