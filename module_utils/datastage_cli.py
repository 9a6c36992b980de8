# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""Calls of the DataStage command line tools (dsjob, istool, DSXImportService.sh) shared by the datastage_* modules,
and the parsers of what they print.

Sources of the formats (tools/datastage_sim/README.md has the full table, with what could not be confirmed):

* dsjob output - IBM/datastage-api-sample ``dsjob.c`` (Apache-2.0): ``printStrList`` (one name a line;
  ``jobLJobs`` prints ``<none>`` for a project without jobs), ``jobJobInfo`` (``Job Status\\t: RUN FAILED (3)``,
  ``Job Start Time\\t: <ctime>``), ``jobLogSum`` (``%d\\t<TYPE>\\t<ctime>`` - ctime ends with a newline - then
  ``\\t<message>\\n``: two lines per event), ``main`` (``\\nStatus code = %d\\n`` on stderr when the result is not 0).
* dsjob status codes (DSJS_*): 0 RUNNING, 1 RUN OK, 2 RUN with WARNINGS, 3 RUN FAILED, 11/12/13 validated
  OK / with warnings / failed, 21 RESET, 96 CRASHED, 97 STOPPED, 98 NOT COMPILED, 99 NOT RUNNING
  (https://blog.csdn.net/bfhai/article/details/77587650, matching the DSJS_* cases of dsjob.c ``jobJobInfo``).
  The number in parentheses decides, never the label: dsjob.c has no case for 96 and prints ``UNKNOWN (96)``.
* exit codes and the engine environment - IBM, "Commands for controlling InfoSphere DataStage jobs"
  (https://ibm.com/support/knowledgecenter/en/SSZJPZ_11.7.0/com.ibm.swg.im.iis.ds.cliapi.ref.doc/topics/
  r_dsvjbref_Commands_for_Controlling_WebSphere_DataStage_Jobs.html): 0 on success, an API error code otherwise,
  "On UNIX servers, a code of 255 is returned if the error code is negative or greater than 254" (the real code is
  the ``Status code = N`` line on stderr), and "DSJOB has a runtime dependency on the libvmdsapi.so shared
  library" - hence ``. $DSHOME/dsenv`` first, once per session (``DataStageCli.__init__``).
* DSXImportService.sh (engine tier, ``ASBNode/bin``): ``-ISFile <file> -DSHost <host> -DSProject <p> -DSXFile <f>
  [-Overwrite] [-Verbose] [-StopOnError]``; the ISFile holds ``-ISHost``, ``-ISUser``, ``-ISPassword`` lines
  (https://blog.csdn.net/bfhai/article/details/89403893; invoked the same way in vlussenburg/xld-datastage-plugin
  ``datastage-perform-deploy.sh``).

Credentials go through files only (IBM's -authfile: domain=, server=, user=, password= lines; the ISFile of
DSXImportService.sh), never on a command line: the inventory's authfile, or temporary 0600 files written from
user/password in a private folder removed afterwards.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager

from ansible.module_utils.ops_refusal import refusal_message

CLI_ARGS = dict(
    istool=dict(type="path"),
    dsjob=dict(type="path", required=True),
    dshome=dict(type="path", required=True),
    domain=dict(type="str", required=True),
    server=dict(type="str", required=True),
    authfile=dict(type="path"),
    user=dict(type="str"),
    password=dict(type="str", no_log=True),
    environment=dict(type="dict", default={}),
)

# dsjob -jobinfo status codes (DSJS_*): the label we report for each code.
JOB_STATUS = {0: "RUNNING", 1: "RUN OK", 2: "RUN with WARNINGS", 3: "RUN FAILED", 11: "VALIDATED OK",
              12: "VALIDATE with WARNINGS", 13: "VALIDATION FAILED", 21: "RESET", 96: "CRASHED", 97: "STOPPED",
              98: "NOT COMPILED", 99: "NOT RUNNING"}
# The statuses the start-of-business check (STAT-001) reports: a failed, crashed, stopped or uncompiled job.
ATTENTION = (3, 96, 97, 98)
NOT_COMPILED = 98
LOG_TYPES = ("INFO", "WARNING", "FATAL", "REJECT", "STARTED", "RESET", "BATCH", "OTHER", "????")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# C ctime()/asctime(): "%.3s %.3s%3d %.2d:%.2d:%.2d %d\n" - "Tue Nov  3 02:10:15 2026"
CTIME = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (%s) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})$" % "|".join(MONTHS))
# istool exit codes (IBM "istool command line" exit codes, as recalled - not re-verified from a fetched page; the
# simulator's README lists this as unconfirmed). 1 "warning" lets the run go on: the verification decides.
ISTOOL_EXIT = {0: "success", 1: "warning", 2: "partial failure", 3: "error reading from the console",
               4: "invalid command history index", 5: "error reading from the script file",
               11: "invalid command syntax"}
