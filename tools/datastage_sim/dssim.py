# ruff: noqa: UP031 - %-formatting, like the Ansible modules of this project
"""SIMULATOR of IBM InfoSphere DataStage 11.x command line tools (dsjob, istool, DSXImportService.sh) - sandbox
and tests only.

Not used by any production code path: the sandbox inventory points datastage_dsjob / datastage_istool /
datastage_dsximport at the wrappers in this folder. README.md here lists, per behaviour, the public source it
follows and what could not be confirmed. This file parses what it receives itself (it does not import the
project's module_utils), so that the clients are tested against an independent reading of the formats.

State: the folder named by the environment variable DSSIM_HOME:
  engine.json                         {"server", "domain", "user", "password"}
  DSEngine/dsenv, DSEngine/lib/libvmdsapi.so   the engine environment dsjob needs (``. $DSHOME/dsenv``)
  projects/<PROJECT>/<kind>/<Name>.json  one asset: kind, name, ext, folder, definition (XML text), executable
                                       (text or null), status (DSJS_* code), start_time (ISO or null)
  runs/<PROJECT>/<Job>.jsonl          run log events: {"id", "type", "time" (ISO, engine local time), "message"}
Faults (DSSIM_FAULT, comma separated): export_no_archive - istool export exits 0 without writing the archive;
import_drops:<Name> - istool import / DSXImportService.sh report <Name> imported but skip it; engine_down - every
command fails as if the engine did not answer.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shlex
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

MANIFEST = "META-INF/IS-MANIFEST.MF"
KIND_DIRS = {"job": "jobs", "parameter_set": "parametersets", "routine": "routines",
             "shared_container": "sharedcontainers", "table_definition": "tabledefinitions"}
EXT_KIND = {"pjb": "job", "sjb": "job", "qjb": "job", "pst": "parameter_set", "srt": "routine",
            "psc": "shared_container", "tbd": "table_definition"}
ISTP = {"pjb": "DataStageParallelJob", "qjb": "DataStageSequenceJob", "sjb": "DataStageServerJob",
        "pst": "DataStageParameterSet", "srt": "DataStageServerRoutine", "psc": "DataStageSharedContainer",
        "tbd": "DataStageTableDefinition"}
# dsjob status codes (DSJE_*): -1002 and -9999 (DSJE_DSJOB_ERROR, dsjob.c) are sourced; the others are ours.
DSJE_BADPROJECT = -1002
DSJE_BADJOB = -1004
DSJE_NOTAUTH = -1008
DSJE_ENGINE = -99
DSJE_DSJOB_ERROR = -9999
# dsjob.c jobJobInfo labels, byte for byte (13 is "VALIDATION FILED" there; 96 has no case: UNKNOWN).
DSJOB_LABEL = {0: "RUNNING", 1: "RUN OK", 2: "RUN with WARNINGS", 3: "RUN FAILED", 11: "VALIDATED OK",
               12: "VALIDATE with WARNINGS", 13: "VALIDATION FILED", 21: "RESET", 97: "STOPPED", 98: "NOT COMPILED",
               99: "NOT RUNNING"}
LOG_TYPES = ("INFO", "WARNING", "FATAL", "REJECT", "STARTED", "RESET", "BATCH", "OTHER")
MAJOR = ("run", "stop", "lprojects", "ljobs", "lstages", "llinks", "jobinfo", "stageinfo", "linkinfo", "lparams",
         "paraminfo", "log", "logsum", "logdetail", "lognewest")


class SimError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def home() -> Path:
    h = os.environ.get("DSSIM_HOME")
    if not h:
        raise SimError("DSSIM_HOME is not set (simulator state folder)", 1)
    return Path(h)


def faults() -> list[str]:
    return [f.strip() for f in os.environ.get("DSSIM_FAULT", "").split(",") if f.strip()]


def engine() -> dict[str, str]:
    if "engine_down" in faults():
        raise SimError("Unable to connect to the engine tier (simulated engine_down)", DSJE_ENGINE)
    return json.loads((home() / "engine.json").read_text())


def read_authfile(path: str) -> dict[str, str]:
    """IBM's credentials file: key=value lines (domain, server, user, password); # comments."""
    out = {}
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise SimError("Cannot read the authfile %s: %s" % (path, e.strerror), DSJE_NOTAUTH) from None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, _s, v = line.partition("=")
            out[k.strip().lower()] = v.strip()
    return out


