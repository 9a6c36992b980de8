# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""DataStage release packages (.dsx text exports and .isx archives): parse, list, validate, convert (STAT-015).

Formats (what we rely on; see roles/datastage/README.md for the assumptions):

.dsx - the text export of the DataStage Designer / dscmdexport:
  BEGIN HEADER ... END HEADER                       (CharacterSet, ExportingTool, ServerName, ToolInstanceID ...)
  BEGIN DSJOB / Identifier "Name" ... END DSJOB     one job; its ROOT DSRECORD carries JobType
                                                    ("0" server, "2" sequence, "3" parallel)
  BEGIN DSSHAREDCONTAINER / Identifier "Name" ... END DSSHAREDCONTAINER
  BEGIN DSROUTINES / BEGIN DSRECORD / Identifier "Folder\\Name" ... END DSROUTINES
  BEGIN DSPARAMSETS / BEGIN DSRECORD / Identifier "Name" ... END DSPARAMSETS
  Other sections (DSTABLEDEFS, DSSTAGETYPES, DSDATATYPES ...) are accepted and not imported by name.

.isx - the archive of `istool export`: a ZIP file with META-INF/IS-MANIFEST.MF and one entry per asset.
  IBM does not publish the manifest's content; this project writes and reads a JAR-style manifest:
    Manifest-Version: 1.0            main section, then one blank-line separated section per asset:
    IS-Version: 11.7
    Source-Host: DSENGINE01
    Source-Project: STATPRJ

    Name: Jobs/Release/LoadSales.pjb  the ZIP entry holding the asset's definition (a .dsx fragment)
    Asset-Type: job                   job | parameter_set | routine | shared_container
    Asset-Name: LoadSales
    SHA-256: <hex of the entry>
  Asset file extensions follow istool's DataStage asset paths: .pjb parallel job, .sjb server job, .qjb sequence
  job, .pst parameter set, .srt routine, .psc shared container.

Identifiers: a letter first, then letters, digits or underscores, at most 255 characters (the rule the Designer
applies to job names; we apply it to every asset name).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile

MANIFEST = "META-INF/IS-MANIFEST.MF"
MAX_IDENTIFIER = 255
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
KINDS = ("parameter_set", "routine", "shared_container", "job")  # import order: dependencies first
JOB_TYPES = {"0": ("server", "sjb"), "2": ("sequence", "qjb"), "3": ("parallel", "pjb")}
EXT = {"parameter_set": "pst", "routine": "srt", "shared_container": "psc"}
FOLDER = {"job": "Jobs", "parameter_set": "Parameter Sets", "routine": "Routines",
          "shared_container": "Shared Containers"}
MAX_PACKAGE_BYTES = 64 * 1024 * 1024


class PackageError(Exception):
    """The package is not a valid .dsx / .isx, is empty or names an invalid identifier."""