ISTOOL_OK = (0, 1)
STATUS_CODE = re.compile(r"^Status code = (-?\d+)\s*$", re.M)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DataStageError(Exception):
    """A command failed (``kind`` "failed") or the request is wrong (``kind`` "invalid": INVALID INPUT)."""

    def __init__(self, msg, kind="failed"):
        super().__init__(msg)
        self.kind = kind


# ------------------------------------------------------------------ parsers (pure; tests feed them fixtures)

def parse_ctime(text):
    """A C ctime() date ("Tue Nov  3 02:10:15 2026", no newline) as a naive datetime (the engine's local time);
    raises ValueError for anything else."""
    m = CTIME.match(text.strip("\n"))
    if not m:
        raise ValueError("not a ctime() date: %r" % text[:40])
    _wd, mon, day, hh, mm, ss, year = m.groups()
    return datetime.datetime(int(year), MONTHS.index(mon) + 1, int(day), int(hh), int(mm), int(ss))


def parse_name_list(out):
    """Names of ``dsjob -lprojects`` / ``-ljobs`` (dsjob.c printStrList: one a line); ``<none>`` alone (jobLJobs,
    DSJE_NOT_AVAILABLE) is the empty list."""
    names = [x.strip() for x in out.splitlines() if x.strip()]
    return [] if names == ["<none>"] else names


def parse_jobinfo(out):
    """``dsjob -jobinfo`` output (dsjob.c jobJobInfo) as a dict: ``status`` (int, the number in parentheses),
    ``status_label`` (ours for that number, see JOB_STATUS; the printed one when the number is unknown),
    ``printed_label``, ``start_time`` (datetime or None for "not available"), ``fields`` (every "Key\\t: value").
    Raises ValueError when there is no ``Job Status`` line."""
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields.setdefault(key.strip(), value.strip())
    m = re.match(r"^(.*?)\s*\((-?\d+)\)$", fields.get("Job Status", ""))
    if not m:
        raise ValueError("no 'Job Status\\t: LABEL (code)' line in dsjob -jobinfo output")
    code = int(m.group(2))
    start = fields.get("Job Start Time", "not available")
    try:
        start_time = None if start == "not available" else parse_ctime(start)
    except ValueError:
        start_time = None
    return dict(status=code, status_label=JOB_STATUS.get(code, m.group(1)), printed_label=m.group(1),
                start_time=start_time, fields=fields)


def parse_logsum(out):
    """``dsjob -logsum`` events (dsjob.c jobLogSum) in order: [{id, type, time (datetime), time_text, message}].

    Each event is ``<id>\\t<TYPE>\\t<ctime>\\n`` then ``\\t<message>\\n``; further lines of a message that holds a
    newline follow as they are, up to the next ``<id>\\t<TYPE>\\t<ctime>`` line. Raises ValueError for a line that
    belongs to no event (the output is not what dsjob prints)."""
    events = []
    for line in out.split("\n"):
        head = line.split("\t")
        if len(head) == 3 and head[0].isdigit() and head[1] in LOG_TYPES and CTIME.match(head[2]):
            events.append(dict(id=int(head[0]), type=head[1], time=parse_ctime(head[2]), time_text=head[2],
                               lines=[]))
        elif events:
            events[-1]["lines"].append(line)
        elif line.strip():
            raise ValueError("dsjob -logsum: %r is not an event line (id<TAB>TYPE<TAB>ctime date)" % line[:80])
    for e in events:
        lines = e.pop("lines")
        while lines and lines[-1] == "":
            lines.pop()
        if lines and lines[0].startswith("\t"):
            lines[0] = lines[0][1:]
        e["message"] = "\n".join(lines)
    return events