def check_user(user: str | None, password: str | None, code: int) -> dict[str, str]:
    eng = engine()
    if not user or not password:
        raise SimError("A user name and password are required", code)
    if user != eng["user"] or password != eng["password"]:
        raise SimError("Failed to authenticate the current user against the selected Domain: "
                       "Invalid user name (%s) or password." % user, code)
    return eng


def authenticate(opts: dict[str, str], code: int) -> dict[str, str]:
    creds = read_authfile(opts["authfile"]) if opts.get("authfile") else {}
    eng = check_user(opts.get("user") or creds.get("user"), opts.get("password") or creds.get("password"), code)
    server = opts.get("server") or creds.get("server")
    if server and server.upper() != eng["server"].upper():
        raise SimError("Unknown engine host %s" % server, code)
    return eng


def project_dir(name: str, code: int) -> Path:
    for p in sorted((home() / "projects").iterdir()):
        if p.name.upper() == name.upper():
            return p
    raise SimError("Project %s not found" % name, code)


def assets(project: Path) -> list[dict]:
    out = []
    for kind, sub in KIND_DIRS.items():
        for f in sorted((project / sub).glob("*.json")):
            a = json.loads(f.read_text())
            a["kind"] = kind
            out.append(a)
    return out


def write_asset(project: Path, asset: dict) -> None:
    d = project / KIND_DIRS[asset["kind"]]
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("*.json"):  # names are case-insensitive in a project
        if old.stem.upper() == asset["name"].upper() and old.stem != asset["name"]:
            old.unlink()
    tmp = d / (".%s.tmp" % asset["name"])
    tmp.write_text(json.dumps(asset, indent=1, sort_keys=True))
    os.replace(tmp, d / ("%s.json" % asset["name"]))


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def definition_xml(kind: str, name: str, job_type: str | None, description: str, stamp: str | None = None) -> str:
    """The XML definition the simulated engine stores for an asset imported from a .dsx (layout of an istool
    export's DSJobDefSDO; see README.md for what is approximated)."""
    root = {"job": "DSJobDefSDO", "routine": "DSRoutineSDO", "parameter_set": "DSParameterSetSDO",
            "shared_container": "DSSharedContainerDefSDO", "table_definition": "DSTableDefinitionSDO"}[kind]
    jt = ' jobType="%s"' % job_type if job_type else ""
    stamp = stamp or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return ('<?xml version="1.1" encoding="UTF-8"?>\n<com.ibm.datastage.ai.dtm.ds:%s xmi:version="2.0" '
            'xmlns:xmi="http://www.omg.org/XMI" xmlns:com.ibm.datastage.ai.dtm.ds="http:///com/ibm/datastage/ai/dtm/'
            'ds.ecore" lastModificationTimestamp="%s" optimisticLockID="1" modifiedByUser="dsadm" name="%s" '
            'shortDescription="%s"%s></com.ibm.datastage.ai.dtm.ds:%s>\n'
            % (root, stamp, _attr(name), _attr(description), jt, root))


# ---------------------------------------------------------------- istool

def parse_istool(argv: list[str]) -> tuple[str, dict]:
    if not argv or argv[0] not in ("import", "export"):
        raise SimError("Usage: istool import|export -domain <host:port> (-authfile <file> | -username <u> "
                       "-password <p>) -archive <file.isx> [-replace] [-preview] "
                       "-datastage '<options> \"HOST/PROJECT[/...]\"'", 11)
    cmd, opts, i = argv[0], {"replace": False, "preview": False}, 1
    names = {"-domain": "domain", "-dom": "domain", "-username": "user", "-u": "user", "-password": "password",
             "-p": "password", "-authfile": "authfile", "-af": "authfile", "-archive": "archive", "-ar": "archive",
             "-datastage": "datastage", "-ds": "datastage"}
    while i < len(argv):
        a = argv[i]
        if a in ("-replace", "-r"):
            opts["replace"] = True
        elif a in ("-preview", "-pre"):
            opts["preview"] = True
        elif a in names and i + 1 < len(argv):
            opts[names[a]] = argv[i + 1]
            i += 1
        else:
            raise SimError("Invalid command syntax: %s" % a, 11)
        i += 1
    for req in ("domain", "archive", "datastage"):
        if not opts.get(req):
            raise SimError("Invalid command syntax: -%s is required" % req, 11)
    return cmd, opts