def sha256_text(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_identifier(name, kind="asset"):
    """Raise PackageError unless ``name`` is a valid DataStage identifier."""
    if not name or len(name) > MAX_IDENTIFIER or not IDENTIFIER.match(name):
        raise PackageError(
            "%s name %r is not a valid DataStage identifier (a letter first, then letters, digits or underscores,"
            " at most %d characters)" % (kind.replace("_", " "), name, MAX_IDENTIFIER)
        )
    return name


def _identifier(lines):
    for line in lines:
        m = re.match(r'^\s*Identifier\s+"(.*)"\s*$', line)
        if m:
            return m.group(1)
    return None


def _field(lines, key):
    for line in lines:
        m = re.match(r'^\s*%s\s+"(.*)"\s*$' % re.escape(key), line)
        if m:
            return m.group(1)
    return None


def _blocks(lines, start):
    """Top-level BEGIN X ... END X blocks from line ``start``: list of (section, lines including BEGIN/END)."""
    out, i = [], start
    while i < len(lines):
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        m = re.match(r"^BEGIN\s+([A-Z]+)$", line)
        if not m:
            raise PackageError("line %d: expected BEGIN <section>, found %r" % (i + 1, line[:60]))
        section, depth, j = m.group(1), 0, i
        while j < len(lines):
            s = lines[j].strip()
            if re.match(r"^BEGIN\s+[A-Z]+$", s):
                depth += 1
            elif re.match(r"^END\s+[A-Z]+$", s):
                depth -= 1
                if depth == 0:
                    if s != "END " + section:
                        raise PackageError("line %d: %s closes BEGIN %s" % (j + 1, s, section))
                    break
            j += 1
        else:
            raise PackageError("BEGIN %s at line %d is never closed" % (section, i + 1))
        out.append((section, lines[i : j + 1]))
        i = j + 1
    return out


def _records(block):
    """DSRECORD sub-blocks of a DSROUTINES / DSPARAMSETS section."""
    inner = _blocks(block[1:-1], 0)
    return [b for s, b in inner if s == "DSRECORD"]


def _asset(kind, name, text, job_type=None, category=None):
    if kind == "job":
        label, ext = JOB_TYPES.get(job_type or "3", ("parallel", "pjb"))
    else:
        label, ext = None, EXT[kind]
    folder = re.sub(r"\\+", "/", category or "").strip("/") or FOLDER[kind]
    return dict(kind=kind, name=name, job_type=label, ext=ext, folder=folder, path="%s/%s.%s" % (folder, name, ext),
                text=text, sha256=sha256_text(text))


def parse_dsx_text(text):
    """Header dict and asset list of a .dsx export (raises PackageError)."""
    if "\x00" in text:
        raise PackageError("not a .dsx text export (binary content)")
    lines = text.replace("\r\n", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != "BEGIN HEADER":
        raise PackageError("not a .dsx export: it must start with BEGIN HEADER")
    blocks = _blocks(lines, first)
    header_lines = blocks[0][1]
    header = {}
    for line in header_lines[1:-1]:
        m = re.match(r'^\s*(\w+)\s+"(.*)"\s*$', line)
        if m:
            header[m.group(1)] = m.group(2)
    assets = []
    for section, block in blocks[1:]:
        body = "\n".join(block) + "\n"
        if section == "DSJOB":
            name = _identifier(block[1:])
            check_identifier(name, "job")
            assets.append(_asset("job", name, body, _field(block, "JobType"), _field(block, "Category")))
        elif section == "DSSHAREDCONTAINER":
            name = _identifier(block[1:])
            check_identifier(name, "shared_container")
            assets.append(_asset("shared_container", name, body, category=_field(block, "Category")))
        elif section in ("DSROUTINES", "DSPARAMSETS"):
            kind = "routine" if section == "DSROUTINES" else "parameter_set"
            for rec in _records(block):
                ident = _identifier(rec) or ""
                folder, _sep, name = ident.rpartition("\\")
                check_identifier(name, kind)
                rec_text = "BEGIN %s\n%s\nEND %s\n" % (section, "\n".join(rec), section)
                assets.append(_asset(kind, name, rec_text, category=folder or None))
        elif section == "HEADER":
            raise PackageError("a second BEGIN HEADER")
    return header, assets


def parse_isx_bytes(data):
    """Header dict and asset list of an .isx archive (raises PackageError)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise PackageError("not an .isx archive (not a ZIP file)") from None
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            raise PackageError("not an .isx archive: %s is missing" % MANIFEST)
        text = zf.read(MANIFEST).decode("utf-8").replace("\r\n", "\n")
        sections = [s for s in re.split(r"\n\s*\n", text) if s.strip()]
        main = _manifest_section(sections[0]) if sections else {}
        if "Manifest-Version" not in main:
            raise PackageError("not an .isx archive: %s has no Manifest-Version" % MANIFEST)
        header = {"ServerName": main.get("Source-Host", ""), "ToolInstanceID": main.get("Source-Project", ""),
                  "ServerVersion": main.get("IS-Version", "")}
        assets = []
        for sec in sections[1:]:
            entry = _manifest_section(sec)
            name, kind, path = entry.get("Asset-Name"), entry.get("Asset-Type"), entry.get("Name")
            if kind not in KINDS or not path:
                raise PackageError("manifest section %r: Name and Asset-Type (%s) are required"
                                   % (sec[:40], "|".join(KINDS)))
            check_identifier(name, kind)
            if path not in names:
                raise PackageError("manifest names %s, which is not in the archive" % path)
            text = zf.read(path).decode("utf-8")
            if entry.get("SHA-256") and entry["SHA-256"] != sha256_text(text):
                raise PackageError("%s: SHA-256 differs from the manifest" % path)
            _h, inner = parse_dsx_text("BEGIN HEADER\nEND HEADER\n" + text)
            if len(inner) != 1 or inner[0]["name"] != name or inner[0]["kind"] != kind:
                raise PackageError("%s does not hold the %s %s the manifest names" % (path, kind, name))
            asset = inner[0]
            folder, _sep, _file = path.rpartition("/")
            asset.update(path=path, folder=folder)
            assets.append(asset)
    return header, assets


def _manifest_section(text):
    out = {}
    for line in text.split("\n"):
        if ":" in line:
            key, _sep, value = line.partition(":")
            out[key.strip()] = value.strip()
    return out


def parse_package(path):
    """``{format, header, assets}`` of a .dsx or .isx file; every asset name validated, duplicates refused."""
    lower = path.lower()
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PACKAGE_BYTES + 1)
    except OSError as e:
        raise PackageError("cannot read the package %s: %s" % (path, e.strerror)) from None
    if len(data) > MAX_PACKAGE_BYTES:
        raise PackageError("the package is larger than %d bytes" % MAX_PACKAGE_BYTES)
    if lower.endswith(".isx"):
        fmt, (header, assets) = "isx", parse_isx_bytes(data)
    elif lower.endswith(".dsx"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise PackageError("not a .dsx text export (not UTF-8 text)") from None
        fmt, (header, assets) = "dsx", parse_dsx_text(text)
    else:
        raise PackageError("the package must be a .dsx or .isx file: %s" % path)
    if not assets:
        raise PackageError("the package holds no job, parameter set, routine or shared container")
    seen = set()
    for a in assets:
        key = (a["kind"], a["name"].upper())  # DataStage names are case-insensitive within a project
        if key in seen:
            raise PackageError("%s %s appears twice in the package" % (a["kind"].replace("_", " "), a["name"]))
        seen.add(key)
    assets.sort(key=lambda a: (KINDS.index(a["kind"]), a["name"]))
    return dict(format=fmt, header=header, assets=assets)


def summary(assets):
    """Names per kind: {jobs: [...], parameter_sets: [...], routines: [...], shared_containers: [...]}."""
    return {k + "s": [a["name"] for a in assets if a["kind"] == k] for k in KINDS}


def manifest_text(assets, host="", project="", created_by="ops-driver datastage_package"):
    parts = ["Manifest-Version: 1.0\nCreated-By: %s\nIS-Version: 11.7\nSource-Host: %s\nSource-Project: %s\n"
             % (created_by, host, project)]
    for a in assets:
        parts.append("Name: %s\nAsset-Type: %s\nAsset-Name: %s\nSHA-256: %s\n"
                     % (a["path"], a["kind"], a["name"], a["sha256"]))
    return "\n".join(parts)


def write_isx(assets, dest, host="", project=""):
    """Write ``assets`` (parsed) as an .isx archive at ``dest`` (dependencies first)."""
    ordered = sorted(assets, key=lambda a: (KINDS.index(a["kind"]), a["name"]))
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, manifest_text(ordered, host, project))
        for a in ordered:
            zf.writestr(a["path"], a["text"])
    return dest