def istool_meaning(rc):
    """What istool's exit code ``rc`` means (ISTOOL_EXIT), for messages."""
    return ISTOOL_EXIT.get(rc, "failure")


def status_code(err):
    """The ``Status code = N`` dsjob printed on stderr (dsjob.c main), or None."""
    found = STATUS_CODE.findall(err or "")
    return int(found[-1]) if found else None


def parse_environment(data):
    """The JSON object of the environment printed after sourcing dsenv, as a dict of valid names only;
    ValueError for anything else."""
    env = json.loads(data)
    if not isinstance(env, dict):
        raise ValueError("not a JSON object")
    return dict((k, str(v)) for k, v in env.items() if ENV_NAME.match(k))


# ------------------------------------------------------------------ the session

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
        module.fail_json(msg=refusal_message(e.kind, str(e)), **result)
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


def _private_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class DataStageCli:
    """One session with the engine: ``$DSHOME/dsenv`` sourced once (its environment reused by every command),
    the credentials files written once, a private temporary folder removed by ``close()``."""

    def __init__(self, module):
        self.module = module
        p = module.params
        self.istool, self.dsjob = p.get("istool"), p["dsjob"]
        self.dsximport = p.get("dsximport")
        self.domain, self.server = p["domain"], p["server"]
        self.tmpdir = tempfile.mkdtemp(prefix="ops-datastage-")
        self.env = self.source_dsenv(p["dshome"])
        self.env.update((k, str(v)) for k, v in (p.get("environment") or {}).items())
        self.creds = {}
        if p.get("authfile"):
            if not os.path.isfile(p["authfile"]):
                raise DataStageError("authfile: %s is not there" % p["authfile"], "invalid")
            self.authfile = p["authfile"]
        elif p.get("user") and p.get("password"):
            self.authfile = _private_file(os.path.join(self.tmpdir, "authfile"), "domain=%s\nserver=%s\nuser=%s\n"
                                          "password=%s\n" % (self.domain, self.server, p["user"], p["password"]))
        else:
            raise DataStageError("credentials: give an authfile path or user and password", "invalid")
        self.isfile = None

    def source_dsenv(self, dshome):
        """The environment after ``. $DSHOME/dsenv`` (one /bin/sh, this once), as the changes to ours.

        IBM: dsjob needs libvmdsapi.so, which dsenv puts on the library path. INVALID INPUT when ``dshome`` is not
        an absolute folder holding a regular file ``dsenv``; a failure when sourcing it fails."""
        if not dshome or not os.path.isabs(dshome) or not os.path.isdir(dshome):
            raise DataStageError("dshome: %r is not an absolute folder (the engine's DSEngine folder, $DSHOME) - set "
                                 "datastage_dshome in the inventory" % dshome, "invalid")
        dsenv = os.path.join(dshome, "dsenv")
        if not os.path.isfile(dsenv):
            raise DataStageError("dshome: %s has no dsenv file - set datastage_dshome to the engine's DSEngine folder"
                                 % dshome, "invalid")
        # the environment is printed by this module's own Python (portable: no `env -0` on AIX), as JSON
        script = ('. "$DSHOME/dsenv" >/dev/null 2>&1 && exec "$0" -c '
                  '"import json, os, sys; sys.stdout.write(json.dumps(dict(os.environ)))"')
        rc, out, err = self.module.run_command(["/bin/sh", "-c", script, sys.executable],
                                               environ_update=dict(DSHOME=dshome))
        try:
            if rc != 0:
                raise ValueError("rc %d: %s" % (rc, (err or "").strip()[-300:]))
            after = parse_environment(out)
        except ValueError as e:
            raise DataStageError(". %s failed: %s" % (dsenv, e)) from None
        changed = dict((k, v) for k, v in after.items() if os.environ.get(k) != v)
        changed["DSHOME"] = after.get("DSHOME", dshome)
        return changed

    def close(self):
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def run(self, argv):
        rc, out, err = self.module.run_command(argv, environ_update=self.env)
        return rc, out, err

    # -------------------------------------------------------------- dsjob

    def dsjob_cmd(self, *args, **kw):
        """``dsjob -domain D -authfile F -server S <args>``; (rc, out, err). rc != 0 raises DataStageError naming
        the real status code (stderr) unless ``allow_fail``."""
        argv = [self.dsjob, "-domain", self.domain, "-authfile", self.authfile, "-server", self.server, *args]
        rc, out, err = self.run(argv)
        if rc != 0 and not kw.get("allow_fail"):
            raise DataStageError(self.dsjob_failure(args[0], rc, out, err))
        return rc, out, err

    @staticmethod
    def dsjob_failure(command, rc, out, err):
        code = status_code(err)
        text = " ".join(x.strip() for x in (err or out or "").splitlines() if x.strip() and not
                        x.startswith("Status code"))
        return "dsjob %s failed (exit %d, Status code = %s): %s" % (
            command, rc, "unknown" if code is None else code, text[-400:] or "no message")

    def lprojects(self):
        return parse_name_list(self.dsjob_cmd("-lprojects")[1])

    def ljobs(self, project):
        return parse_name_list(self.dsjob_cmd("-ljobs", project)[1])

    def jobinfo(self, project, job):
        """parse_jobinfo of the job, or None when dsjob cannot read it (rc != 0 or no Job Status line)."""
        rc, out, _err = self.dsjob_cmd("-jobinfo", project, job, allow_fail=True)
        if rc != 0:
            return None
        try:
            return parse_jobinfo(out)
        except ValueError:
            return None

    def logsum(self, project, job):
        try:
            return parse_logsum(self.dsjob_cmd("-logsum", project, job)[1])
        except ValueError as e:
            raise DataStageError("dsjob -logsum %s %s: %s" % (project, job, e)) from None

    # -------------------------------------------------------------- istool

    def istool_cmd(self, command, archive, datastage, *flags):
        """istool import/export; (rc, out, err). Exit codes: ISTOOL_EXIT - 0 success and 1 warning go on (with a
        module warning for 1), anything else is a failure the caller reports with istool_meaning."""
        if not self.istool:
            raise DataStageError("istool: the path of istool is required", "invalid")
        argv = [self.istool, command, "-domain", self.domain, "-authfile", self.authfile, "-archive", archive]
        argv += [*flags, "-datastage", datastage]
        rc, out, err = self.run(argv)
        if rc == 1:
            self.module.warn("istool %s exited 1 (warning): %s" % (command, (err or out).strip()[-300:]))
        return rc, out, err

    def asset_path(self, project, asset):
        """The istool asset path that ``export`` selects ``asset`` (a parsed package entry) with:
        HOST/PROJECT/*/Name.ext - any folder, the extension of the asset's kind / job type."""
        return "%s/%s/*/%s.%s" % (self.server, project, asset["name"], asset["ext"])

    def export(self, project, assets, archive):
        """istool export of ``assets`` of ``project`` into ``archive``; rc 0 and a non-empty archive, or
        DataStageError (istool can exit 0 without writing it)."""
        spec = " ".join('"%s"' % self.asset_path(project, a) for a in assets)
        rc, out, err = self.istool_cmd("export", archive, spec)
        if rc not in ISTOOL_OK:
            raise DataStageError("istool export failed (exit %d, %s): %s"
                                 % (rc, istool_meaning(rc), (err or out).strip()[-500:]))
        if not os.path.isfile(archive) or os.path.getsize(archive) == 0:
            raise DataStageError("istool export exited %d but wrote no archive at %s - no backup, nothing imported"
                                 % (rc, archive))
        return archive

    def export_if_there(self, project, asset, archive):
        """istool export of one asset: the archive path, or None when istool says no asset matched (exit != 0
        with ``No assets matched`` - the simulator's wording; IBM's exact text is not confirmed, so on a real
        engine any other failure stops the run: exit 3 before anything changes)."""
        spec = '"%s"' % self.asset_path(project, asset)
        rc, out, err = self.istool_cmd("export", archive, spec)
        if rc not in ISTOOL_OK and "No assets matched" in (out or "") + (err or ""):
            return None
        if rc not in ISTOOL_OK:
            raise DataStageError("istool export of %s failed (exit %d, %s): %s" % (
                self.asset_path(project, asset), rc, istool_meaning(rc), (err or out).strip()[-500:]))
        if not os.path.isfile(archive) or os.path.getsize(archive) == 0:
            raise DataStageError("istool export exited %d but wrote no archive at %s - nothing imported"
                                 % (rc, archive))
        return archive

    def import_archive(self, project, archive, replace=True, preview=False):
        flags = (["-replace"] if replace else []) + (["-preview"] if preview else [])
        rc, out, err = self.istool_cmd("import", archive, '"%s/%s"' % (self.server, project), *flags)
        if rc not in ISTOOL_OK:
            raise DataStageError("istool import failed (exit %d, %s): %s"
                                 % (rc, istool_meaning(rc), (err or out).strip()[-500:]))
        return out

    # -------------------------------------------------------------- DSXImportService.sh

    def _isfile(self):
        """The ISFile of DSXImportService.sh (0600, private folder): -ISHost / -ISUser / -ISPassword lines from the
        authfile's domain, user and password."""
        if self.isfile is None:
            creds = {}
            with open(self.authfile) as f:
                for line in f:
                    key, sep, value = line.strip().partition("=")
                    if sep and not key.startswith("#"):
                        creds[key.strip().lower()] = value.strip()
            if not creds.get("user") or not creds.get("password"):
                raise DataStageError("authfile: %s has no user= and password= lines (DSXImportService.sh needs them)"
                                     % self.authfile, "invalid")
            self.isfile = _private_file(os.path.join(self.tmpdir, "isfile"), "-ISHost %s\n-ISUser %s\n"
                                        "-ISPassword %s\n" % (creds.get("domain") or self.domain, creds["user"],
                                                              creds["password"]))
        return self.isfile

    def dsx_list(self, dsx):
        """DSXImportService.sh -List -DSXFile X: what the .dsx holds, as the engine reads it (changes nothing)."""
        if not self.dsximport:
            raise DataStageError("dsximport: the path of DSXImportService.sh is required for a .dsx release", "invalid")
        rc, out, err = self.run([self.dsximport, "-List", "-DSXFile", dsx])
        if rc != 0:
            raise DataStageError("DSXImportService.sh -List failed (exit %d): %s" % (rc, (err or out).strip()[-500:]))
        return out

    def dsx_import(self, project, dsx):
        """DSXImportService.sh -ISFile F -DSHost SERVER -DSProject P -DSXFile X -Overwrite -StopOnError -Verbose;
        its output, or DataStageError (exit != 0)."""
        if not self.dsximport:
            raise DataStageError("dsximport: the path of DSXImportService.sh is required for a .dsx release", "invalid")
        argv = [self.dsximport, "-ISFile", self._isfile(), "-DSHost", self.server, "-DSProject", project,
                "-DSXFile", dsx, "-Overwrite", "-StopOnError", "-Verbose"]
        rc, out, err = self.run(argv)
        if rc != 0:
            raise DataStageError("DSXImportService.sh failed (exit %d): %s" % (rc, (err or out).strip()[-500:]))
        return out