def ds_paths(spec: str) -> list[str]:
    """The '"HOST/PROJECT/..."' paths of a -datastage value (DataStage options such as -nocompile skipped)."""
    return [t for t in shlex.split(spec) if not t.startswith("-")]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def manifest_entries(text: str) -> list[dict]:
    """<entries name= path=> of an XML IS-MANIFEST.MF, with their additionalInfo."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise SimError("The archive manifest declares a DOCTYPE", 2)
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - DOCTYPE / ENTITY refused above
    except ElementTree.ParseError as e:
        raise SimError("The archive manifest is not valid: %s" % e, 2) from None
    out = []
    for el in root:
        if _local(el.tag) == "entries":
            info = {s.get("key"): s.get("value") for s in el if _local(s.tag) == "additionalInfo"}
            out.append({"name": el.get("name"), "path": el.get("path"), "info": info})
    return out


def istool_import(opts: dict) -> int:
    eng = authenticate(opts, 1)
    paths = ds_paths(opts["datastage"])
    if len(paths) != 1 or paths[0].count("/") != 1:
        raise SimError("-datastage must name one \"HOST/PROJECT\" target", 11)
    host, proj = paths[0].split("/")
    if host.upper() != eng["server"].upper():
        raise SimError("Unknown engine host %s" % host, 1)
    project = project_dir(proj, 1)
    try:
        zf = zipfile.ZipFile(opts["archive"])
    except (OSError, zipfile.BadZipFile) as e:
        raise SimError("Cannot read the archive %s: %s" % (opts["archive"], e), 1) from None
    drops = {f.split(":", 1)[1] for f in faults() if f.startswith("import_drops:")}
    skipped = 0
    with zf:
        if MANIFEST not in zf.namelist():
            raise SimError("The archive %s has no %s" % (opts["archive"], MANIFEST), 2)
        entries = manifest_entries(zf.read(MANIFEST).decode("utf-8"))
        existing = {(a["kind"], a["name"].upper()) for a in assets(project)}
        for ent in entries:
            parts = ent["path"].split("/")
            ext = parts[-1].rpartition(".")[2]
            kind = EXT_KIND.get(ext)
            if kind is None:
                raise SimError("Unknown asset type %s" % ent["path"], 2)
            shown = "%s/%s/%s" % (host, proj, "/".join(parts[2:]))
            there = (kind, ent["name"].upper()) in existing
            if there and not opts["replace"]:
                print("Skipped: %s already exists; use -replace to overwrite it" % shown, file=sys.stderr)
                skipped += 1
                continue
            if opts["preview"]:
                print("Preview: %s (%s)" % (shown, "replace" if there else "new"))
                continue
            if ent["name"] in drops:
                print("Imported: %s" % shown)  # the fault: reported, not done
                continue
            exe_path = ent["info"].get("executablepath") if ent["info"].get("includeexecutable") == "true" else None
            write_asset(project, {
                "kind": kind, "name": ent["name"], "ext": ext, "folder": "/".join(parts[2:-1]),
                "definition": zf.read(ent["path"]).decode("utf-8"),
                "executable": zf.read(exe_path).decode("utf-8") if exe_path else None,
                "status": (99 if exe_path else 98) if kind == "job" else None, "start_time": None})
            print("Imported: %s" % shown)
    print("Total assets: %d, skipped: %d" % (len(entries), skipped))
    return 2 if skipped else 0


def istool_export(opts: dict) -> int:
    eng = authenticate(opts, 1)
    selected, unmatched, host, proj = [], [], None, None
    for path in ds_paths(opts["datastage"]):
        parts = path.split("/")
        if len(parts) < 3:
            raise SimError("Asset path %s: \"HOST/PROJECT/FOLDER/NAME.TYPE\" expected" % path, 11)
        host, proj, pattern = parts[0], parts[1], "/".join(parts[2:])
        if host.upper() != eng["server"].upper():
            raise SimError("Unknown engine host %s" % host, 1)
        project = project_dir(proj, 1)
        rx = re.compile("^" + ".*".join(re.escape(x) for x in pattern.split("*")) + "$", re.IGNORECASE)
        found = [a for a in assets(project) if rx.match("%s/%s.%s" % (a["folder"], a["name"], a["ext"]))]
        if not found:
            unmatched.append(path)
        selected += [a for a in found if a not in selected]
    for path in unmatched:
        print("ERROR: No assets matched the query: %s" % path, file=sys.stderr)
    if "export_no_archive" in faults():
        print("Export completed: %d assets" % len(selected))
        return 0
    if not selected:
        return 2
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        head = ('<?xml version="1.0" encoding="UTF-8"?><com.ibm.iis.istools.ai.core:Manifest xmi:version="2.0" '
                'xmlns:xmi="http://www.omg.org/XMI" xmlns:com.ibm.iis.istools.ai.core="http://com.ibm.iis.istools.'
                'ai.core/manifest" creationDate="%s" createdBy="%s" chunksCount="1">'
                % (dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"), eng["user"]))
        body = []
        for a in selected:
            base = "%s/%s/%s/%s" % (eng["server"], proj, a["folder"], a["name"])
            member = base + "." + a["ext"]
            exe = base + ".bin" if a.get("executable") else None
            body.append('<entries name="%s" path="%s" createdBy="%s" description="" product="DataStage">'
                        '<id key="uri" value="istp://%s@localhost:9080/%s/%s/%s?server=%s"/>'
                        '<additionalInfo key="path" value="%s"/><additionalInfo key="includeexecutable" value="%s"/>'
                        '<additionalInfo key="includedesigns" value="true"/>%s</entries>'
                        % (_attr(a["name"]), _attr(member), eng["user"], ISTP[a["ext"]], proj, a["folder"],
                           a["name"], eng["server"], _attr(member), "true" if exe else "false",
                           '<additionalInfo key="executablepath" value="%s"/>' % _attr(exe) if exe else ""))
            zf.writestr(member, a["definition"])
            if exe:
                zf.writestr(exe, a["executable"])
        zf.writestr(MANIFEST, head + "".join(body) + "</com.ibm.iis.istools.ai.core:Manifest>")
    Path(opts["archive"]).write_bytes(buf.getvalue())
    print("Export completed: %d assets" % len(selected))
    return 2 if unmatched else 0


def istool_main(argv: list[str]) -> int:
    try:
        cmd, opts = parse_istool(argv)
        return istool_import(opts) if cmd == "import" else istool_export(opts)
    except SimError as e:
        print("ERROR: %s" % e, file=sys.stderr)
        return e.code if e.code > 0 else 1


# ---------------------------------------------------------------- DSXImportService.sh

def dsx_blocks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Top-level BEGIN X ... END X blocks of a .dsx."""
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^BEGIN ([A-Z]+)$", lines[i].strip())
        if not m:
            i += 1
            continue
        depth, j = 0, i
        while j < len(lines):
            s = lines[j].strip()
            depth += 1 if re.match(r"^BEGIN [A-Z]+$", s) else (-1 if re.match(r"^END [A-Z]+$", s) else 0)
            if depth == 0:
                break
            j += 1
        out.append((m.group(1), lines[i:j + 1]))
        i = j + 1
    return out


