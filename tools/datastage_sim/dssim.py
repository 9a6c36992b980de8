# ruff: noqa: UP031 - %-formatting, like the Ansible modules of this project
"""SIMULATOR of IBM InfoSphere DataStage 11.x command line tools (istool, dsjob) - sandbox and tests only.

Not used by any production code path: the inventory of the sandbox points datastage_istool /
datastage_dsjob at tools/datastage_sim/istool and tools/datastage_sim/dsjob. See README.md here for the
IBM documentation each behaviour follows and what is approximated.

State: the folder named by the environment variable DSSIM_HOME:
  engine.json                         {"server": "DSENGINE01", "domain": "127.0.0.1:9443",
                                       "user": "dsadm", "password": "..."}
  projects/<PROJECT>/<kind>/<Name>.json  one asset: kind, name, path (folder/Name.ext in istool asset paths),
                                       definition (the asset's .dsx fragment), sha256, status
  runs/<PROJECT>/<Job>.jsonl          run log events (dsjob -logsum): {"id", "type", "time", "message"}
Faults (DSSIM_FAULT, comma separated): export_no_archive - istool export exits 0 without writing the archive;
import_drops:<Name> - istool import reports success but skips that asset; engine_down - every command fails
as if the engine did not answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shlex
import sys
import zipfile
from pathlib import Path

MANIFEST = "META-INF/IS-MANIFEST.MF"
KIND_DIRS = {"job": "jobs", "parameter_set": "parametersets", "routine": "routines",
             "shared_container": "sharedcontainers"}
EXT_KIND = {"pjb": "job", "sjb": "job", "qjb": "job", "pst": "parameter_set", "srt": "routine",
            "psc": "shared_container"}
# dsjob status codes used here (DSJE_* of the DataStage API; see README.md for which are approximated)
DSJE_BADPROJECT = -1002
DSJE_BADJOB = -1004
DSJE_NOTAUTH = -1008
DSJE_ENGINE = -99
DSJOB_STATUS = {1: "RUN OK", 2: "RUN with WARNINGS", 3: "RUN FAILED", 99: "NOT RUNNING", 98: "NOT COMPILED"}


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


def authenticate(opts: dict[str, str], code: int) -> dict[str, str]:
    eng = engine()
    creds = read_authfile(opts["authfile"]) if opts.get("authfile") else {}
    user = opts.get("user") or creds.get("user")
    password = opts.get("password") or creds.get("password")
    if not user or not password:
        raise SimError("A user name and password are required (-authfile, or -user and -password)", code)
    if user != eng["user"] or password != eng["password"]:
        raise SimError("Failed to authenticate the current user against the selected Domain: "
                       "Invalid user name (%s) or password." % user, code)
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
    tmp = d / (".%s.tmp" % asset["name"])
    tmp.write_text(json.dumps(asset, indent=1, sort_keys=True))
    os.replace(tmp, d / ("%s.json" % asset["name"]))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_sections(text: str) -> list[dict[str, str]]:
    out = []
    for sec in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        d = {}
        for line in sec.split("\n"):
            if ":" in line:
                k, _s, v = line.partition(":")
                d[k.strip()] = v.strip()
        if d:
            out.append(d)
    return out


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
    with zf:
        sections = manifest_sections(zf.read(MANIFEST).decode("utf-8"))[1:]
        existing = {(a["kind"], a["name"].upper()) for a in assets(project)}
        conflicts = [s["Asset-Name"] for s in sections if (s["Asset-Type"], s["Asset-Name"].upper()) in existing]
        if conflicts and not opts["replace"]:
            for name in conflicts:
                print("ERROR: %s already exists in %s; use -replace to overwrite" % (name, proj), file=sys.stderr)
            return 2  # partial failure: nothing imported by the simulator
        for s in sections:
            state = "replace" if (s["Asset-Type"], s["Asset-Name"].upper()) in existing else "new"
            if opts["preview"]:
                print("Preview: %s/%s/%s (%s)" % (host, proj, s["Name"], state))
                continue
            if s["Asset-Name"] in drops:
                print("Imported: %s/%s/%s" % (host, proj, s["Name"]))  # the fault: reported, not done
                continue
            text = zf.read(s["Name"]).decode("utf-8")
            write_asset(project, {"kind": s["Asset-Type"], "name": s["Asset-Name"], "path": s["Name"],
                                  "definition": text, "sha256": _sha(text), "status": 99})
            print("Imported: %s/%s/%s" % (host, proj, s["Name"]))
    print("Total assets: %d" % len(sections))
    return 0


def istool_export(opts: dict) -> int:
    eng = authenticate(opts, 1)
    selected, host, proj = [], None, None
    for path in ds_paths(opts["datastage"]):
        parts = path.split("/")
        if len(parts) < 3:
            raise SimError("Asset path %s: \"HOST/PROJECT/FOLDER/NAME.TYPE\" expected" % path, 11)
        host, proj, pattern = parts[0], parts[1], "/".join(parts[2:])
        if host.upper() != eng["server"].upper():
            raise SimError("Unknown engine host %s" % host, 1)
        project = project_dir(proj, 1)
        rx = re.compile("^" + ".*".join(re.escape(x) for x in pattern.split("*")) + "$", re.IGNORECASE)
        selected += [a for a in assets(project) if rx.match(a["path"]) and a not in selected]
    if "export_no_archive" in faults():
        print("Export completed: %d assets" % len(selected))
        return 0
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        head = ("Manifest-Version: 1.0\nCreated-By: istool (dssim)\nIS-Version: 11.7\n"
                "Source-Host: %s\nSource-Project: %s\n") % (
            eng["server"], proj or "")
        secs = ["Name: %s\nAsset-Type: %s\nAsset-Name: %s\nSHA-256: %s\n"
                % (a["path"], a["kind"], a["name"], a["sha256"])
                for a in selected]
        zf.writestr(MANIFEST, "\n".join([head, *secs]))
        for a in selected:
            zf.writestr(a["path"], a["definition"])
    Path(opts["archive"]).write_bytes(buf.getvalue())
    print("Export completed: %d assets" % len(selected))
    return 0


def istool_main(argv: list[str]) -> int:
    try:
        cmd, opts = parse_istool(argv)
        return istool_import(opts) if cmd == "import" else istool_export(opts)
    except SimError as e:
        print("ERROR: %s" % e, file=sys.stderr)
        return e.code if e.code > 0 else 1


# ---------------------------------------------------------------- dsjob

def dsjob_main(argv: list[str]) -> int:
    opts: dict = {}
    names = {"-domain": "domain", "-user": "user", "-password": "password", "-server": "server",
             "-authfile": "authfile"}
    i = 0
    while i < len(argv) and argv[i] in names and i + 1 < len(argv):
        opts[names[argv[i]]] = argv[i + 1]
        i += 2
    rest = argv[i:]
    try:
        if not rest:
            raise SimError("Invalid arguments: no command", -3)
        authenticate(opts, DSJE_NOTAUTH)
        cmd, args = rest[0], rest[1:]
        if cmd == "-lprojects" and not args:
            for p in sorted((home() / "projects").iterdir()):
                print(p.name)
        elif cmd == "-ljobs" and len(args) == 1:
            project = project_dir(args[0], DSJE_BADPROJECT)
            for a in assets(project):
                if a["kind"] == "job":
                    print(a["name"])
        elif cmd == "-jobinfo" and len(args) == 2:
            job = find_job(args[0], args[1])
            status = int(job.get("status", 99))
            runs = load_runs(args[0], job["name"])
            print("Job Status\t: %s (%d)" % (DSJOB_STATUS.get(status, "NOT RUNNING"), status))
            print("Job Controller\t: not available")
            print("Job Start Time\t: %s" % (runs[-1]["time"] if runs else "Not available"))
            print("Job Wave Number\t: %d" % sum(1 for r in runs if r["type"] == "STARTED"))
            print("User Status\t: not available")
            print("Job Control\t: 0")
            print("Interim Status\t: NOT RUNNING (99)")
            print("Invocation ID\t: not available")
            print("Last Run Time\t: %s" % (runs[-1]["time"] if runs else "Not available"))
            print("Job Process ID\t: 0")
            print("Invocation List\t: %s" % job["name"])
            print("Job Restartable\t: 0")
        elif cmd == "-logsum":
            kw, j = {"type": None, "max": None}, 0
            while j < len(args) and args[j] in ("-type", "-max") and j + 1 < len(args):
                kw[args[j][1:]] = args[j + 1]
                j += 2
            if len(args) - j != 2:
                raise SimError("Invalid arguments: -logsum [-type type] [-max n] project job", -3)
            job = find_job(args[j], args[j + 1])
            events = [e for e in load_runs(args[j], job["name"]) if not kw["type"] or e["type"] == kw["type"]]
            if kw["max"]:
                events = events[-int(kw["max"]):]
            for e in events:
                print("%d\t%s\t%s\t%s" % (e["id"], e["type"], e["time"], e["message"]))
        else:
            raise SimError("Invalid arguments: %s" % " ".join(rest), -3)
    except SimError as e:
        print("ERROR: %s" % e, file=sys.stderr)
        print("\nStatus code = %d" % e.code, file=sys.stderr)
        return (e.code & 0xFF) or 1
    print("\nStatus code = 0", file=sys.stderr)
    return 0


def find_job(project: str, name: str) -> dict:
    for a in assets(project_dir(project, DSJE_BADPROJECT)):
        if a["kind"] == "job" and a["name"].upper() == name.upper():
            return a
    raise SimError("Job %s not found in project %s" % (name, project), DSJE_BADJOB)


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


def seed_datastage(home_dir: Path, previous_month: tuple[int, int] | None = None) -> Path:
    """A fresh simulator state: engine DSENGINE01, projects STATPRJ (two jobs with run history) and STATDEV (empty),
    and an authfile (home/authfile, 0600). ``previous_month`` (year, month) dates the run history (default: the
    month before today, UTC)."""
    home_dir = Path(home_dir)
    home_dir.mkdir(parents=True, exist_ok=True)
    (home_dir / "engine.json").write_text(json.dumps(
        {"server": SERVER, "domain": "127.0.0.1:9443", "user": USER, "password": PASSWORD}, indent=1))
    auth = home_dir / "authfile"
    auth.write_text("domain=127.0.0.1:9443\nserver=%s\nuser=%s\npassword=%s\n" % (SERVER, USER, PASSWORD))
    auth.chmod(0o600)
    for p in ("STATPRJ", "STATDEV"):
        (home_dir / "projects" / p / "jobs").mkdir(parents=True, exist_ok=True)
    project = home_dir / "projects" / "STATPRJ"
    for name, desc in (("LoadSales", "Load sales (R2026-10)"), ("CheckDates", "Check non-existent dates")):
        text = job_dsx(name, desc)
        write_asset(project, {"kind": "job", "name": name, "path": "Jobs/Release/%s.pjb" % name,
                              "definition": text, "sha256": _sha(text), "status": 1})
    if previous_month is None:
        first = dt.datetime.now(dt.UTC).date().replace(day=1)
        last = first - dt.timedelta(days=1)
        previous_month = (last.year, last.month)
    y, m = previous_month
    runs = home_dir / "runs" / "STATPRJ"
    runs.mkdir(parents=True, exist_ok=True)
    plan = {"LoadSales": [(3, "INFO"), (5, "WARNING"), (20, "INFO")], "CheckDates": [(10, "INFO"), (24, "FATAL")]}
    for job, days in plan.items():
        lines, n = [], 0
        older = dt.date(y, m, 1) - dt.timedelta(days=5)  # one run of the month before: outside the period
        for day, kind in [((older.year, older.month, older.day), "INFO")] + [((y, m, d), k) for d, k in days]:
            stamp = "%04d-%02d-%02d 01:00" % day
            for typ, msg in (("STARTED", "Starting Job %s." % job), (kind, "%s: sample event" % job),
                             ("STARTED", "Finished Job %s." % job)):
                n += 1
                lines.append(json.dumps({"id": n, "type": typ, "time": stamp + ":%02d" % n, "message": msg}))
        (runs / ("%s.jsonl" % job)).write_text("\n".join(lines) + "\n")
    return home_dir