def _dsx_value(lines: list[str], key: str) -> str | None:
    for line in lines:
        m = re.match(r'^\s*%s\s+"(.*)"\s*$' % key, line)
        if m:
            return m.group(1)
    return None


def dsx_assets(text: str) -> list[dict]:
    out = []
    for section, block in dsx_blocks(text.replace("\r\n", "\n").split("\n")):
        if section in ("DSJOB", "DSSHAREDCONTAINER"):
            name = _dsx_value(block[1:], "Identifier") or ""
            kind = "job" if section == "DSJOB" else "shared_container"
            jt = _dsx_value(block, "JobType") or "3"
            ext = {"0": "sjb", "2": "qjb"}.get(jt, "pjb") if kind == "job" else "psc"
            folder = re.sub(r"\\+", "/", _dsx_value(block, "Category") or "").strip("/")
            out.append({"kind": kind, "name": name, "ext": ext, "folder": folder or "Jobs",
                        "job_type": {"pjb": "Parallel", "qjb": "Sequence", "sjb": "Server"}.get(ext),
                        "description": _dsx_value(block, "Description") or ""})
        elif section in ("DSROUTINES", "DSPARAMSETS", "DSTABLEDEFS"):
            kind = {"DSROUTINES": "routine", "DSPARAMSETS": "parameter_set", "DSTABLEDEFS": "table_definition"}[
                section]
            for _s, rec in dsx_blocks(block[1:-1]):
                ident = _dsx_value(rec, "Identifier") or ""
                folder, _sep, name = ident.rpartition("\\")
                folder = re.sub(r"\\+", "/", _dsx_value(rec, "Category") or folder).strip("/")
                out.append({"kind": kind, "name": name, "ext": {"routine": "srt", "parameter_set": "pst",
                                                                 "table_definition": "tbd"}[kind],
                            "folder": folder or kind, "job_type": None,
                            "description": _dsx_value(rec, "Description") or ""})
    return out


def dsximport_main(argv: list[str]) -> int:
    """DSXImportService.sh -ISFile F [-ISHost H] [-ISUser U] [-ISPassword P] [-DSHost H] -DSProject P -DSXFile X
    [-Overwrite | -OverwriteReadOnly] [-Verbose] [-StopOnError] | -List -DSXFile X."""
    opts: dict = {"flags": set()}
    valued = ("-ISFile", "-ISHost", "-ISUser", "-ISPassword", "-DSHost", "-DSProject", "-DSXFile")
    i = 0
    try:
        while i < len(argv):
            if argv[i] in valued and i + 1 < len(argv):
                opts[argv[i]] = argv[i + 1]
                i += 2
            elif argv[i] in ("-Overwrite", "-OverwriteReadOnly", "-Verbose", "-StopOnError", "-List"):
                opts["flags"].add(argv[i])
                i += 1
            else:
                raise SimError("Unknown argument %s" % argv[i], 1)
        if not opts.get("-DSXFile"):
            raise SimError("-DSXFile is required", 1)
        try:
            text = Path(opts["-DSXFile"]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SimError("Cannot read %s: %s" % (opts["-DSXFile"], e), 1) from None
        found = dsx_assets(text)
        if "-List" in opts["flags"]:
            for a in found:
                print("%s %s" % (a["kind"], a["name"]))
            return 0
        if opts.get("-ISFile"):
            for line in Path(opts["-ISFile"]).read_text().splitlines():
                key, _sp, value = line.strip().partition(" ")
                opts.setdefault(key, value.strip())
        eng = check_user(opts.get("-ISUser"), opts.get("-ISPassword"), 1)
        if opts.get("-DSHost") and opts["-DSHost"].split(":")[0].upper() != eng["server"].upper():
            raise SimError("Unknown engine host %s" % opts["-DSHost"], 1)
        project = project_dir(opts.get("-DSProject") or "", 1)
        existing = {(a["kind"], a["name"].upper()) for a in assets(project)}
        drops = {f.split(":", 1)[1] for f in faults() if f.startswith("import_drops:")}
        overwrite = bool(opts["flags"] & {"-Overwrite", "-OverwriteReadOnly"})
        failed = 0
        for a in found:
            if (a["kind"], a["name"].upper()) in existing and not overwrite:
                print("Not imported (exists; -Overwrite not given): %s %s" % (a["kind"], a["name"]))
                failed += 1
                if "-StopOnError" in opts["flags"]:
                    break
                continue
            if a["name"] not in drops:
                write_asset(project, {"kind": a["kind"], "name": a["name"], "ext": a["ext"], "folder": a["folder"],
                                      "definition": definition_xml(a["kind"], a["name"], a["job_type"],
                                                                   a["description"]),
                                      "executable": None, "status": 98 if a["kind"] == "job" else None,
                                      "start_time": None})
            if "-Verbose" in opts["flags"]:
                print("Imported: %s %s" % (a["kind"], a["name"]))
        print("Items imported = %d, items not imported = %d" % (len(found) - failed, failed))
        return 1 if failed else 0
    except SimError as e:
        print("ERROR: %s" % e, file=sys.stderr)
        return e.code if e.code > 0 else 1


# ---------------------------------------------------------------- dsjob (IBM/datastage-api-sample dsjob.c)

def _ctime(iso: str) -> str:
    """C ctime() of an engine-local ISO time, without the newline ("Tue Nov  3 02:10:15 2026")."""
    return dt.datetime.fromisoformat(iso).ctime()


def dsenv_loaded() -> bool:
    """dsjob's runtime dependency (IBM): libvmdsapi.so on the library path, which ``. $DSHOME/dsenv`` sets."""
    for d in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
        if d and os.path.isfile(os.path.join(d, "libvmdsapi.so")):
            return True
    return False


def _usage() -> None:
    err = sys.stderr
    err.write("Command syntax:\n")
    err.write("\tdsjob [-domain <domain>][-server <server>][-user <user>][-password <password>]\n")
    err.write("\t\t\t<primary command> [<arguments>]\n")
    err.write("\nValid primary command options are:\n")
    for name in MAJOR:
        err.write("\t-%s\n" % name)


def _exit(result: int) -> int:
    """IBM: 0 on success; on UNIX 255 when the code is negative or greater than 254."""
    return 255 if result < 0 or result > 254 else result


def dsjob_main(argv: list[str]) -> int:
    if not dsenv_loaded():
        sys.stderr.write("dsjob: error while loading shared libraries: libvmdsapi.so: cannot open shared object "
                         "file: No such file or directory\n")
        return 127
    opts: dict = {}
    names = {"-domain": "domain", "-server": "server", "-user": "user", "-password": "password",
             "-authfile": "authfile"}
    i = 0
    while i + 1 < len(argv) and argv[i] in names:
        opts[names[argv[i]]] = argv[i + 1]
        i += 2
    rest = argv[i:]
    if not rest or not rest[0].startswith("-"):
        _usage()
        return _exit(DSJE_DSJOB_ERROR)
    if rest[0][1:] not in MAJOR:
        sys.stderr.write("Invalid/unknown primary command switch.\n")
        _usage()
        return _exit(DSJE_DSJOB_ERROR)
    cmd, args = rest[0][1:], rest[1:]
    try:
        authenticate(opts, DSJE_NOTAUTH)
        handler = {"lprojects": _lprojects, "ljobs": _ljobs, "jobinfo": _jobinfo, "logsum": _logsum}.get(cmd)
        result = handler(args) if handler else _not_simulated(cmd)
    except SimError as e:
        result = e.code
    sys.stdout.flush()
    if result != 0:
        sys.stderr.write("\nStatus code = %d\n" % result)
    return _exit(result)


def _not_simulated(cmd: str) -> int:
    sys.stderr.write("dsjob -%s is not simulated\n" % cmd)
    return DSJE_DSJOB_ERROR


def _lprojects(args: list[str]) -> int:
    if args:
        sys.stderr.write("Invalid arguments: dsjob -lproject\n")
        return DSJE_DSJOB_ERROR
    for p in sorted((home() / "projects").iterdir()):
        sys.stdout.write("%s\n" % p.name)
    return 0


def _ljobs(args: list[str]) -> int:
    if len(args) != 1:
        sys.stderr.write("Invalid arguments: dsjob -ljobs <project>\n")
        return DSJE_DSJOB_ERROR
    jobs = [a["name"] for a in assets(project_dir(args[0], DSJE_BADPROJECT)) if a["kind"] == "job"]
    sys.stdout.write("".join("%s\n" % j for j in jobs) if jobs else "<none>\n")
    return 0


def _open_job(project: str, job: str) -> dict:
    try:
        pdir = project_dir(project, DSJE_BADPROJECT)
    except SimError:
        sys.stderr.write("ERROR: Failed to open project\n")
        raise
    for a in assets(pdir):
        if a["kind"] == "job" and a["name"].upper() == job.upper():
            return a
    sys.stderr.write("ERROR: Failed to open job\n")
    raise SimError("job %s" % job, DSJE_BADJOB)


def _jobinfo(args: list[str]) -> int:
    if len(args) != 2:
        sys.stderr.write("Invalid arguments: dsjob -jobinfo <project> <job>\n")
        return DSJE_DSJOB_ERROR
    job = _open_job(args[0], args[1])
    status = int(job.get("status") if job.get("status") is not None else 99)
    runs = load_runs(args[0], job["name"])
    out = sys.stdout
    out.write("Job Status\t: %s (%d)\n" % (DSJOB_LABEL.get(status, "UNKNOWN"), status))
    out.write("Job Controller\t: not available\n")
    start = job.get("start_time")
    out.write("Job Start Time\t: %s\n" % _ctime(start) if start else "Job Start Time\t: not available\n")
    out.write("Job Wave Number\t: %d\n" % sum(1 for r in runs if r["message"].startswith("Starting Job")))
    out.write("User Status\t: not available\n")
    return 0


def _logsum(args: list[str]) -> int:
    kind, maximum, i, bad = None, 0, 0, False
    while i < len(args) and not bad and args[i][:1] in ("-", "/"):
        opt = args[i][1:]
        if i + 1 >= len(args):
            bad = True
        elif opt == "type":
            bad = args[i + 1] not in LOG_TYPES
            kind = args[i + 1]
        elif opt == "max":
            maximum = int(args[i + 1]) if args[i + 1].lstrip("-").isdigit() else 0
        else:
            bad = True
        i += 2
    if bad or len(args) - i != 2:
        err = sys.stderr
        err.write("Invalid arguments: dsjob -logsum\n")
        err.write("\t\t\t[-type <INFO | WARNING | FATAL | REJECT | STARTED | RESET | BATCH>]\n")
        err.write("\t\t\t[-max <n>]\n")
        err.write("\t\t\t<project> <job>\n")
        return DSJE_DSJOB_ERROR
    job = _open_job(args[i], args[i + 1])
    events = [e for e in load_runs(args[i], job["name"]) if kind is None or e["type"] == kind]
    if maximum > 0:
        events = events[-maximum:]
    for e in events:
        # dsjob.c: printf("%d\t", id); type; printf("\t%s", ctime(...)) - ctime ends with "\n"; printf("\t%s\n", msg)
        sys.stdout.write("%d\t%s\t%s\n\t%s\n" % (e["id"], e["type"], _ctime(e["time"]), e["message"]))
    return 0


def load_runs(project: str, job: str) -> list[dict]:
    f = home() / "runs" / project_dir(project, DSJE_BADPROJECT).name / ("%s.jsonl" % job)
    if not f.is_file():
        return []
    return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- seeding

USER, PASSWORD, SERVER = "dsadm", "sandbox-dsadm-password", "DSENGINE01"


def job_dsx(name: str, description: str, job_type: str = "3", folder: str = "\\\\Jobs\\\\Release") -> str:
    return (
        'BEGIN DSJOB\n   Identifier "%s"\n   DateModified "2026-10-01"\n   TimeModified "09.00.00"\n'
        '   BEGIN DSRECORD\n      Identifier "ROOT"\n      OLEType "CJobDefn"\n      Readonly "0"\n'
        '      Name "%s"\n      Description "%s"\n      Category "%s"\n      JobType "%s"\n'
        '   END DSRECORD\nEND DSJOB\n' % (name, name, description, folder, job_type)
    )


def write_dsenv(home_dir: Path) -> Path:
    """$DSHOME = home/DSEngine: dsenv (puts $DSHOME/lib on LD_LIBRARY_PATH) and lib/libvmdsapi.so (empty)."""
    dshome = Path(home_dir) / "DSEngine"
    (dshome / "lib").mkdir(parents=True, exist_ok=True)
    (dshome / "lib" / "libvmdsapi.so").write_bytes(b"")
    (dshome / "dsenv").write_text(
        "# dsenv of the DataStage SIMULATOR (tools/datastage_sim): what dsjob needs from the engine environment\n"
        "DSHOME=%s; export DSHOME\n"
        "LD_LIBRARY_PATH=$DSHOME/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; export LD_LIBRARY_PATH\n" % dshome)
    return dshome


def set_job(home_dir: Path, project: str, name: str, **fields: object) -> None:
    """Change fields (status, start_time, ...) of a job of the simulator's state (tests)."""
    f = Path(home_dir) / "projects" / project / "jobs" / ("%s.json" % name)
    job = json.loads(f.read_text())
    job.update(fields)
    f.write_text(json.dumps(job, indent=1, sort_keys=True))


def seed_datastage(home_dir: Path, previous_month: tuple[int, int] | None = None) -> Path:
    """A fresh simulator state: engine DSENGINE01, projects STATPRJ (LoadSales RUN OK, CheckDates RUN FAILED, with
    run history) and STATDEV (no jobs: dsjob -ljobs prints <none>), the engine environment (DSEngine/dsenv) and an
    authfile (home/authfile, 0600). ``previous_month`` (year, month) dates the run history (default: the month
    before today, UTC)."""
    home_dir = Path(home_dir)
    home_dir.mkdir(parents=True, exist_ok=True)
    (home_dir / "engine.json").write_text(json.dumps(
        {"server": SERVER, "domain": "127.0.0.1:9443", "user": USER, "password": PASSWORD}, indent=1))
    auth = home_dir / "authfile"
    auth.write_text("domain=127.0.0.1:9443\nserver=%s\nuser=%s\npassword=%s\n" % (SERVER, USER, PASSWORD))
    auth.chmod(0o600)
    write_dsenv(home_dir)
    for p in ("STATPRJ", "STATDEV"):
        (home_dir / "projects" / p / "jobs").mkdir(parents=True, exist_ok=True)
    if previous_month is None:
        first = dt.datetime.now(dt.UTC).date().replace(day=1)
        last = first - dt.timedelta(days=1)
        previous_month = (last.year, last.month)
    y, m = previous_month
    project = home_dir / "projects" / "STATPRJ"
    plan = {"LoadSales": ("Load sales (R2026-10)", 1, [(3, "INFO"), (5, "WARNING"), (20, "INFO")]),
            "CheckDates": ("Check non-existent dates", 3, [(10, "INFO"), (24, "FATAL")])}
    runs = home_dir / "runs" / "STATPRJ"
    runs.mkdir(parents=True, exist_ok=True)
    for job, (desc, status, days) in plan.items():
        lines, n, last_start = [], 0, None
        older = dt.date(y, m, 1) - dt.timedelta(days=5)  # one run of the month before: outside the period
        for day, kind in [((older.year, older.month, older.day), "INFO")] + [((y, m, d), k) for d, k in days]:
            start = dt.datetime(*day, 1, 0, 0)
            last_start = start
            for typ, msg in (("STARTED", "Starting Job %s." % job), (kind, "%s: sample event" % job),
                             ("STARTED", "Finished Job %s." % job)):
                n += 1
                lines.append(json.dumps({"id": n, "type": typ, "time": (start + dt.timedelta(seconds=n)).isoformat(),
                                         "message": msg}))
        (runs / ("%s.jsonl" % job)).write_text("\n".join(lines) + "\n")
        write_asset(project, {"kind": "job", "name": job, "ext": "pjb", "folder": "Jobs/Release",
                              "definition": definition_xml("job", job, "Parallel", desc,
                                                           "2026-10-01T00:00:00.000+0000"),
                              "executable": job_dsx(job, desc), "status": status,
                              "start_time": last_start.isoformat() if last_start else None})
    return home_dir
